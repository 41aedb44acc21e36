"""The project library: find ``arch/``, ``workloads/`` and ``mappers/``, list and summarise archs.

The library folders live at the top of the source checkout, next to the package
(they are data, not code). They are found in this order:

1. the folder named by the environment variable ``TNX_LIBRARY`` (an explicit
   setting wins, so that it also works from inside another checkout);
2. the current working directory, if it holds an ``arch/`` folder;
3. the source checkout the package was imported from (the parent of
   ``tnx_timeloop/``), which covers editable installs and running from a clone.

A folder qualifies when it holds an ``arch/`` sub-folder.

Every library architecture file starts with a header comment whose first line is
``# <name>: <one-line description>``, followed by ``Source:`` and ``Simplified:``
paragraphs; :func:`list_archs` reads the first line.

Summaries (:func:`summarize_architecture`) give what ``tnx arch check`` prints:
the levels outermost first with instances, mesh, fan-out, capacity, word size,
block size and bandwidths; peak MACs per cycle and TOPS at the clock; and the
per-action energy table from :func:`tnx_timeloop.energy.tables.select_energy`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tnx_timeloop.energy.tables import select_energy
from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.spec._read import Node
from tnx_timeloop.spec.arch import Architecture, parse_architecture
from tnx_timeloop.spec.problem import Problem, parse_problem
from tnx_timeloop.spec.yaml_io import load_yaml_file

__all__ = [
    "ENV_VAR",
    "ArchEntry",
    "library_root",
    "library_candidates",
    "arch_dir",
    "workloads_dir",
    "mappers_dir",
    "list_archs",
    "find_arch",
    "find_workload",
    "NetworkLayer",
    "Network",
    "load_network",
    "with_batch",
    "header_lines",
    "header_description",
    "load_any_architecture",
    "clock_hz_of",
    "on_chip_kib",
    "summarize_architecture",
    "summarize_file",
]

ENV_VAR = "TNX_LIBRARY"
_KINDS = ("single-core", "multi-core")


@dataclass(frozen=True, slots=True)
class ArchEntry:
    """One architecture file of the library.

    Attributes
    ----------
    name : str
        File stem, e.g. ``"eyeriss"``; what ``tnx arch check NAME`` accepts.
    kind : str
        ``"single-core"`` or ``"multi-core"`` (the sub-folder of ``arch/``).
    path : Path
        The YAML file.
    description : str
        The one-line description from the file's header comment.
    template : bool
        Whether the file is a Jinja template (holds ``{{``/``{%``).
    """

    name: str
    kind: str
    path: Path
    description: str
    template: bool


def library_candidates(*, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> list[Path]:
    """Folders that may hold the library, in search order (see the module docstring).

    Parameters
    ----------
    cwd : Path, optional
        Working directory to try (default: :func:`Path.cwd`).
    env : mapping, optional
        Environment to read ``TNX_LIBRARY`` from (default: ``os.environ``).
    """
    env = os.environ if env is None else env
    out: list[Path] = []
    if env.get(ENV_VAR):
        out.append(Path(env[ENV_VAR]).expanduser())
    out.append(Path.cwd() if cwd is None else Path(cwd))
    out.append(Path(__file__).resolve().parent.parent)
    return out


def library_root(*, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The library folder (the one holding ``arch/``).

    Raises
    ------
    SpecError
        When no candidate holds an ``arch/`` folder, or ``TNX_LIBRARY`` names a folder without one.
    """
    env = os.environ if env is None else env
    candidates = library_candidates(cwd=cwd, env=env)
    if env.get(ENV_VAR) and not (candidates[0] / "arch").is_dir():
        raise SpecError(
            Where(candidates[0]),
            f"{ENV_VAR} names a folder without an 'arch/' sub-folder; point it at a tnx-timeloop checkout",
        )
    for cand in candidates:
        if (cand / "arch").is_dir():
            return cand.resolve()
    tried = ", ".join(str(c) for c in candidates)
    raise SpecError(
        Where(None),
        f"cannot find the tnx library (a folder holding arch/ and workloads/); tried {tried}. "
        f"Run from a tnx-timeloop checkout or set {ENV_VAR}=/path/to/checkout",
    )


def arch_dir(root: Path | None = None) -> Path:
    """The ``arch/`` folder of the library."""
    return (root or library_root()) / "arch"


def workloads_dir(root: Path | None = None) -> Path:
    """The ``workloads/`` folder of the library."""
    return (root or library_root()) / "workloads"


def mappers_dir(root: Path | None = None) -> Path:
    """The ``mappers/`` folder of the library."""
    return (root or library_root()) / "mappers"


def header_lines(path: Path) -> list[str]:
    """The leading comment block of a YAML file, without the ``#`` markers.

    Blank lines before the first comment are skipped; the block ends at the first
    line that is not a comment.
    """
    lines: list[str] = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return lines
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped and not lines:
            continue
        if not stripped.startswith("#"):
            break
        lines.append(stripped[1:].strip())
    return lines


def header_description(path: Path) -> str:
    """The one-line description of a library file (its first header line minus ``name:``)."""
    lines = header_lines(path)
    if not lines:
        return ""
    first = lines[0]
    stem = Path(path).stem
    prefix = f"{stem}:"
    return first[len(prefix):].strip() if first.startswith(prefix) else first


def list_archs(root: Path | None = None) -> tuple[ArchEntry, ...]:
    """Every architecture of the library, single-core first, by name.

    Notes
    -----
    Only ``arch/single-core/*.yaml`` and ``arch/multi-core/*.yaml`` are listed;
    ``arch/components/`` holds Accelergy classes, not architectures.
    """
    base = arch_dir(root)
    out: list[ArchEntry] = []
    for kind in _KINDS:
        folder = base / kind
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.yaml")):
            text = path.read_text(encoding="utf-8")
            out.append(
                ArchEntry(
                    name=path.stem,
                    kind=kind,
                    path=path,
                    description=header_description(path),
                    template="{{" in text or "{%" in text,
                )
            )
    return tuple(out)


def find_arch(name: str | Path, root: Path | None = None) -> Path:
    """Resolve an architecture given as a path or a library name (``eyeriss``, ``multi-core/big-little``).

    Raises
    ------
    SpecError
        When ``name`` is neither an existing file nor a library name; the message lists the names.
    """
    p = Path(name)
    if p.exists():
        return p
    key = str(name).removesuffix(".yaml")
    entries = list_archs(root)
    matches = [e.path for e in entries if key in (e.name, f"{e.kind}/{e.name}")]
    if len(matches) == 1:
        return matches[0]
    names = sorted(e.name for e in entries)
    raise SpecError(Where(p), f"no such file or library architecture; library names are {names}")


def find_workload(name: str | Path, root: Path | None = None) -> Path:
    """Resolve a workload given as a path or as a path relative to ``workloads/`` (``.yaml`` optional).

    Raises
    ------
    SpecError
        When nothing matches.
    """
    p = Path(name)
    if p.exists():
        return p
    base = workloads_dir(root)
    for cand in (base / p, base / f"{p}.yaml"):
        if cand.exists():
            return cand
    raise SpecError(Where(p), f"no such file, nor under {base}")


# ---------------------------------------------------------------------------
# networks
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NetworkLayer:
    """One layer of a network: a Timeloop problem run ``count`` times.

    Attributes
    ----------
    name : str
        Layer name (e.g. ``"CONV2"``).
    path : Path
        The problem file.
    count : int
        How many times the layer runs per network pass (identical layers, groups).
    problem : Problem
        The parsed problem (with the network's batch applied, if it sets one).
    """

    name: str
    path: Path
    count: int
    problem: Problem


@dataclass(frozen=True, slots=True)
class Network:
    """A network: layers in execution order.

    Attributes
    ----------
    name : str
        Network name.
    layers : tuple of NetworkLayer
        The layers.
    batch : int or None
        The batch size the network file sets on every layer (``N``), if any.
    """

    name: str
    layers: tuple[NetworkLayer, ...]
    batch: int | None = None

    @property
    def macs(self) -> int:
        """MACs of one pass over all layers (counts included)."""
        return sum(layer.count * layer.problem.macs for layer in self.layers)


def with_batch(problem: Problem, batch: int, where: Where) -> Problem:
    """``problem`` with its batch dimension ``N`` set to ``batch``.

    Raises
    ------
    SpecError
        When the problem has no dimension ``N``.
    """
    from dataclasses import replace

    if "N" not in problem.dimensions:
        raise SpecError(where, f"a batch needs a dimension 'N'; the problem has {list(problem.dimensions)}")
    bounds = tuple(batch if d == "N" else b for d, b in zip(problem.dimensions, problem.bounds, strict=True))
    return replace(problem, bounds=bounds)


def _load_problem(path: Path, where: Where) -> Problem:
    doc = load_yaml_file(path)
    if not isinstance(doc, Mapping) or "problem" not in doc:
        raise SpecError(where, f"{path} has no top-level 'problem' key; a layer file is a Timeloop problem")
    return parse_problem(doc["problem"], where=Where(path, ("problem",)))


def load_network(path: Path | str, *, batch: int | None = None) -> Network:
    """Read a network: a ``network.yaml`` (or any file with a ``network`` key), or a folder.

    A network file lists its layer files (relative to it) with repeat counts::

        network:
          name: alexnet
          batch: 4                       # optional: sets N of every layer
          layers:
            - {name: CONV1, file: conv1.yaml, count: 1}
            - {name: CONV2, file: conv2.yaml, count: 2}

    A folder is read through its ``network.yaml`` if it has one; otherwise every
    ``*.yaml`` in it is a layer, once, in name order.

    Parameters
    ----------
    path : Path or str
        The network file or folder (or a path relative to ``workloads/``).
    batch : int, optional
        Overrides the batch size ``N`` of every layer (and the file's ``batch``).

    Raises
    ------
    SpecError
        Naming the file and key for unknown keys, missing layer files, counts below 1,
        or a batch on a problem without ``N``.
    """
    p = find_workload(path)
    if p.is_dir():
        if (p / "network.yaml").exists():
            p = p / "network.yaml"
        else:
            layers = []
            for f in sorted(p.glob("*.yaml")):
                prob = _load_problem(f, Where(f))
                if batch is not None:
                    prob = with_batch(prob, batch, Where(f))
                layers.append(NetworkLayer(f.stem, f, 1, prob))
            if not layers:
                raise SpecError(Where(p), "the folder holds no layer files (*.yaml)")
            return Network(p.name, tuple(layers), batch)
    doc = load_yaml_file(p)
    if not isinstance(doc, Mapping) or "network" not in doc:
        raise SpecError(Where(p), "expected a top-level 'network' key (see workloads/README.md)")
    node = Node(doc["network"], Where(p, ("network",)))
    node.check_keys({"name", "description", "batch", "layers"})
    file_batch = node.int("batch", default=None, minimum=1)
    use_batch = batch if batch is not None else file_batch
    layers = []
    for i, raw in enumerate(node.list("layers")):
        ln = Node(raw, node.at("layers") / i)
        ln.check_keys({"name", "file", "count"})
        f = p.parent / ln.str("file")
        if not f.exists():
            raise SpecError(ln.at("file"), f"layer file not found: {f} (paths are relative to the network file)")
        prob = _load_problem(f, ln.at("file"))
        if use_batch is not None:
            prob = with_batch(prob, use_batch, ln.at("file"))
        layers.append(NetworkLayer(ln.str("name", default=f.stem), f, ln.int("count", default=1, minimum=1), prob))
    if not layers:
        raise SpecError(node.at("layers"), "a network needs at least one layer")
    return Network(node.str("name", default=p.parent.name), tuple(layers), use_batch)


# ---------------------------------------------------------------------------
# loading and summaries
# ---------------------------------------------------------------------------


def load_any_architecture(
    path: Path | str, variables: Mapping[str, Any] | None = None
) -> tuple[str, Any]:
    """Load a single- or multi-core architecture file.

    Parameters
    ----------
    path : Path or str
        A YAML file with a top-level ``architecture`` (v0.3 tree or v0.4 nodes) or
        ``multicore`` key; Jinja templates are rendered with ``variables``.
    variables : mapping, optional
        Template variables (``--set NAME=VALUE``).

    Returns
    -------
    kind : str
        ``"single-core"`` or ``"multi-core"``.
    arch : Architecture or MultiCoreArchitecture

    Raises
    ------
    SpecError
        Located at file and key path, for every problem found.
    """
    from tnx_timeloop.spec.multicore import parse_multicore

    p = Path(path)
    doc = load_yaml_file(p, variables=variables)
    if not isinstance(doc, Mapping):
        raise SpecError(Where(p), "expected a mapping with a top-level 'architecture' or 'multicore' key")
    if "multicore" in doc:
        return "multi-core", parse_multicore(doc["multicore"], where=Where(p, ("multicore",)), base_dir=p.parent)
    if "architecture" in doc:
        return "single-core", parse_architecture(doc["architecture"], where=Where(p, ("architecture",)))
    raise SpecError(
        Where(p),
        f"no 'architecture' or 'multicore' key (top-level keys: {sorted(map(str, doc))}); "
        "an architecture file holds one of them",
    )


def clock_hz_of(arch: Architecture) -> float | None:
    """The clock from a ``global_cycle_seconds`` attribute (compute level first), in Hz; None if absent."""
    for level in (arch.compute, *arch.storage):
        value = level.attribute("global_cycle_seconds")
        if value is None:
            continue
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue
        if seconds > 0:
            return 1.0 / seconds
    return None


def on_chip_kib(arch: Architecture) -> float:
    """On-chip storage over all instances of every bounded, non-DRAM level, in KiB."""
    bits = 0
    for level in arch.storage:
        if level.is_dram or level.is_dummy or level.size_words is None:
            continue
        bits += level.size_words * level.word_bits * level.instances
    return bits / 8 / 1024


def _kib(level_words: int | None, word_bits: int) -> float | None:
    return None if level_words is None else level_words * word_bits / 8 / 1024


def summarize_architecture(
    arch: Architecture, *, energy: str = "auto", clock_hz: float | None = None
) -> dict[str, Any]:
    """What ``tnx arch check`` prints for a single-core architecture, as plain data.

    Parameters
    ----------
    arch : Architecture
        The parsed architecture.
    energy : str
        Energy source for :func:`~tnx_timeloop.energy.tables.select_energy`
        (``auto``, ``timeloop``, ``tables``...).
    clock_hz : float, optional
        Clock in Hz; default from the architecture's ``global_cycle_seconds``.

    Returns
    -------
    dict
        ``levels`` (outermost first: ``name``, ``class``, ``subclass``, ``instances``,
        ``mesh`` [x, y], ``fanout``, ``fanout_xy``, ``size_words`` (per instance, None
        = unbounded), ``size_kib`` (per instance), ``word_bits``, ``block_size``,
        ``cluster_size``, ``read_bandwidth`` / ``write_bandwidth`` (words/cycle per
        instance, None = unlimited), ``dummy``), ``compute``, ``peak_macs_per_cycle``,
        ``clock_hz``, ``peak_tops`` (2 ops per MAC; None without a clock),
        ``on_chip_kib``, ``constraints`` (count of inline constraints) and
        ``energy`` (``source``; per level the pJ of one vector read, fill and update
        and per word; the pJ per MAC).

    Raises
    ------
    EnergyError
        When the energy source cannot price a component.
    """
    clock = clock_hz if clock_hz is not None else clock_hz_of(arch)
    table = select_energy(arch, energy)
    levels = []
    for i, s in enumerate(arch.storage):
        fx, fy = arch.fanout_xy(i)
        levels.append({
            "name": s.name,
            "class": s.class_name,
            "subclass": s.subclass,
            "instances": s.instances,
            "mesh": [s.mesh_x, s.mesh_y],
            "fanout": arch.fanout(i),
            "fanout_xy": [fx, fy],
            "size_words": s.size_words,
            "size_kib": _kib(s.size_words, s.word_bits),
            "word_bits": s.word_bits,
            "block_size": s.block_size,
            "cluster_size": s.cluster_size,
            "read_bandwidth": s.read_bandwidth,
            "write_bandwidth": s.write_bandwidth,
            "dummy": s.is_dummy,
        })
    c = arch.compute
    peak = arch.peak_macs_per_cycle
    energy_levels = []
    for s, e in zip(arch.storage, table.storage, strict=True):
        energy_levels.append({
            "name": s.name,
            "read_pj": e.read_pj,
            "fill_pj": e.fill_pj,
            "update_pj": e.update_pj,
            "words_per_access": s.block_size,
            "read_pj_per_word": e.read_pj / s.block_size,
            "source": e.source,
        })
    return {
        "kind": "single-core",
        "name": arch.name,
        "version": arch.version,
        "technology": arch.technology,
        "levels": levels,
        "compute": {
            "name": c.name,
            "class": c.class_name,
            "subclass": c.subclass,
            "instances": c.instances,
            "mesh": [c.mesh_x, c.mesh_y],
            "word_bits": c.word_bits,
        },
        "peak_macs_per_cycle": peak,
        "clock_hz": clock,
        "peak_tops": None if clock is None else 2.0 * peak * clock / 1e12,
        "on_chip_kib": on_chip_kib(arch),
        "constraints": len(arch.constraints),
        "energy": {
            "source": table.describe(),
            "levels": energy_levels,
            "compute_pj_per_mac": table.compute_pj,
            "compute_source": table.compute_source,
        },
    }


def summarize_file(
    path: Path | str, *, variables: Mapping[str, Any] | None = None, energy: str = "auto"
) -> dict[str, Any]:
    """Load any architecture file and summarise it (see :func:`summarize_architecture`).

    A multi-core file gives ``kind: "multi-core"``, its ``noc`` and ``memory``, the
    total core count, peak MACs per cycle and TOPS over all cores, on-chip KiB,
    and one single-core summary per core type under ``cores``.
    """
    from tnx_timeloop.spec.multicore import multicore_to_dict

    kind, arch = load_any_architecture(path, variables)
    if kind == "single-core":
        out = summarize_architecture(arch, energy=energy)
        out["file"] = str(path)
        if out["name"] == "architecture":  # the parser's default: name it after the file
            out["name"] = Path(path).stem
        return out
    cores = []
    for core in arch.cores:
        summary = summarize_architecture(core.arch, energy=energy, clock_hz=arch.clock_hz)
        cores.append({
            "name": core.name,
            "count": core.count,
            "source": core.source,
            "variables": dict(core.variables),
            "summary": summary,
        })
    raw = multicore_to_dict(arch)
    clock = arch.clock_hz
    peak = arch.peak_macs_per_cycle
    return {
        "file": str(path),
        "kind": "multi-core",
        "name": arch.name,
        "clock_hz": clock,
        "total_cores": arch.total_cores,
        "peak_macs_per_cycle": peak,
        "peak_tops": None if clock is None else 2.0 * peak * clock / 1e12,
        "on_chip_kib": sum(c["count"] * c["summary"]["on_chip_kib"] for c in cores),
        "noc": raw["noc"],
        "memory": raw["memory"],
        "cores": cores,
    }
