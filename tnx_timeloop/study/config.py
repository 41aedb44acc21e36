"""Study files (``studies/*.yaml``): parse and validate into a frozen :class:`StudyConfig`.

A study file says what to evaluate and what to report. Every kind shares the top-level
keys ``name``, ``kind``, ``description``, ``seeds``, ``cache`` and ``report``; each kind
adds its own (see ``docs/studies.md``)::

    name: conv-sweep
    kind: sweep                      # sweep | compare | tnn-dse | eenn | native-vs-timeloop
    seeds: [0, 1]                    # each seed is one replicate, passed unchanged to the searches
    workloads: [layers/conv3x3_c64m64_p14, {network: alexnet, layers: [CONV1]}]
    architectures:
      - eyeriss-like
      - {template: tt-kernel, grid: {rows: [8, 16], cols: [8, 16]}, set: {engine: gemm}}
    mapper: {objective: edp, budget: 2000}
    energy: [auto]

Paths are relative to the study file; names that are not files there are looked up in
the library (``arch/``, ``workloads/``). Validation collects every problem before failing
and names the file, the key path and the line: unknown keys come with a did-you-mean
and the allowed keys, wrong types say what was expected, missing files say where they
were looked for.

The *configuration hash* (:attr:`StudyConfig.config_hash`) is the sha256 of the
canonical resolved configuration, the contents of every file it reads and the package
version; a results folder refuses a resume under another hash.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tnx_timeloop.cache import canonical
from tnx_timeloop.errors import SpecError, SpecErrors, Where
from tnx_timeloop.spec._read import kind_of
from tnx_timeloop.spec.yaml_io import line_of_key, load_yaml_file

__all__ = [
    "KINDS",
    "EVALUATORS",
    "PLOTS",
    "FileRef",
    "ArchRef",
    "WorkloadRef",
    "MapperGrid",
    "SweepSpec",
    "CompareSpec",
    "TnnModelRef",
    "TnnSpec",
    "EennNetworkRef",
    "EennSpec",
    "ReportSpec",
    "StudyConfig",
    "load_study",
    "parse_study",
]

KINDS = ("sweep", "compare", "tnn-dse", "eenn", "native-vs-timeloop")
"""Study kinds."""

EVALUATORS = ("native", "timeloop-model", "timeloop-mapper", "pytimeloop", "accelforge")
"""Who evaluates a sweep point: ``native`` (native mapper and model), ``timeloop-model``,
``pytimeloop`` and ``accelforge`` (the native mapper's best mapping evaluated by that tool),
``timeloop-mapper`` (Timeloop's own search and model)."""

PLOTS = ("pareto", "breakdown", "roofline", "heatmap", "timeline", "comparison", "agreement")
"""Plot names a ``report.plots`` list may hold (each kind draws those that apply)."""

_COMMON = {
    "name": "study name (used in titles)",
    "kind": f"one of {list(KINDS)}",
    "description": "free text shown at the top of report.md",
    "seeds": "list of integer seeds (replicates)",
    "seed": "one integer seed (same as seeds: [N])",
    "cache": "study (default: DIR/cache.sqlite), user ($TNX_CACHE_DIR) or none",
    "report": "what to report: title, plots, heatmap",
}
_KIND_KEYS: dict[str, dict[str, str]] = {
    "sweep": {
        "workloads": "list of layer files, network folders/files or {network, batch, layers}",
        "architectures": "list of architecture names/files or {arch|template, grid, set, constraints, name}",
        "mapper": "mapper settings: objective, budget, algorithm (each one value or a list), victory, pad",
        "energy": "energy source or list (auto, timeloop, tables, ert, accelergy, hwcomponents)",
        "evaluators": f"list from {list(EVALUATORS)}",
    },
    "compare": {
        "comparisons": "list of published comparisons (tnx compare lists them)",
        "mapper": "mapper settings: budget",
    },
    "tnn-dse": {
        "models": "list of tensorized model files or {file, set, dense, layers}",
        "modes": "list from [inference, training]",
        "hardware": "template, grid, set, engines, energy",
        "limits": "max_pes, max_on_chip_kib, max_area_mm2",
        "search": "objective, method, mapper_budget, restarts, tolerance, exhaustive, max_configs, jobs",
    },
    "eenn": {
        "networks": "list of early-exit network files or {file, statistics}",
        "platforms": "list of (multi-core) architecture names or files",
        "precisions": "backbone precisions, e.g. [fp32, int8, int4]",
        "exit_precisions": "exit-head precisions (default: precisions)",
        "memory": "onchip or package (one or a list)",
        "delay": "interval or latency",
        "mapper": "budget, pad",
        "search": "population, generations, min_accuracy, latency_bound_cycles",
        "timeline": "inputs, schedule (pipelined or layer-by-layer); inputs: 0 for none",
    },
}
_KIND_KEYS["native-vs-timeloop"] = dict(_KIND_KEYS["sweep"])


# ---------------------------------------------------------------------------
# configuration records
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file the study reads.

    Attributes
    ----------
    spec : str
        As written in the study file (library name or path).
    path : Path
        Resolved absolute path.
    digest : str
        sha256 of the contents of this file and of every file it pulls in.
    """

    spec: str
    path: Path
    digest: str

    def to_dict(self, *, portable: bool = False) -> dict[str, Any]:
        """Plain view; ``portable`` leaves out the machine-specific absolute path."""
        out: dict[str, Any] = {"spec": self.spec, "sha256": self.digest}
        if not portable:
            out["path"] = str(self.path)
        return out


@dataclass(frozen=True, slots=True)
class ArchRef:
    """An architecture, or a template with a grid of variable values.

    Attributes
    ----------
    label : str
        Short name in tables (file stem, or ``name:``).
    file : FileRef
    grid : tuple of (str, tuple)
        Template variables and their candidate values (the points are the product).
    fixed : tuple of (str, Any)
        Template variables held at one value.
    constraints : tuple of FileRef
        Constraint files (``architecture_constraints``/``mapspace_constraints``).
    """

    label: str
    file: FileRef
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    fixed: tuple[tuple[str, Any], ...] = ()
    constraints: tuple[FileRef, ...] = ()

    def to_dict(self, *, portable: bool = False) -> dict[str, Any]:
        """Plain view."""
        return {"label": self.label, "file": self.file.to_dict(portable=portable),
                "grid": {k: list(v) for k, v in self.grid}, "set": dict(self.fixed),
                "constraints": [c.to_dict(portable=portable) for c in self.constraints]}


@dataclass(frozen=True, slots=True)
class WorkloadRef:
    """A layer file or a network, optionally with a batch and a subset of layers."""

    label: str
    file: FileRef
    batch: int | None = None
    layers: tuple[str, ...] = ()

    def to_dict(self, *, portable: bool = False) -> dict[str, Any]:
        """Plain view."""
        return {"label": self.label, "file": self.file.to_dict(portable=portable), "batch": self.batch,
                "layers": list(self.layers)}


@dataclass(frozen=True, slots=True)
class MapperGrid:
    """Mapper settings; ``objectives``, ``budgets`` and ``algorithms`` are grid axes."""

    objectives: tuple[str, ...] = ("edp",)
    budgets: tuple[int, ...] = (2000,)
    algorithms: tuple[str, ...] = ("auto",)
    victory: int | None = None
    pad: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain view."""
        return {"objective": list(self.objectives), "budget": list(self.budgets), "algorithm": list(self.algorithms),
                "victory": self.victory, "pad": self.pad}


@dataclass(frozen=True, slots=True)
class SweepSpec:
    """What a ``sweep`` (or ``native-vs-timeloop``) study evaluates: the product of its axes."""

    workloads: tuple[WorkloadRef, ...]
    architectures: tuple[ArchRef, ...]
    mapper: MapperGrid = MapperGrid()
    energies: tuple[str, ...] = ("auto",)
    evaluators: tuple[str, ...] = ("native",)

    def to_dict(self, *, portable: bool = False) -> dict[str, Any]:
        """Plain view."""
        return {"workloads": [w.to_dict(portable=portable) for w in self.workloads],
                "architectures": [a.to_dict(portable=portable) for a in self.architectures],
                "mapper": self.mapper.to_dict(), "energy": list(self.energies), "evaluators": list(self.evaluators)}


@dataclass(frozen=True, slots=True)
class CompareSpec:
    """Published comparisons to reproduce (``tnx compare``), with the mapper budget per layer."""

    comparisons: tuple[str, ...]
    budget: int = 10000
    data: FileRef | None = None

    def to_dict(self, *, portable: bool = False) -> dict[str, Any]:
        """Plain view."""
        return {"comparisons": list(self.comparisons), "mapper": {"budget": self.budget},
                "published_data": None if self.data is None else self.data.to_dict(portable=portable)}


@dataclass(frozen=True, slots=True)
class TnnModelRef:
    """A tensorized model file (a Jinja template with ``set`` variables), optional dense file and layers."""

    label: str
    file: FileRef
    variables: tuple[tuple[str, Any], ...] = ()
    dense: FileRef | None = None
    layers: tuple[str, ...] = ()

    def to_dict(self, *, portable: bool = False) -> dict[str, Any]:
        """Plain view."""
        return {"label": self.label, "file": self.file.to_dict(portable=portable), "set": dict(self.variables),
                "dense": None if self.dense is None else self.dense.to_dict(portable=portable),
                "layers": list(self.layers)}


@dataclass(frozen=True, slots=True)
class TnnSpec:
    """A ``tnn-dse`` study: joint path x mapping x hardware search, tensorized versus dense.

    Attributes
    ----------
    models : tuple of TnnModelRef
    modes : tuple of str
        ``inference`` and/or ``training``.
    template : FileRef
        The hardware template (default ``tt-kernel``).
    grid, fixed : tuples
        Template variables searched / held.
    engines : tuple of str
        Values of the template's ``engine`` variable.
    energy : str
        Energy source of the step costs.
    max_pes, max_on_chip_kib, max_area_mm2 : optional
        Resource budget (MAC units, KiB, mm^2).
    objective, method : str
        Joint-search objective (latency, energy, edp) and path search method.
    mapper_budget : int
        Mapper evaluations per (step, engine).
    tolerance : float
        Branch-and-bound tolerance (0 = exact).
    exhaustive : bool
        Evaluate every configuration (for heat maps of the whole grid).
    max_configs : int or None
    jobs : int
        Worker processes of one joint search (part of the configuration: with a
        tolerance, the configurations evaluated depend on it).
    """

    models: tuple[TnnModelRef, ...]
    modes: tuple[str, ...]
    template: FileRef
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    fixed: tuple[tuple[str, Any], ...] = ()
    engines: tuple[str, ...] = ("gemm", "tt")
    energy: str = "auto"
    max_pes: int | None = None
    max_on_chip_kib: float | None = None
    max_area_mm2: float | None = None
    objective: str = "latency"
    method: str = "auto"
    mapper_budget: int = 2000
    tolerance: float = 0.01
    exhaustive: bool = False
    max_configs: int | None = None
    jobs: int = 1
    restarts: int = 3

    def to_dict(self, *, portable: bool = False) -> dict[str, Any]:
        """Plain view."""
        return {
            "models": [m.to_dict(portable=portable) for m in self.models], "modes": list(self.modes),
            "hardware": {"template": self.template.to_dict(portable=portable),
                         "grid": {k: list(v) for k, v in self.grid}, "set": dict(self.fixed),
                         "engines": list(self.engines), "energy": self.energy},
            "limits": {"max_pes": self.max_pes, "max_on_chip_kib": self.max_on_chip_kib,
                       "max_area_mm2": self.max_area_mm2},
            "search": {"objective": self.objective, "method": self.method, "mapper_budget": self.mapper_budget,
                       "restarts": self.restarts, "tolerance": self.tolerance, "exhaustive": self.exhaustive,
                       "max_configs": self.max_configs, "jobs": self.jobs},
        }


@dataclass(frozen=True, slots=True)
class EennNetworkRef:
    """An early-exit network file and its exit statistics."""

    label: str
    file: FileRef
    statistics: FileRef

    def to_dict(self, *, portable: bool = False) -> dict[str, Any]:
        """Plain view."""
        return {"label": self.label, "file": self.file.to_dict(portable=portable),
                "statistics": self.statistics.to_dict(portable=portable)}


@dataclass(frozen=True, slots=True)
class EennSpec:
    """An ``eenn`` study: the early-exit search (NSGA-II) per network x platform x memory mode."""

    networks: tuple[EennNetworkRef, ...]
    platforms: tuple[FileRef, ...]
    precisions: tuple[str, ...] = ("fp32", "int8", "int4")
    exit_precisions: tuple[str, ...] = ()
    memory: tuple[str, ...] = ("onchip",)
    delay: str = "interval"
    mapper_budget: int = 2000
    pad: bool = False
    population: int = 64
    generations: int = 60
    min_accuracy: float | None = None
    latency_bound_cycles: float | None = None
    timeline_inputs: int = 16
    timeline_schedule: str = "pipelined"

    def to_dict(self, *, portable: bool = False) -> dict[str, Any]:
        """Plain view."""
        return {
            "networks": [n.to_dict(portable=portable) for n in self.networks],
            "platforms": [p.to_dict(portable=portable) for p in self.platforms],
            "precisions": list(self.precisions), "exit_precisions": list(self.exit_precisions),
            "memory": list(self.memory), "delay": self.delay,
            "mapper": {"budget": self.mapper_budget, "pad": self.pad},
            "search": {"population": self.population, "generations": self.generations,
                       "min_accuracy": self.min_accuracy, "latency_bound_cycles": self.latency_bound_cycles},
            "timeline": {"inputs": self.timeline_inputs, "schedule": self.timeline_schedule},
        }


@dataclass(frozen=True, slots=True)
class ReportSpec:
    """What report.md shows: a title, the plots (None = every plot that applies) and the heat-map axes."""

    title: str | None = None
    plots: tuple[str, ...] | None = None
    heatmap_x: str | None = None
    heatmap_y: str | None = None
    heatmap_metric: str = "edp"

    def wants(self, plot: str) -> bool:
        """Whether ``plot`` is to be drawn."""
        return self.plots is None or plot in self.plots

    def to_dict(self) -> dict[str, Any]:
        """Plain view."""
        return {"title": self.title, "plots": None if self.plots is None else list(self.plots),
                "heatmap": {"x": self.heatmap_x, "y": self.heatmap_y, "metric": self.heatmap_metric}}


Body = SweepSpec | CompareSpec | TnnSpec | EennSpec


@dataclass(frozen=True, slots=True)
class StudyConfig:
    """A validated study.

    Attributes
    ----------
    name, kind, description : str
    seeds : tuple of int
        Replicate seeds, passed unchanged to the mapper / searches.
    cache : str
        ``study``, ``user`` or ``none``.
    body : SweepSpec, CompareSpec, TnnSpec or EennSpec
    report : ReportSpec
    source : Path
        The study file.
    """

    name: str
    kind: str
    seeds: tuple[int, ...]
    body: Body
    description: str = ""
    cache: str = "study"
    report: ReportSpec = ReportSpec()
    source: Path = field(default=Path("study.yaml"), compare=False)

    def to_dict(self, *, portable: bool = False) -> dict[str, Any]:
        """The resolved configuration as plain data (``portable``: without absolute paths)."""
        return {"name": self.name, "kind": self.kind, "description": self.description, "seeds": list(self.seeds),
                "cache": self.cache, **self.body.to_dict(portable=portable), "report": self.report.to_dict()}

    @property
    def config_hash(self) -> str:
        """sha256 of what determines the results: the portable resolved config, file contents, package version.

        The report settings are left out (changing a plot does not invalidate results).
        """
        from tnx_timeloop import __version__

        data = self.to_dict(portable=True)
        data.pop("report", None)
        data.pop("description", None)
        text = json.dumps({"version": __version__, "config": canonical(data)}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------------
# reading helpers (collecting errors)
# ---------------------------------------------------------------------------


class _Ctx:
    """The study file being read: its path, folder and collected errors."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.base = source.parent
        self.errors: list[SpecError] = []

    def err(self, where: Where, message: str) -> None:
        self.errors.append(SpecError(where, message))


class _Node:
    """A mapping of the study file with its location."""

    def __init__(self, ctx: _Ctx, data: Mapping[str, Any], where: Where) -> None:
        self.ctx = ctx
        self.data = data
        self.where = where

    def at(self, key: str | int) -> Where:
        return (self.where / key).at_line(line_of_key(self.data, key) or self.where.line)

    def check_keys(self, allowed: Mapping[str, str] | Sequence[str], what: str = "key") -> None:
        names = list(allowed)
        for key in self.data:
            if key in names:
                continue
            close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            self.ctx.err(self.at(key) if isinstance(key, str) else self.where,
                         f"unknown {what} {key!r}; {hint}allowed: {sorted(names)}")

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def require(self, key: str, what: str) -> bool:
        if key not in self.data or self.data[key] is None:
            self.ctx.err(self.where, f"missing key '{key}' ({what})")
            return False
        return True

    def child(self, key: str) -> _Node | None:
        value = self.data.get(key)
        if value is None:
            return _Node(self.ctx, {}, self.at(key))
        if not isinstance(value, Mapping):
            self.ctx.err(self.at(key), f"expected a mapping, got {kind_of(value)}")
            return None
        return _Node(self.ctx, value, self.at(key).at_line(getattr(value, "line", None) or self.at(key).line))

    # typed scalars ----------------------------------------------------------
    def str(self, key: str, default: Any = None, *, choices: Sequence[str] | None = None) -> Any:
        if key not in self.data or self.data[key] is None:
            return default
        return _as_str(self.ctx, self.data[key], self.at(key), choices)

    def int(self, key: str, default: Any = None, *, minimum: int | None = None) -> Any:
        if key not in self.data or self.data[key] is None:
            return default
        return _as_int(self.ctx, self.data[key], self.at(key), minimum, default)

    def float(self, key: str, default: Any = None, *, minimum: float | None = None) -> Any:
        if key not in self.data or self.data[key] is None:
            return default
        return _as_float(self.ctx, self.data[key], self.at(key), minimum, default)

    def bool(self, key: str, default: bool = False) -> bool:
        if key not in self.data or self.data[key] is None:
            return default
        value = self.data[key]
        if isinstance(value, bool):
            return value
        self.ctx.err(self.at(key), f"expected true or false, got {kind_of(value)}")
        return default

    def list(self, key: str, conv: Callable[[Any, Where], Any], default: tuple[Any, ...] = (),
             *, one_ok: bool = True, nonempty: bool = True) -> tuple[Any, ...]:
        """A list (or, with ``one_ok``, a single value) converted item by item."""
        if key not in self.data or self.data[key] is None:
            return default
        value = self.data[key]
        where = self.at(key)
        single = not isinstance(value, list)
        if single:
            if one_ok and not isinstance(value, Mapping):
                value = [value]
            else:
                self.ctx.err(where, f"expected a list, got {kind_of(value)}")
                return default
        if not value and nonempty:
            self.ctx.err(where, "the list is empty")
            return default
        out = []
        for i, item in enumerate(value):
            item_where = where if single else (where / i).at_line(line_of_key(value, i) or where.line)
            converted = conv(item, item_where)
            if converted is not None:
                out.append(converted)
        return tuple(out)


def _as_str(ctx: _Ctx, value: Any, where: Where, choices: Sequence[str] | None = None) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        ctx.err(where, f"expected a string, got {kind_of(value)}")
        return None
    text = str(value)
    if choices is not None and text not in choices:
        close = difflib.get_close_matches(text, list(choices), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        ctx.err(where, f"unknown value {text!r}; {hint}choose one of {list(choices)}")
        return None
    return text


def _as_int(ctx: _Ctx, value: Any, where: Where, minimum: int | None = None, default: Any = None) -> Any:
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
        ctx.err(where, f"expected an integer, got {kind_of(value)}")
        return default
    if minimum is not None and int(value) < minimum:
        ctx.err(where, f"must be >= {minimum}, got {int(value)}")
        return default
    return int(value)


def _as_float(ctx: _Ctx, value: Any, where: Where, minimum: float | None = None, default: Any = None) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ctx.err(where, f"expected a number, got {kind_of(value)}")
        return default
    if minimum is not None and float(value) < minimum:
        ctx.err(where, f"must be >= {minimum:g}, got {value}")
        return default
    return float(value)


def _scalar(ctx: _Ctx, value: Any, where: Where) -> Any:
    if isinstance(value, (str, int, float, bool)):
        return value
    ctx.err(where, f"expected a number or a string, got {kind_of(value)}")
    return None


def _digest(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(b"\0")
        try:
            h.update(p.read_bytes())
        except OSError:
            h.update(b"<unreadable>")
        h.update(b"\0")
    return h.hexdigest()


def _resolve(ctx: _Ctx, spec: str, where: Where, what: str, finder: Callable[[str], Path] | None) -> Path | None:
    """A path relative to the study file, else a library name (via ``finder``)."""
    p = Path(spec).expanduser()
    cand = p if p.is_absolute() else ctx.base / p
    for c in (cand, cand.with_name(cand.name + ".yaml")):
        if c.exists():
            return c.resolve()
    if finder is not None:
        try:
            return finder(spec).resolve()
        except SpecError:
            pass
    ctx.err(where, f"{what} {spec!r} not found (looked in {ctx.base} and in the library)")
    return None


# ---------------------------------------------------------------------------
# file references of each kind
# ---------------------------------------------------------------------------


def _arch_finder(spec: str) -> Path:
    from tnx_timeloop.library import find_arch

    return find_arch(spec)


def _workload_finder(spec: str) -> Path:
    from tnx_timeloop.library import find_workload

    return find_workload(spec)


def _multicore_files(path: Path) -> list[Path]:
    """The file and, for a multi-core file, its cores' files."""
    import yaml

    out = [path]
    try:
        text = path.read_text(encoding="utf-8")
        doc = None if ("{{" in text or "{%" in text) else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return out  # a broken file is reported when it is parsed
    if isinstance(doc, Mapping) and isinstance(doc.get("multicore"), Mapping):
        for core in doc["multicore"].get("cores") or []:
            if isinstance(core, Mapping) and isinstance(core.get("arch"), str):
                out.append((path.parent / core["arch"]).resolve())
    return out


def _network_files(path: Path) -> list[Path]:
    """A layer file, or a network's file and layer files."""
    import yaml

    if path.is_dir():
        net = path / "network.yaml"
        return ([net] if net.exists() else []) + sorted(f for f in path.glob("*.yaml") if f != net)
    out = [path]
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return out  # reported when parsed
    if isinstance(doc, Mapping) and isinstance(doc.get("network"), Mapping):
        for layer in doc["network"].get("layers") or []:
            if isinstance(layer, Mapping) and isinstance(layer.get("file"), str):
                out.append((path.parent / layer["file"]).resolve())
    return out


def _file_ref(ctx: _Ctx, spec: Any, where: Where, what: str, finder: Callable[[str], Path] | None,
              pulls: Callable[[Path], list[Path]] | None = None) -> FileRef | None:
    text = _as_str(ctx, spec, where)
    if text is None:
        return None
    path = _resolve(ctx, text, where, what, finder)
    if path is None:
        return None
    files = pulls(path) if pulls else [path]
    return FileRef(text, path, _digest(files))


def _label(spec: str) -> str:
    p = Path(spec)
    return p.parent.name if p.name == "network.yaml" else p.stem if p.suffix else p.name


def _grid(ctx: _Ctx, node: _Node, key: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    g = node.child(key)
    if g is None:
        return ()
    out = []
    for var, values in g.data.items():
        where = g.at(var)
        if not isinstance(values, list):
            values = [values]
        if not values:
            ctx.err(where, "a grid variable needs at least one value")
            continue
        vals = tuple(v for i, v in enumerate(values) if _scalar(ctx, v, where / i) is not None)
        out.append((str(var), vals))
    return tuple(out)


def _fixed(ctx: _Ctx, node: _Node, key: str) -> tuple[tuple[str, Any], ...]:
    g = node.child(key)
    if g is None:
        return ()
    return tuple((str(k), v) for k, v in g.data.items() if _scalar(ctx, v, g.at(k)) is not None)


def _template_variables(path: Path) -> set[str] | None:
    from tnx_timeloop.spec.templates import template_variables

    text = path.read_text(encoding="utf-8")
    if "{{" not in text and "{%" not in text:
        return None
    return template_variables(text)


def _check_vars(ctx: _Ctx, file: FileRef, names: Sequence[str], where: Where) -> None:
    known = _template_variables(file.path)
    if known is None:
        if names:
            ctx.err(where, f"{file.spec} is not a template (no Jinja variables); remove grid/set")
        return
    for n in names:
        if n not in known:
            close = difflib.get_close_matches(n, sorted(known), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            ctx.err(where, f"unknown template variable {n!r} of {file.spec}; {hint}it takes {sorted(known)}")


# ---------------------------------------------------------------------------
# kinds
# ---------------------------------------------------------------------------


def _arch_entry(ctx: _Ctx, item: Any, where: Where) -> ArchRef | None:
    if isinstance(item, (str, int, float)) and not isinstance(item, bool):
        f = _file_ref(ctx, item, where, "architecture", _arch_finder, _multicore_files)
        if f is None:
            return None
        _check_single_core(ctx, f, where)
        return ArchRef(_label(f.spec), f)
    if not isinstance(item, Mapping):
        ctx.err(where, f"expected an architecture name/file or a mapping, got {kind_of(item)}")
        return None
    node = _Node(ctx, item, where.at_line(getattr(item, "line", None) or where.line))
    node.check_keys({"arch": "", "template": "", "grid": "", "set": "", "constraints": "", "name": ""})
    key = "template" if node.has("template") else "arch"
    if node.has("template") and node.has("arch"):
        ctx.err(node.where, "give 'arch' or 'template', not both")
    if not node.require(key, "an architecture name or file"):
        return None
    f = _file_ref(ctx, node.raw(key), node.at(key), "architecture", _arch_finder, _multicore_files)
    grid = _grid(ctx, node, "grid")
    fixed = _fixed(ctx, node, "set")
    cons = node.list("constraints", lambda v, w: _file_ref(ctx, v, w, "constraints file", None), nonempty=False)
    if f is None:
        return None
    _check_vars(ctx, f, [k for k, _ in grid] + [k for k, _ in fixed], node.at("grid") if grid else node.at("set"))
    _check_single_core(ctx, f, where)
    return ArchRef(node.str("name", _label(f.spec)), f, grid, fixed, cons)


def _check_single_core(ctx: _Ctx, f: FileRef, where: Where) -> None:
    text = f.path.read_text(encoding="utf-8", errors="replace")
    if "\nmulticore:" in f"\n{text}":
        ctx.err(where, f"{f.spec} is a multi-core package; sweeps map single-core architectures "
                       "(study multi-core packages with kind 'eenn')")


def _workload_entry(ctx: _Ctx, item: Any, where: Where) -> WorkloadRef | None:
    if isinstance(item, (str, int, float)) and not isinstance(item, bool):
        f = _file_ref(ctx, item, where, "workload", _workload_finder, _network_files)
        return None if f is None else WorkloadRef(_label(f.spec), f)
    if not isinstance(item, Mapping):
        ctx.err(where, f"expected a workload file/folder or a mapping, got {kind_of(item)}")
        return None
    node = _Node(ctx, item, where.at_line(getattr(item, "line", None) or where.line))
    node.check_keys({"network": "", "file": "", "batch": "", "layers": "", "name": ""})
    key = "network" if node.has("network") else "file"
    if not node.require(key, "a layer file or network"):
        return None
    f = _file_ref(ctx, node.raw(key), node.at(key), "workload", _workload_finder, _network_files)
    batch = node.int("batch", None, minimum=1)
    layers = node.list("layers", lambda v, w: _as_str(ctx, v, w), nonempty=True)
    if f is None:
        return None
    return WorkloadRef(node.str("name", _label(f.spec)), f, batch, layers)


def _mapper_grid(ctx: _Ctx, node: _Node | None) -> MapperGrid:
    if node is None:
        return MapperGrid()
    node.check_keys({"objective": "", "budget": "", "algorithm": "", "victory": "", "pad": ""})
    from tnx_timeloop.mapper.search import SEARCHERS

    algos = ("auto", *sorted(SEARCHERS))
    return MapperGrid(
        objectives=node.list("objective", lambda v, w: _objective(ctx, v, w), ("edp",)),
        budgets=node.list("budget", lambda v, w: _as_int(ctx, v, w, 1), (2000,)),
        algorithms=node.list("algorithm", lambda v, w: _as_str(ctx, v, w, algos), ("auto",)),
        victory=node.int("victory", None, minimum=1),
        pad=node.bool("pad", False),
    )


def _objective(ctx: _Ctx, value: Any, where: Where) -> str | None:
    from tnx_timeloop.errors import SearchError
    from tnx_timeloop.mapper.search import Objective

    text = _as_str(ctx, value, where)
    if text is None:
        return None
    try:
        Objective.parse(text)
    except SearchError as err:
        ctx.err(where, str(err))
        return None
    return text


def _energy(ctx: _Ctx, value: Any, where: Where) -> str | None:
    from tnx_timeloop.energy.tables import ENERGY_SOURCES

    return _as_str(ctx, value, where, (*ENERGY_SOURCES, "accelergy", "hwcomponents"))


def _sweep(ctx: _Ctx, root: _Node, kind: str) -> SweepSpec | None:
    root.require("workloads", "what to evaluate")
    root.require("architectures", "where to evaluate it")
    workloads = root.list("workloads", lambda v, w: _workload_entry(ctx, v, w), one_ok=True)
    archs = root.list("architectures", lambda v, w: _arch_entry(ctx, v, w), one_ok=True)
    mapper = _mapper_grid(ctx, root.child("mapper"))
    energies = root.list("energy", lambda v, w: _energy(ctx, v, w), ("auto",))
    default_eval = ("native", "timeloop-model", "timeloop-mapper") if kind == "native-vs-timeloop" else ("native",)
    evaluators = root.list("evaluators", lambda v, w: _as_str(ctx, v, w, EVALUATORS), default_eval)
    if len(set(evaluators)) != len(evaluators):
        ctx.err(root.at("evaluators"), f"an evaluator is listed twice: {list(evaluators)}")
    if not workloads or not archs:
        return None
    return SweepSpec(workloads, archs, mapper, energies, evaluators)


def _compare(ctx: _Ctx, root: _Node) -> CompareSpec | None:
    from tnx_timeloop.study.compare import comparison_names

    names = comparison_names()
    root.require("comparisons", f"published comparisons, from {list(names)}")
    comps = root.list("comparisons", lambda v, w: _as_str(ctx, v, w, names))
    mapper = root.child("mapper")
    budget = 10000
    if mapper is not None:
        mapper.check_keys({"budget": ""})
        budget = mapper.int("budget", 10000, minimum=1)
    from importlib import resources

    data_path = Path(str(resources.files("tnx_timeloop.study").joinpath("data/published.yaml")))
    data = FileRef("tnx_timeloop/study/data/published.yaml", data_path, _digest([data_path]))
    return CompareSpec(comps, budget, data) if comps else None


def _tnn_model(ctx: _Ctx, item: Any, where: Where) -> TnnModelRef | None:
    if isinstance(item, (str, int, float)) and not isinstance(item, bool):
        f = _file_ref(ctx, item, where, "tensorized model", _workload_finder)
        return None if f is None else TnnModelRef(_label(f.spec), f)
    if not isinstance(item, Mapping):
        ctx.err(where, f"expected a model file or a mapping, got {kind_of(item)}")
        return None
    node = _Node(ctx, item, where.at_line(getattr(item, "line", None) or where.line))
    node.check_keys({"file": "", "set": "", "dense": "", "layers": "", "name": ""})
    if not node.require("file", "a tensorized model file"):
        return None
    f = _file_ref(ctx, node.raw("file"), node.at("file"), "tensorized model", _workload_finder)
    variables = _fixed(ctx, node, "set")
    dense = None
    if node.has("dense"):
        dense = _file_ref(ctx, node.raw("dense"), node.at("dense"), "dense model", _workload_finder)
    layers = node.list("layers", lambda v, w: _as_str(ctx, v, w))
    if f is None:
        return None
    if variables:
        _check_vars(ctx, f, [k for k, _ in variables], node.at("set"))
    return TnnModelRef(node.str("name", _label(f.spec)), f, variables, dense, layers)


_TT_GRID = {"rows": (8, 16, 32), "cols": (8, 16, 32), "tt_lanes": (8, 16, 32), "glb_kib": (128, 512),
            "core_buffer_kib": (32, 128), "glb_bw": (32, 64)}


def _tnn(ctx: _Ctx, root: _Node) -> TnnSpec | None:
    from tnx_timeloop.search.joint import MODES

    root.require("models", "tensorized model files")
    models = root.list("models", lambda v, w: _tnn_model(ctx, v, w))
    modes = root.list("modes", lambda v, w: _as_str(ctx, v, w, MODES), ("inference",))
    hw = root.child("hardware") or _Node(ctx, {}, root.at("hardware"))
    hw.check_keys({"template": "", "grid": "", "set": "", "engines": "", "energy": ""})
    template = _file_ref(ctx, hw.raw("template", "tt-kernel"), hw.at("template"), "hardware template", _arch_finder)
    grid = _grid(ctx, hw, "grid") if hw.has("grid") else tuple(_TT_GRID.items())
    fixed = _fixed(ctx, hw, "set")
    engines = hw.list("engines", lambda v, w: _as_str(ctx, v, w), ("gemm", "tt"), nonempty=False)
    energy = _energy(ctx, hw.raw("energy", "auto"), hw.at("energy")) or "auto"
    if template is not None:
        names = [k for k, _ in grid] + [k for k, _ in fixed] + (["engine"] if engines else [])
        _check_vars(ctx, template, names, hw.at("grid"))
    lim = root.child("limits") or _Node(ctx, {}, root.at("limits"))
    lim.check_keys({"max_pes": "", "max_on_chip_kib": "", "max_area_mm2": ""})
    se = root.child("search") or _Node(ctx, {}, root.at("search"))
    se.check_keys({"objective": "", "method": "", "mapper_budget": "", "restarts": "", "tolerance": "",
                   "exhaustive": "", "max_configs": "", "jobs": ""})
    if not models or template is None:
        return None
    return TnnSpec(
        models=models, modes=modes, template=template, grid=grid, fixed=fixed, engines=engines, energy=energy,
        max_pes=lim.int("max_pes", None, minimum=1), max_on_chip_kib=lim.float("max_on_chip_kib", None, minimum=0),
        max_area_mm2=lim.float("max_area_mm2", None, minimum=0),
        objective=se.str("objective", "latency", choices=("latency", "energy", "edp")),
        method=se.str("method", "auto", choices=("auto", "dp", "dp-connected", "exhaustive", "mac-pruned")),
        mapper_budget=se.int("mapper_budget", 2000, minimum=1), tolerance=se.float("tolerance", 0.01, minimum=0),
        exhaustive=se.bool("exhaustive", False), max_configs=se.int("max_configs", None, minimum=1),
        jobs=se.int("jobs", 1, minimum=1), restarts=se.int("restarts", 3, minimum=1),
    )


def _eenn_network(ctx: _Ctx, item: Any, where: Where) -> EennNetworkRef | None:
    stats_spec: Any = None
    if isinstance(item, Mapping):
        node = _Node(ctx, item, where.at_line(getattr(item, "line", None) or where.line))
        node.check_keys({"file": "", "statistics": "", "name": ""})
        if not node.require("file", "an early-exit network file"):
            return None
        f = _file_ref(ctx, node.raw("file"), node.at("file"), "early-exit network", _workload_finder)
        stats_spec = node.raw("statistics")
        stats_where = node.at("statistics")
        label = node.str("name", None)
    else:
        f = _file_ref(ctx, item, where, "early-exit network", _workload_finder)
        stats_where = where
        label = None
    if f is None:
        return None
    if stats_spec is None:
        try:
            from tnx_timeloop.frontends.early_exit import load_network

            net = load_network(f.path)
        except SpecError as err:
            ctx.errors.extend(err.errors if isinstance(err, SpecErrors) else [err])
            return None
        sp = net.statistics_path()
        if sp is None:
            ctx.err(stats_where, f"{f.spec} names no exit statistics; give {{file: ..., statistics: FILE}}")
            return None
        stats = FileRef(str(sp), sp.resolve(), _digest([sp])) if sp.exists() else None
        if stats is None:
            ctx.err(stats_where, f"exit statistics {sp} (named by {f.spec}) not found")
            return None
    else:
        stats = _file_ref(ctx, stats_spec, stats_where, "exit statistics", _workload_finder)
        if stats is None:
            return None
    return EennNetworkRef(label or _label(f.spec), f, stats)


def _eenn(ctx: _Ctx, root: _Node) -> EennSpec | None:
    from tnx_timeloop.spec.quantize import parse_precision

    def precision(v: Any, w: Where) -> str | None:
        text = _as_str(ctx, v, w)
        if text is None:
            return None
        try:
            return parse_precision(text).name
        except SpecError as err:
            ctx.err(w, err.message)
            return None

    root.require("networks", "early-exit network files")
    root.require("platforms", "architectures (e.g. quad-core-edge-tpu)")
    nets = root.list("networks", lambda v, w: _eenn_network(ctx, v, w))
    plats = root.list("platforms", lambda v, w: _file_ref(ctx, v, w, "platform", _arch_finder, _multicore_files))
    mp = root.child("mapper") or _Node(ctx, {}, root.at("mapper"))
    mp.check_keys({"budget": "", "pad": ""})
    se = root.child("search") or _Node(ctx, {}, root.at("search"))
    se.check_keys({"population": "", "generations": "", "min_accuracy": "", "latency_bound_cycles": ""})
    tl = root.child("timeline") or _Node(ctx, {}, root.at("timeline"))
    tl.check_keys({"inputs": "", "schedule": ""})
    if not nets or not plats:
        return None
    return EennSpec(
        networks=nets, platforms=plats,
        precisions=root.list("precisions", precision, ("fp32", "int8", "int4")),
        exit_precisions=root.list("exit_precisions", precision, (), nonempty=False),
        memory=root.list("memory", lambda v, w: _as_str(ctx, v, w, ("onchip", "package")), ("onchip",)),
        delay=root.str("delay", "interval", choices=("interval", "latency")),
        mapper_budget=mp.int("budget", 2000, minimum=1), pad=mp.bool("pad", False),
        population=se.int("population", 64, minimum=4), generations=se.int("generations", 60, minimum=1),
        min_accuracy=se.float("min_accuracy", None, minimum=0), latency_bound_cycles=se.float("latency_bound_cycles", None, minimum=0),
        timeline_inputs=tl.int("inputs", 16, minimum=0),
        timeline_schedule=tl.str("schedule", "pipelined", choices=("pipelined", "layer-by-layer")),
    )


def _report(ctx: _Ctx, node: _Node | None) -> ReportSpec:
    if node is None:
        return ReportSpec()
    node.check_keys({"title": "", "plots": "", "heatmap": ""})
    plots = node.list("plots", lambda v, w: _as_str(ctx, v, w, PLOTS), (), nonempty=False) if node.has("plots") else None
    hm = node.child("heatmap") or _Node(ctx, {}, node.at("heatmap"))
    hm.check_keys({"x": "", "y": "", "metric": ""})
    return ReportSpec(
        title=node.str("title", None), plots=plots, heatmap_x=hm.str("x", None), heatmap_y=hm.str("y", None),
        heatmap_metric=hm.str("metric", "edp", choices=("edp", "cycles", "energy_pj")),
    )


# ---------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------


def parse_study(doc: Any, source: Path) -> StudyConfig:
    """Validate a loaded study document (see the module docstring).

    Raises
    ------
    SpecError
        One problem, or :class:`~tnx_timeloop.errors.SpecErrors` with every problem found.
    """
    ctx = _Ctx(Path(source))
    if not isinstance(doc, Mapping):
        raise SpecError(Where(source), f"a study file holds a mapping of keys (name, kind, ...), got {kind_of(doc)}")
    root = _Node(ctx, doc, Where(source).at_line(getattr(doc, "line", None)))
    kind = None
    if root.require("kind", f"one of {list(KINDS)}"):
        kind = root.str("kind", None, choices=KINDS)
    allowed = {**_COMMON, **(_KIND_KEYS.get(kind, {}) if kind else {k: v for d in _KIND_KEYS.values() for k, v in d.items()})}
    root.check_keys(allowed)
    root.require("name", "a short study name")
    name = root.str("name", "study")
    seeds = root.list("seeds", lambda v, w: _as_int(ctx, v, w, 0), ())
    if root.has("seed"):
        if root.has("seeds"):
            ctx.err(root.at("seed"), "give 'seed' or 'seeds', not both")
        seeds = (root.int("seed", 0, minimum=0),)
    seeds = seeds or (0,)
    if len(set(seeds)) != len(seeds):
        ctx.err(root.at("seeds"), f"a seed is listed twice: {list(seeds)}")
    cache = root.str("cache", "study", choices=("study", "user", "none"))
    report = _report(ctx, root.child("report"))
    body: Body | None = None
    if kind in ("sweep", "native-vs-timeloop"):
        body = _sweep(ctx, root, kind)
    elif kind == "compare":
        body = _compare(ctx, root)
    elif kind == "tnn-dse":
        body = _tnn(ctx, root)
    elif kind == "eenn":
        body = _eenn(ctx, root)
    if ctx.errors:
        if len(ctx.errors) == 1:
            raise ctx.errors[0]
        raise SpecErrors(ctx.errors)
    if body is None or kind is None:  # every path that leaves them unset has recorded an error
        raise SpecError(Where(source), "incomplete study file")
    return StudyConfig(name=name, kind=kind, seeds=tuple(seeds), body=body,
                       description=root.str("description", "") or "", cache=cache, report=report,
                       source=Path(source).resolve())


def load_study(path: Path | str) -> StudyConfig:
    """Read and validate a study file.

    Raises
    ------
    SpecError
        Naming the file, the key path and the line of every problem.
    """
    p = Path(path)
    return parse_study(load_yaml_file(p), p)
