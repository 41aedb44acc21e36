"""Write specs as the YAML files Timeloop v3 reads, and read its outputs back in our names.

``timeloop-model`` and ``timeloop-mapper`` v3.0.x read the classic input form:

* architecture ``version: 0.3``: a chain of ``subtree`` nodes, one per distinct instance
  count, each with a ``local`` list of components (outermost first), instance arrays written
  ``name[0..N-1]`` and the X extent of each component as ``meshX``;
* problem: ``shape`` (dimensions, coefficients, data-spaces with projections) + ``instance``;
* mapping: ``temporal``/``spatial``/``datatype`` directives with ``"C=4 M=2"`` factors and
  permutation strings of one-letter dimensions;
* an Accelergy ``ERT`` (and ``ART``) with the per-action energies (and areas) to use, so
  Timeloop charges exactly the energies of the :class:`~tnx_timeloop.energy.tables.ArchEnergy`
  the caller chose.

Timeloop v3 dimension names are single characters (its factor and permutation strings are
read one character per dimension), so multi-letter dimensions such as ``i1`` or ``r0`` are
renamed to free letters; data-space and coefficient names that are not identifiers are
renamed too. :class:`TimeloopNames` keeps the map, and every reader here maps results back.

Notes
-----
References: Timeloop v3.0.3 ``src/model/topology.cpp`` (``ParseTreeSpecs``: the local list
top is the outermost level; ``ParseAccelergyERT``: tables matched on the name after the last
dot, ERT ``version`` 0.3/0.4 lists), ``src/model/buffer.cpp`` (``entries``/``depth``,
``block-size``, ``cluster-size``, ``meshX``) and ``include/model/topology.hpp``
(``storageOperationMappings``: ``fill`` and ``update`` fall back on ``write``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tnx_timeloop.energy.tables import ArchEnergy
from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.spec.arch import Architecture, ComputeLevel, StorageLevel
from tnx_timeloop.spec.mapping import (
    LevelMapping,
    Mapping,
    mapping_to_list,
    parse_factors,
    parse_mapping,
    parse_permutation,
)
from tnx_timeloop.spec.problem import DataSpace, Problem, ProjectionTerm, problem_to_dict
from tnx_timeloop.spec.yaml_io import dump_yaml, load_yaml_file

__all__ = [
    "TimeloopNames",
    "TimeloopInputs",
    "timeloop_names",
    "rename_problem",
    "rename_mapping",
    "architecture_to_v3",
    "problem_to_v3",
    "mapping_to_v3",
    "energy_to_ert",
    "energy_to_art",
    "constraints_to_v3",
    "write_timeloop_inputs",
    "read_map_yaml",
    "DEFAULT_MAPPER",
]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

DEFAULT_MAPPER: dict[str, Any] = {
    "optimization-metrics": ["edp"],
    "algorithm": "random-pruned",
    "victory-condition": 500,
    "timeout": 15000,
    "max-permutations-per-if-visit": 16,
    "num-threads": 1,
    "live-status": False,
    "log-stats": False,
}
"""The mapper section written when the caller gives none (Timeloop's usual settings, 1 thread)."""


# --------------------------------------------------------------------------- names


@dataclass(frozen=True, slots=True)
class TimeloopNames:
    """Our names and the names written for Timeloop, as ``(ours, timeloop)`` pairs.

    Attributes
    ----------
    dimensions : tuple of (str, str)
        Problem dimensions, in problem order.
    dataspaces : tuple of (str, str)
        Data-spaces, in problem order.
    coefficients : tuple of (str, str)
        Projection coefficients (``Wstride``...), renamed only if not identifiers.
    """

    dimensions: tuple[tuple[str, str], ...]
    dataspaces: tuple[tuple[str, str], ...]
    coefficients: tuple[tuple[str, str], ...] = ()

    @property
    def is_identity(self) -> bool:
        """Whether nothing was renamed."""
        return all(a == b for a, b in (*self.dimensions, *self.dataspaces, *self.coefficients))

    def dim(self, ours: str) -> str:
        """Timeloop name of dimension ``ours``."""
        return dict(self.dimensions)[ours]

    def dim_back(self, theirs: str) -> str:
        """Our name of Timeloop dimension ``theirs``."""
        return {b: a for a, b in self.dimensions}[theirs]

    def ds(self, ours: str) -> str:
        """Timeloop name of data-space ``ours``."""
        return dict(self.dataspaces)[ours]

    def ds_back(self, theirs: str) -> str:
        """Our name of Timeloop data-space ``theirs`` (unknown names are returned unchanged)."""
        return {b: a for a, b in self.dataspaces}.get(theirs, theirs)


def _fresh(wanted: str, used: set[str], pool: str) -> str | None:
    if wanted and wanted not in used:
        return wanted
    return next((c for c in pool if c not in used), None)


def timeloop_names(problem: Problem) -> TimeloopNames:
    """Choose Timeloop-safe names for a problem's dimensions, data-spaces and coefficients.

    One-letter dimensions keep their names; a longer name becomes its first letter in upper
    case when that letter is free, else the first free letter of ``A..Z``, ``a..z``.
    Data-space and coefficient names that are identifiers are kept; others get their
    non-identifier characters replaced by ``_`` (and a numeric suffix when taken).

    Raises
    ------
    SpecError
        When the problem has more than 52 dimensions (Timeloop v3 has one letter each).

    Examples
    --------
    >>> from tnx_timeloop.spec.problem import DataSpace, Problem, ProjectionTerm
    >>> ds = DataSpace("Z", ((ProjectionTerm("i1"),), (ProjectionTerm("r0"),)), True)
    >>> timeloop_names(Problem("tt", ("b", "i1", "r0"), (2, 3, 4), (ds,))).dimensions
    (('b', 'b'), ('i1', 'I'), ('r0', 'R'))
    """
    dims = problem.dimensions
    if len(dims) > len(_LETTERS):
        raise SpecError(
            Where(None, ("problem", "shape", "dimensions")),
            f"{len(dims)} dimensions; Timeloop v3 names each with one letter, so at most {len(_LETTERS)}",
        )
    used = {d for d in dims if len(d) == 1 and d in _LETTERS}
    dim_pairs: list[tuple[str, str]] = []
    for d in dims:
        if len(d) == 1 and d in _LETTERS:
            dim_pairs.append((d, d))
            continue
        first = d[0].upper() if d and d[0].isascii() and d[0].isalpha() else ""
        new = _fresh(first, used, _LETTERS)
        if new is None:  # pragma: no cover - excluded by the count check above
            raise SpecError(Where(None, ("problem",)), "ran out of one-letter dimension names")
        used.add(new)
        dim_pairs.append((d, new))
    return TimeloopNames(
        tuple(dim_pairs),
        _identifiers(problem.dataspace_names, prefix="T"),
        _identifiers(tuple(c for c, _ in problem.coefficients), prefix="k"),
    )


def _identifiers(names: Sequence[str], *, prefix: str) -> tuple[tuple[str, str], ...]:
    used = {n for n in names if _IDENT.match(n)}
    out = []
    for n in names:
        if _IDENT.match(n):
            out.append((n, n))
            continue
        base = re.sub(r"[^A-Za-z0-9_]", "_", n)
        base = base if base and not base[0].isdigit() else f"{prefix}{base}"
        new, i = base, 2
        while new in used:
            new, i = f"{base}_{i}", i + 1
        used.add(new)
        out.append((n, new))
    return tuple(out)


def rename_problem(problem: Problem, names: TimeloopNames) -> Problem:
    """A copy of ``problem`` with dimensions, data-spaces and coefficients renamed."""
    dim = dict(names.dimensions)
    ds_name = dict(names.dataspaces)
    coef = dict(names.coefficients)

    def term(t: ProjectionTerm) -> ProjectionTerm:
        return ProjectionTerm(dim[t.dimension], None if t.coefficient is None else coef.get(t.coefficient, t.coefficient))

    return Problem(
        name=problem.name,
        dimensions=tuple(dim[d] for d in problem.dimensions),
        bounds=problem.bounds,
        dataspaces=tuple(
            DataSpace(ds_name[ds.name], tuple(tuple(term(t) for t in rank) for rank in ds.projection), ds.read_write)
            for ds in problem.dataspaces
        ),
        coefficients=tuple(sorted((coef.get(c, c), v) for c, v in problem.coefficients)),
    )


def rename_mapping(mapping: Mapping, dimensions: MappingABC[str, str], dataspaces: MappingABC[str, str]) -> Mapping:
    """A copy of ``mapping`` with dimension and data-space names replaced (factors keep their positions)."""
    levels = tuple(
        LevelMapping(
            temporal=lv.temporal,
            temporal_residual=lv.temporal_residual,
            temporal_order=tuple(dimensions[d] for d in lv.temporal_order),
            spatial=lv.spatial,
            spatial_residual=lv.spatial_residual,
            spatial_order=tuple(dimensions[d] for d in lv.spatial_order),
            split=lv.split,
            keep=lv.keep,
        )
        for lv in mapping.levels
    )
    return Mapping(
        levels,
        tuple(dimensions[d] for d in mapping.dimensions),
        tuple(dataspaces.get(t, t) for t in mapping.dataspaces),
    )


# --------------------------------------------------------------------------- architecture


def _thaw(value: Any) -> Any:
    """Frozen attribute values (tuples of pairs) back to plain YAML data."""
    if isinstance(value, tuple):
        if value and all(isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str) for x in value):
            return {k: _thaw(v) for k, v in value}
        return [_thaw(v) for v in value]
    return value


def _storage_component(level: StorageLevel) -> dict[str, Any]:
    attrs: dict[str, Any] = {k: _thaw(v) for k, v in level.attributes}
    if level.is_dummy:
        attrs.update({"depth": 0, "word-bits": 1, "block-size": 1, "cluster-size": 1, "meshX": level.mesh_x})
        return {"name": level.name, "class": "dummy_storage", "attributes": attrs}
    attrs["word-bits"] = level.word_bits
    attrs["block-size"] = level.block_size
    attrs["cluster-size"] = level.cluster_size
    if level.width_bits is not None:
        attrs["width"] = level.width_bits
    if level.size_words is not None:
        if level.depth is not None and level.depth * level.block_size == level.size_words:
            attrs["depth"] = level.depth
        else:
            attrs["entries"] = level.size_words
    for key, value in (
        ("read_bandwidth", level.read_bandwidth),
        ("write_bandwidth", level.write_bandwidth),
        ("vector-access-energy", level.vector_access_energy_pj),
    ):
        if value is not None:
            attrs[key] = value
    if level.multiple_buffering != 1.0:
        attrs["multiple-buffering"] = level.multiple_buffering
    if level.min_utilization:
        attrs["min-utilization"] = level.min_utilization
    attrs["meshX"] = level.mesh_x
    comp: dict[str, Any] = {"name": level.name, "class": level.class_name}
    if level.subclass:
        comp["subclass"] = level.subclass
    comp["attributes"] = attrs
    return comp


def _compute_component(level: ComputeLevel) -> dict[str, Any]:
    attrs: dict[str, Any] = {k: _thaw(v) for k, v in level.attributes}
    attrs["datawidth"] = level.word_bits
    if level.energy_pj is not None:
        attrs["energy"] = level.energy_pj
    attrs["meshX"] = level.mesh_x
    comp: dict[str, Any] = {"name": level.name, "class": level.class_name}
    if level.subclass:
        comp["subclass"] = level.subclass
    comp["attributes"] = attrs
    return comp


def architecture_to_v3(arch: Architecture) -> tuple[dict[str, Any], dict[str, str]]:
    """The ``architecture`` document in Timeloop v3's tree form, and each component's path.

    Consecutive levels with the same instance count share one ``subtree`` node; the root
    (named after the architecture) holds the single-instance levels, and every deeper node
    is ``tile<k>[0..n-1]`` with ``n`` the growth in instances. Every component states its
    ``meshX``, ``block-size`` and ``cluster-size`` explicitly, and its size as ``depth``
    (words per block row) or ``entries`` (words); ``inter_*_spatial`` levels become
    ``dummy_storage`` components of depth 0.

    Parameters
    ----------
    arch : Architecture
        Any architecture (v0.3 or v0.4 input).

    Returns
    -------
    document : dict
        ``{"architecture": {"version": 0.3, "subtree": [...]}}``.
    paths : dict of str to str
        Level name -> hierarchical name (``system.tile1.Buffer``), the names the ERT uses.
    """
    components: list[tuple[int, dict[str, Any], str]] = [
        (s.instances, _storage_component(s), s.name) for s in arch.storage
    ]
    components.append((arch.compute.instances, _compute_component(arch.compute), arch.compute.name))
    root_name = arch.name if _IDENT.match(arch.name) and arch.name != "architecture" else "system"
    groups: list[tuple[int, list[dict[str, Any]], list[str]]] = []
    for inst, comp, name in components:
        if groups and groups[-1][0] == inst:
            groups[-1][1].append(comp)
            groups[-1][2].append(name)
        else:
            groups.append((inst, [comp], [name]))
    paths: dict[str, str] = {}
    nodes: list[dict[str, Any]] = []
    prefix, previous = "", 1
    for k, (inst, comps, names) in enumerate(groups):
        growth = inst // previous
        base = root_name if k == 0 else f"tile{k}"
        node_name = base if growth == 1 else f"{base}[0..{growth - 1}]"
        prefix = f"{prefix}.{base}" if prefix else base
        for n in names:
            paths[n] = f"{prefix}.{n}"
        nodes.append({"name": node_name, "local": comps})
        previous = inst
    tree: dict[str, Any] = nodes[-1]
    for node in reversed(nodes[:-1]):
        node["subtree"] = [tree]
        tree = node
    return {"architecture": {"version": 0.3, "subtree": [tree]}}, paths


# --------------------------------------------------------------------------- problem & mapping


def problem_to_v3(problem: Problem, names: TimeloopNames | None = None) -> dict[str, Any]:
    """The ``problem`` document with Timeloop-safe names (see :func:`timeloop_names`)."""
    names = names or timeloop_names(problem)
    return {"problem": problem_to_dict(rename_problem(problem, names))}


def mapping_to_v3(mapping: Mapping, arch: Architecture, names: TimeloopNames) -> dict[str, Any]:
    """The ``mapping`` document: directives with renamed dimensions, one-letter permutations."""
    renamed = rename_mapping(mapping, dict(names.dimensions), dict(names.dataspaces))
    return {"mapping": mapping_to_list(renamed, arch, single_letter=True)}


# --------------------------------------------------------------------------- energy


def energy_to_ert(arch: Architecture, energy: ArchEnergy, paths: MappingABC[str, str]) -> dict[str, Any]:
    """An Accelergy ERT (version 0.4) holding exactly the energies of ``energy``.

    Storage levels get ``read`` (reads), ``write`` (fills) and, when it differs from the
    fill energy, ``update`` (Timeloop v3 looks up ``update`` before ``write`` for updates);
    the compute level gets ``mac_random``. Energies are pJ per vector access of one
    instance, written with full precision.

    Parameters
    ----------
    arch : Architecture
        The architecture ``energy`` belongs to.
    energy : ArchEnergy
        Per-action energies (pJ).
    paths : mapping of str to str
        Level name -> hierarchical name, from :func:`architecture_to_v3`.

    Returns
    -------
    dict
        ``{"ERT": {"version": "0.4", "tables": [...]}}``.
    """
    tables = []
    for level, e in zip(arch.storage, energy.storage, strict=True):
        actions = [{"name": "read", "energy": float(e.read_pj)}, {"name": "write", "energy": float(e.fill_pj)}]
        if e.update_pj != e.fill_pj:
            actions.append({"name": "update", "energy": float(e.update_pj)})
        tables.append({"name": paths[level.name], "actions": actions})
    tables.append({"name": paths[arch.compute.name], "actions": [{"name": "mac_random", "energy": float(energy.compute_pj)}]})
    return {"ERT": {"version": "0.4", "tables": tables}}


def energy_to_art(arch: Architecture, energy: ArchEnergy, paths: MappingABC[str, str]) -> dict[str, Any] | None:
    """An Accelergy ART (um^2 per instance) for the levels whose area is known, or None."""
    tables = [
        {"name": paths[level.name], "area": float(e.area_um2)}
        for level, e in zip(arch.storage, energy.storage, strict=True)
        if e.area_um2 is not None
    ]
    if energy.compute_area_um2 is not None:
        tables.append({"name": paths[arch.compute.name], "area": float(energy.compute_area_um2)})
    return {"ART": {"version": "0.4", "tables": tables}} if tables else None


# --------------------------------------------------------------------------- constraints


def _rename_directive(entry: MappingABC[str, Any], dims: Sequence[str], names: TimeloopNames, where: Where) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "factors" and value is not None:
            parsed = parse_factors(value, dims, where / "factors", allow_relations=True)
            out[key] = " ".join(
                f"{names.dim(d)}{rel}{v}" + ("" if res is None else f",{res}") for d, (rel, v, res) in parsed.items()
            )
        elif key == "permutation" and value is not None:
            out[key] = "".join(names.dim(d) for d in parse_permutation(value, dims, where / "permutation"))
        elif key in ("keep", "bypass") and value is not None:
            if isinstance(value, str) or not isinstance(value, Sequence):
                raise SpecError(where / key, f"must be a list of data-space names, got {value!r}")
            known = dict(names.dataspaces)
            bad = [v for v in value if v not in known]
            if bad:
                raise SpecError(where / key, f"unknown data-space(s) {bad}; problem has {sorted(known)}")
            out[key] = [known[v] for v in value]
        else:
            out[key] = _thaw(value)
    return out


def constraints_to_v3(
    arch: Architecture,
    problem: Problem,
    constraints: Sequence[tuple[str, Any]],
    names: TimeloopNames,
) -> dict[str, Any]:
    """Mapper constraints as Timeloop v3 ``architecture_constraints``/``mapspace_constraints``.

    Parameters
    ----------
    arch, problem
        The specs the constraints apply to (our names).
    constraints : sequence
        ``Spec.constraints``: ``(source file, (section key, {targets: [...]}))`` pairs.
    names : TimeloopNames
        Renaming to apply to factors, permutations and keep/bypass lists.

    Returns
    -------
    dict
        Top-level sections; inline v0.4 constraints of ``arch`` go to
        ``architecture_constraints``.

    Raises
    ------
    SpecError
        Naming the file and entry of an unknown dimension or data-space, or of an inline
        constraint kind Timeloop v3 has no directive for.
    """
    dims = problem.dimensions
    sections: dict[str, list[dict[str, Any]]] = {}
    for source, (key, value) in constraints:
        section = {"constraints": "architecture_constraints", "mapspace": "mapspace_constraints"}.get(key, key)
        where = Where(source, (key,))
        targets = value.get("targets") if isinstance(value, MappingABC) else value
        if not isinstance(targets, list):
            raise SpecError(where, "expected {targets: [...]} or a list of directives")
        for i, entry in enumerate(targets):
            if not isinstance(entry, MappingABC):
                raise SpecError(where / "targets" / i, "each constraint is a mapping with 'target' and 'type'")
            sections.setdefault(section, []).append(_rename_directive(entry, dims, names, where / "targets" / i))
    for i, (target, kind, value) in enumerate(arch.constraints):
        where = Where(None, ("architecture", "constraints", i))
        body = _thaw(value)
        if isinstance(body, dict) and "type" in body:
            entry = {"target": target, **body}
        elif kind in ("dataspace", "bypass"):
            entry = {"target": target, "type": "bypass", **(body or {})}
        elif kind in ("temporal", "spatial"):
            entry = {"target": target, "type": kind, **(body or {})}
        else:
            raise SpecError(where, f"inline constraint kind {kind!r} of {target!r} has no Timeloop v3 directive; "
                                   "use temporal, spatial or dataspace")
        sections.setdefault("architecture_constraints", []).append(_rename_directive(entry, dims, names, where))
    return {k: {"targets": v} for k, v in sections.items()}


# --------------------------------------------------------------------------- files


@dataclass(frozen=True, slots=True)
class TimeloopInputs:
    """Input files written for one Timeloop run.

    Attributes
    ----------
    files : tuple of Path
        In the order to pass them on the command line.
    names : TimeloopNames
        How names were changed.
    paths : dict of str to str
        Level name -> hierarchical component name.
    timeloop_problem : Problem
        The problem as written (Timeloop names), for reading outputs.
    """

    files: tuple[Path, ...]
    names: TimeloopNames
    paths: dict[str, str] = field(default_factory=dict)
    timeloop_problem: Problem | None = None


def write_timeloop_inputs(
    directory: str | Path,
    arch: Architecture,
    problem: Problem,
    mapping: Mapping | None = None,
    *,
    energy: ArchEnergy | None = None,
    constraints: Sequence[tuple[str, Any]] = (),
    mapper: MappingABC[str, Any] | None = None,
) -> TimeloopInputs:
    """Write ``arch.yaml``, ``problem.yaml`` and the optional mapping, ERT/ART, constraints and mapper.

    Parameters
    ----------
    directory : str or Path
        Existing directory to write into.
    arch, problem : Architecture, Problem
        The specs (our names).
    mapping : Mapping, optional
        For ``timeloop-model``.
    energy : ArchEnergy, optional
        Written as ``ERT.yaml`` (and ``ART.yaml`` when areas are known), so Timeloop uses
        exactly these energies.
    constraints : sequence, optional
        ``Spec.constraints`` for ``timeloop-mapper``.
    mapper : mapping, optional
        The ``mapper`` section for ``timeloop-mapper`` (:data:`DEFAULT_MAPPER` when None
        and constraints or no mapping are given).

    Returns
    -------
    TimeloopInputs
    """
    out = Path(directory)
    names = timeloop_names(problem)
    arch_doc, paths = architecture_to_v3(arch)
    docs: list[tuple[str, dict[str, Any]]] = [("arch.yaml", arch_doc), ("problem.yaml", problem_to_v3(problem, names))]
    if mapping is not None:
        docs.append(("mapping.yaml", mapping_to_v3(mapping, arch, names)))
    if constraints or arch.constraints:
        for key, value in constraints_to_v3(arch, problem, constraints, names).items():
            docs.append((f"{key}.yaml", {key: value}))
    if mapping is None or mapper is not None:
        docs.append(("mapper.yaml", {"mapper": dict(mapper) if mapper is not None else dict(DEFAULT_MAPPER)}))
    if energy is not None:
        docs.append(("ERT.yaml", energy_to_ert(arch, energy, paths)))
        art = energy_to_art(arch, energy, paths)
        if art is not None:
            docs.append(("ART.yaml", art))
    files = []
    for name, doc in docs:
        path = out / name
        path.write_text(dump_yaml(doc), encoding="utf-8")
        files.append(path)
    return TimeloopInputs(tuple(files), names, paths, rename_problem(problem, names))


def read_map_yaml(
    source: str | Path | MappingABC[str, Any] | list[Any],
    arch: Architecture,
    problem: Problem,
    names: TimeloopNames | None = None,
) -> Mapping:
    """Read a mapping Timeloop wrote (``timeloop-mapper.map.yaml``) into a :class:`Mapping` in our names.

    Parameters
    ----------
    source : path, mapping or list
        The file, or its loaded content (``{"mapping": [...]}`` or the directive list).
    arch, problem : Architecture, Problem
        The specs in our names.
    names : TimeloopNames, optional
        The renaming used when the inputs were written (default: :func:`timeloop_names`).

    Raises
    ------
    SpecError
        When the file is unreadable or the mapping does not fit the specs (naming the file
        and directive).
    """
    names = names or timeloop_names(problem)
    where = Where(source if isinstance(source, (str, Path)) else None, ("mapping",))
    data = load_yaml_file(source) if isinstance(source, (str, Path)) else source
    if isinstance(data, MappingABC):
        if "mapping" not in data:
            raise SpecError(where, "expected a top-level 'mapping' key")
        data = data["mapping"]
    theirs = parse_mapping(data, arch, rename_problem(problem, names), where=where)
    back_dims = {b: a for a, b in names.dimensions}
    back_ds = {b: a for a, b in names.dataspaces}
    return rename_mapping(theirs, back_dims, back_ds)
