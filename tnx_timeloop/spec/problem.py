"""The workload: a Timeloop problem shape (dimensions, data-spaces, projections) and its instance.

A problem is an einsum-like loop nest: every point of the operation space (the
product of the dimension bounds) is one multiply-accumulate; each data-space
(tensor) is indexed by affine projections of the operation-space point, e.g. the
convolution input ``W = P*Wstride + R*Wdilation``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Any

import numpy as np

from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.spec._read import Collector, Node, to_int

__all__ = [
    "ProjectionTerm",
    "DataSpace",
    "Problem",
    "parse_problem",
    "problem_to_dict",
    "load_problem_file",
]


@dataclass(frozen=True, slots=True)
class ProjectionTerm:
    """One term ``coefficient * dimension`` of a data-space index expression.

    ``coefficient`` names a problem coefficient (e.g. ``"Wstride"``); ``None`` means 1.
    """

    dimension: str
    coefficient: str | None = None


@dataclass(frozen=True, slots=True)
class DataSpace:
    """A tensor of the problem.

    Attributes
    ----------
    name : str
        Data-space name, e.g. ``"Weights"``.
    projection : tuple of tuple of ProjectionTerm
        One entry per tensor rank; the rank's index is the sum of its terms.
    read_write : bool
        True for the output (partial sums are read, updated and written back).
    """

    name: str
    projection: tuple[tuple[ProjectionTerm, ...], ...]
    read_write: bool = False

    @property
    def dimensions(self) -> tuple[str, ...]:
        """Problem dimensions this data-space depends on, in first-use order."""
        seen: dict[str, None] = {}
        for rank in self.projection:
            for term in rank:
                seen.setdefault(term.dimension, None)
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class Problem:
    """A workload: shape plus instance (bounds and coefficient values).

    Attributes
    ----------
    name : str
        Shape name (``CNN-Layer``, ``GEMM``, ...).
    dimensions : tuple of str
        Dimension names of any length, in declaration order.
    bounds : tuple of int
        Loop bound of each dimension (same order as ``dimensions``).
    coefficients : tuple of (str, int)
        Resolved coefficient values (instance value, else the shape default).
    dataspaces : tuple of DataSpace
        The tensors, in declaration order (Timeloop's order).
    """

    name: str
    dimensions: tuple[str, ...]
    bounds: tuple[int, ...]
    dataspaces: tuple[DataSpace, ...]
    coefficients: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if len(self.dimensions) != len(self.bounds):
            raise ValueError("dimensions and bounds differ in length")

    # -- lookups --------------------------------------------------------------
    @property
    def instance(self) -> dict[str, int]:
        """Bounds by dimension name."""
        return dict(zip(self.dimensions, self.bounds, strict=True))

    def bound(self, dim: str) -> int:
        """Loop bound of dimension ``dim``."""
        return self.bounds[self.dimensions.index(dim)]

    def coefficient(self, name: str | None) -> int:
        """Value of a named coefficient (``None`` is 1)."""
        if name is None:
            return 1
        return dict(self.coefficients)[name]

    def dataspace(self, name: str) -> DataSpace:
        """The data-space called ``name``."""
        for ds in self.dataspaces:
            if ds.name == name:
                return ds
        raise KeyError(name)

    @property
    def dataspace_names(self) -> tuple[str, ...]:
        return tuple(ds.name for ds in self.dataspaces)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the whole problem (product of bounds)."""
        return prod(self.bounds)

    # -- arrays used by the model ---------------------------------------------
    def projection_arrays(self) -> list[np.ndarray]:
        """Per data-space, an int64 matrix ``A`` (ranks x D) of projection coefficients.

        A data-space rank's index is ``A[rank] @ point`` for an operation point.
        """
        index = {d: i for i, d in enumerate(self.dimensions)}
        result = []
        for ds in self.dataspaces:
            a = np.zeros((len(ds.projection), len(self.dimensions)), dtype=np.int64)
            for r, rank in enumerate(ds.projection):
                for term in rank:
                    a[r, index[term.dimension]] += self.coefficient(term.coefficient)
            result.append(a)
        return result

    def relevance(self) -> np.ndarray:
        """bool (T, D): whether data-space ``t`` depends on dimension ``d``."""
        rel = np.zeros((len(self.dataspaces), len(self.dimensions)), dtype=bool)
        for t, a in enumerate(self.projection_arrays()):
            rel[t] = (a != 0).any(axis=0)
        return rel

    def dataspace_words(self, name: str) -> int:
        """Words of a whole data-space (its bounding box, as Timeloop counts it)."""
        t = self.dataspace_names.index(name)
        a = self.projection_arrays()[t]
        high = np.asarray(self.bounds, dtype=np.int64) - 1
        return int(np.prod(a.clip(min=0) @ high - (-a).clip(min=0) @ high + 1))

    def with_bounds(self, **bounds: int) -> Problem:
        """A copy with some dimension bounds changed."""
        new = list(self.bounds)
        for dim, value in bounds.items():
            new[self.dimensions.index(dim)] = int(value)
        return Problem(
            name=self.name,
            dimensions=self.dimensions,
            bounds=tuple(new),
            dataspaces=self.dataspaces,
            coefficients=self.coefficients,
        )


# ---------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------

_TERM_RE = re.compile(r"^\s*(?:(\w+)\s*\*\s*)?(\w+)\s*(?:\*\s*(\w+))?\s*$")


def _parse_rank(
    value: Any, where: Where, dims: set[str], coeffs: set[str], errors: Collector
) -> tuple[ProjectionTerm, ...]:
    """One rank of a projection: ``[[P, Wstride], [R]]``, ``[P]``, ``"P*Wstride + R"`` or ``"C"``."""
    terms: list[ProjectionTerm] = []
    if isinstance(value, str):
        raw_terms = [t for t in value.split("+")]
        for raw in raw_terms:
            m = _TERM_RE.match(raw)
            if not m:
                errors.add(where, f"cannot read projection term {raw.strip()!r}; write e.g. 'P*Wstride + R'")
                continue
            a, b, c = m.groups()
            names = [x for x in (a, b, c) if x is not None]
            dim_names = [n for n in names if n in dims]
            coef_names = [n for n in names if n not in dims]
            if len(dim_names) != 1 or len(coef_names) > 1:
                errors.add(where, f"projection term {raw.strip()!r} must be one dimension times at most one coefficient")
                continue
            coef = coef_names[0] if coef_names else None
            if coef is not None and coef not in coeffs and not coef.isdigit():
                errors.add(where, f"unknown coefficient {coef!r}; declared: {sorted(coeffs)}")
                continue
            terms.append(ProjectionTerm(dim_names[0], coef))
        return tuple(terms)
    if not isinstance(value, list) or not value:
        errors.add(where, "a projection rank must be a list of terms like [[P, Wstride], [R]] or a string")
        return ()
    items = value if isinstance(value[0], list) else [value]
    for j, term in enumerate(items):
        tw = where / j
        if not isinstance(term, list) or not 1 <= len(term) <= 2:
            errors.add(tw, f"a projection term is [dimension] or [dimension, coefficient], got {term!r}")
            continue
        dim = str(term[0])
        if dim not in dims:
            errors.add(tw, f"unknown dimension {dim!r}; problem has {sorted(dims)}")
            continue
        coef = None
        if len(term) == 2:
            coef = str(term[1])
            if coef not in coeffs:
                errors.add(tw, f"unknown coefficient {coef!r}; declared: {sorted(coeffs)}")
                continue
        terms.append(ProjectionTerm(dim, coef))
    return tuple(terms)


def parse_problem(data: Mapping[str, Any], *, where: Where | None = None) -> Problem:
    """Build a :class:`Problem` from the ``problem`` section of a Timeloop file (v0.3 or v0.4).

    Parameters
    ----------
    data : mapping
        The value of the top-level ``problem`` key (``shape`` + ``instance``).
    where : Where, optional
        Location of ``data`` for error messages.

    Raises
    ------
    SpecError
        Listing every problem found (unknown keys, a dimension missing from
        ``instance``, unknown dimensions in projections, ...).
    """
    where = where or Where(None, ("problem",))
    node = Node(data, where)
    node.check_keys({"shape", "instance", "version", "name"})
    errors = Collector()
    shape = node.child("shape")
    shape.check_keys(
        {"name", "dimensions", "coefficients", "data-spaces", "data_spaces", "dataspaces", "version"}
    )
    name = shape.str("name", default="problem")
    dims_raw = shape.list("dimensions")
    dims = tuple(str(d) for d in dims_raw)
    if not dims:
        raise_where = shape.at("dimensions")
        raise SpecError(raise_where, "a problem needs at least one dimension")
    if len(set(dims)) != len(dims):
        errors.add(shape.at("dimensions"), f"dimensions repeat: {list(dims)}")

    coeff_defaults: dict[str, int] = {}
    for i, c in enumerate(shape.list("coefficients", default=[])):
        cw = shape.at("coefficients") / i
        cn = Node(c, cw)
        try:
            cn.check_keys({"name", "default"})
            coeff_defaults[cn.str("name")] = cn.int("default", default=1)
        except SpecError as err:
            errors.extend(err)

    ds_key = shape.first_key(("data-spaces", "data_spaces", "dataspaces"))
    if ds_key is None:
        raise SpecError(shape.where, "missing key 'data-spaces'")
    dataspaces: list[DataSpace] = []
    dim_set = set(dims)
    for i, ds in enumerate(shape.list(ds_key)):
        dw = shape.at(ds_key) / i
        try:
            dn = Node(ds, dw)
            dn.check_keys({"name", "projection", "read-write", "read_write"})
            ds_name = dn.str("name")
            proj_raw = dn.raw("projection")
            if isinstance(proj_raw, str):
                proj_raw = [r for r in proj_raw.split(",")] if "," in proj_raw else [proj_raw]
            if not isinstance(proj_raw, list) or not proj_raw:
                errors.add(dn.at("projection"), "projection must be a non-empty list of ranks")
                continue
            ranks = tuple(
                _parse_rank(r, dn.at("projection") / j, dim_set, set(coeff_defaults), errors)
                for j, r in enumerate(proj_raw)
            )
            rw = dn.bool("read-write", "read_write", default=False)
            dataspaces.append(DataSpace(ds_name, ranks, rw))
        except SpecError as err:
            errors.extend(err)
    names = [d.name for d in dataspaces]
    if len(set(names)) != len(names):
        errors.add(shape.at(ds_key), f"data-space names repeat: {names}")
    if not dataspaces:
        errors.add(shape.at(ds_key), "a problem needs at least one data-space")

    inst = node.child("instance") if node.has("instance") else None
    bounds: list[int] = []
    coeff_values = dict(coeff_defaults)
    if inst is None:
        errors.add(node.where, "missing key 'instance' (the dimension bounds)")
    else:
        allowed = set(dims) | set(coeff_defaults) | {"densities"}
        # v0.4 (timeloopfe) problems may carry extra instance variables (H, W, Hpad, ...) that
        # Timeloop ignores; the classic form rejects unknown keys
        v04 = str(node.raw("version", default=shape.raw("version", default=""))).startswith("0.4")
        for key in inst.data:
            if key not in allowed and not v04:
                hint = ""
                lowered = {a.lower(): a for a in allowed}
                if str(key).lower() in lowered:
                    hint = f" (did you mean {lowered[str(key).lower()]!r}?)"
                errors.add(inst.at(key), f"unknown instance key {key!r}{hint}; dimensions and coefficients are {sorted(allowed - {'densities'})}")
        if "densities" in inst.data:
            errors.add(inst.at("densities"), "sparse densities are not modelled by tnx-timeloop (dense only); remove 'densities'")
        for d in dims:
            if d not in inst.data:
                errors.add(inst.where, f"dimension {d!r} is missing from instance; give its bound, e.g. {d}: 1")
                bounds.append(1)
                continue
            try:
                bounds.append(to_int(inst.data[d], inst.at(d), minimum=1))
            except SpecError as err:
                errors.extend(err)
                bounds.append(1)
        for c in coeff_defaults:
            if c in inst.data:
                try:
                    coeff_values[c] = to_int(inst.data[c], inst.at(c))
                except SpecError as err:
                    errors.extend(err)
    errors.raise_if_any()
    for ds in dataspaces:
        for rank in ds.projection:
            for term in rank:
                if term.coefficient is not None and term.coefficient not in coeff_values:
                    # numeric coefficient written inline ("2*P")
                    coeff_values[term.coefficient] = int(term.coefficient)
    return Problem(
        name=name,
        dimensions=dims,
        bounds=tuple(bounds),
        dataspaces=tuple(dataspaces),
        coefficients=tuple(sorted(coeff_values.items())),
    )


def problem_to_dict(problem: Problem) -> dict[str, Any]:
    """The ``problem`` section in Timeloop v3 form (round-trips through :func:`parse_problem`)."""
    values = dict(problem.coefficients)
    shape: dict[str, Any] = {"name": problem.name, "dimensions": list(problem.dimensions)}
    declared = [c for c, _ in problem.coefficients]
    if declared:
        shape["coefficients"] = [{"name": c, "default": values[c]} for c in declared]
    data_spaces = []
    for ds in problem.dataspaces:
        proj = [[[t.dimension] if t.coefficient is None else [t.dimension, t.coefficient] for t in rank] for rank in ds.projection]
        entry: dict[str, Any] = {"name": ds.name, "projection": proj}
        if ds.read_write:
            entry["read-write"] = True
        data_spaces.append(entry)
    shape["data-spaces"] = data_spaces
    instance: dict[str, int] = dict(zip(problem.dimensions, problem.bounds, strict=True))
    instance.update(values)
    return {"shape": shape, "instance": instance}


def load_problem_file(path: Path | str) -> Problem:
    """Read a problem from a YAML file holding a top-level ``problem`` key."""
    from tnx_timeloop.spec.yaml_io import load_yaml_file

    doc = load_yaml_file(path)
    if not isinstance(doc, Mapping) or "problem" not in doc:
        raise SpecError(Where(path), "expected a top-level 'problem' key")
    return parse_problem(doc["problem"], where=Where(path, ("problem",)))
