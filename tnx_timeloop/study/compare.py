"""Reproduce published accelerator results and set them beside the model (``tnx compare``).

A comparison (``data/published.yaml``) names a library architecture, one or more
networks from ``workloads/``, the energy source and mapper objective, the
assumptions made, and the published figures with their sources. Running it maps
every distinct layer with the mapper (:func:`tnx_timeloop.mapper.search_mappings`,
with the architecture's inline constraints), multiplies by the layer's count,
sums per network and derives the figures of the vocabulary documented in the data
file. Where a modelled figure is further than ``far_threshold`` from the
published one, the recorded reasons (``if_far``) are part of the result.

Nothing is cached here and no figure is adjusted towards the published value.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tnx_timeloop.energy.tables import select_energy
from tnx_timeloop.errors import SearchError, SpecError, Where
from tnx_timeloop.library import (
    Network,
    clock_hz_of,
    find_arch,
    find_workload,
    library_root,
    load_any_architecture,
    load_network,
)
from tnx_timeloop.mapper import search_mappings
from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.multicore import as_single_architecture
from tnx_timeloop.spec.yaml_io import load_yaml_file

__all__ = [
    "RUN_FIGURES",
    "LAYER_FIGURES",
    "ARCH_FIGURES",
    "Figure",
    "LayerResult",
    "RunResult",
    "ComparisonResult",
    "load_published",
    "comparison_names",
    "validate_published",
    "resolve_architecture",
    "run_comparison",
    "format_comparison",
]

# figure key -> (label, unit) of what the model computes for it
RUN_FIGURES: dict[str, tuple[str, str]] = {
    "frames_per_second": ("frames per second", "frames/s"),
    "images_per_second": ("images per second", "images/s"),
    "latency_ms": ("latency per pass", "ms"),
    "power_mw": ("on-chip power", "mW"),
    "dram_accesses_per_mac": ("DRAM accesses per MAC", "accesses/MAC"),
    "macs_per_image": ("MACs per image", "MACs"),
    "utilization": ("MAC utilization", "fraction of peak"),
}
LAYER_FIGURES: dict[str, tuple[str, str]] = {
    "latency_ms": ("latency", "ms"),
    "active_pes": ("active PEs", "PEs"),
    "dram_mb": ("DRAM accesses", "MB"),
    "power_mw": ("on-chip power", "mW"),
    "utilization": ("utilization", "fraction"),
}
ARCH_FIGURES: dict[str, tuple[str, str]] = {
    "peak_tops": ("peak throughput", "TOPS"),
}
_FIGURE_KEYS = {"value", "unit", "source", "where", "page", "if_far", "note"}

Searcher = Callable[..., Any]


# ---------------------------------------------------------------------------
# data file
# ---------------------------------------------------------------------------


def load_published(path: Path | str | None = None) -> dict[str, Any]:
    """The published-figures data (``study/data/published.yaml`` unless ``path``)."""
    if path is None:
        text = resources.files("tnx_timeloop.study").joinpath("data/published.yaml").read_text(encoding="utf-8")
        source: Path | str = "tnx_timeloop/study/data/published.yaml"
    else:
        text = Path(path).read_text(encoding="utf-8")
        source = path
    data = yaml.safe_load(text)
    if not isinstance(data, Mapping) or "comparisons" not in data or "sources" not in data:
        raise SpecError(Where(source), "expected top-level 'sources' and 'comparisons'")
    return dict(data)


def comparison_names(data: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """Names ``tnx compare`` accepts."""
    data = data or load_published()
    return tuple(data["comparisons"])


def _check_figure(fig: Any, where: Where, sources: Mapping[str, Any], problems: list[str]) -> None:
    if not isinstance(fig, Mapping):
        problems.append(f"{where}: a figure must be a mapping with value, unit, source and where")
        return
    for key in fig:
        if key not in _FIGURE_KEYS:
            problems.append(f"{where}.{key}: unknown key; allowed {sorted(_FIGURE_KEYS)}")
    for key in ("value", "unit", "source", "where"):
        if fig.get(key) in (None, ""):
            problems.append(f"{where}: missing '{key}'")
    if fig.get("source") not in sources:
        problems.append(f"{where}.source: {fig.get('source')!r} is not a key of 'sources'")
    if not isinstance(fig.get("value"), (int, float)) or isinstance(fig.get("value"), bool):
        problems.append(f"{where}.value: must be a number")
    if not fig.get("if_far"):
        problems.append(f"{where}: missing 'if_far' (the reasons printed when the model is far off)")


def validate_published(data: Mapping[str, Any]) -> list[str]:
    """Every problem of the data file (empty when sound): figures without sources, unknown keys...

    Checks that every source has a citation and a ``checked`` note, every figure a
    value, unit, known source, location and ``if_far`` text, every layer table a
    ``layers_source``, and that architectures, networks and figure keys exist.
    """
    problems: list[str] = []
    sources = data.get("sources") or {}
    for name, src in sources.items():
        for key in ("citation", "checked"):
            if not isinstance(src, Mapping) or not src.get(key):
                problems.append(f"sources.{name}: missing '{key}'")
    for name, comp in (data.get("comparisons") or {}).items():
        w = Where(None, ("comparisons", name))
        for key in ("title", "arch", "assumptions"):
            if not comp.get(key):
                problems.append(f"{w}: missing '{key}'")
        try:
            find_arch(comp.get("arch", ""))
        except SpecError as err:
            problems.append(f"{w}.arch: {err.message}")
        for key, fig in (comp.get("arch_figures") or {}).items():
            if key not in ARCH_FIGURES:
                problems.append(f"{w}.arch_figures.{key}: unknown figure; known {sorted(ARCH_FIGURES)}")
            _check_figure(fig, w / "arch_figures" / key, sources, problems)
        runs = comp.get("runs") or []
        if not runs:
            problems.append(f"{w}: needs at least one run")
        for i, run in enumerate(runs):
            rw = w / "runs" / i
            try:
                find_workload(run.get("network", ""))
            except SpecError as err:
                problems.append(f"{rw}.network: {err.message}")
            if not isinstance(run.get("images"), int) or run["images"] < 1:
                problems.append(f"{rw}.images: must be a positive integer (images per network pass)")
            for key, fig in (run.get("figures") or {}).items():
                if key not in RUN_FIGURES:
                    problems.append(f"{rw}.figures.{key}: unknown figure; known {sorted(RUN_FIGURES)}")
                _check_figure(fig, rw / "figures" / key, sources, problems)
            layers = run.get("layers") or {}
            if layers:
                ls = run.get("layers_source") or {}
                if ls.get("source") not in sources or not ls.get("where"):
                    problems.append(f"{rw}.layers_source: per-layer figures need a known source and 'where'")
                for lname, figs in layers.items():
                    for key, value in (figs or {}).items():
                        if key not in LAYER_FIGURES:
                            problems.append(f"{rw}.layers.{lname}.{key}: unknown figure; known {sorted(LAYER_FIGURES)}")
                        if not isinstance(value, (int, float)) or isinstance(value, bool):
                            problems.append(f"{rw}.layers.{lname}.{key}: must be a number")
    return problems


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figure:
    """A published figure beside the modelled one.

    Attributes
    ----------
    key, label, unit : str
        Vocabulary key, readable label, unit.
    published, modelled : float or None
        The two values (None when not available).
    source : str
        Short citation with location, e.g. ``"eyeriss-jssc2017, Table V"``.
    far : bool
        Whether ``|rel_error|`` exceeds the comparison's threshold.
    why : str
        The recorded reasons, when ``far``.
    """

    key: str
    label: str
    unit: str
    published: float | None
    modelled: float | None
    source: str = ""
    far: bool = False
    why: str = ""

    @property
    def rel_error(self) -> float | None:
        """(modelled - published) / published; None if either is missing or published is 0."""
        if self.published in (None, 0) or self.modelled is None:
            return None
        return (self.modelled - self.published) / self.published

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "label": self.label, "unit": self.unit, "published": self.published,
            "modelled": self.modelled, "rel_error": self.rel_error, "source": self.source,
            "far": self.far, "why": self.why,
        }


@dataclass(frozen=True, slots=True)
class LayerResult:
    """The modelled figures of one distinct layer (per run of the layer; ``count`` runs per pass).

    Energies in pJ, latency in cycles and seconds, DRAM traffic in words. ``bound``
    names what sets the latency: ``compute`` or the storage level whose bandwidth
    stretches it.
    """

    name: str
    count: int
    macs: int
    cycles: int
    latency_s: float | None
    energy_pj: float
    onchip_energy_pj: float
    dram_words: float
    dram_word_bits: int
    active_pes: int
    utilization: float
    valid: bool
    evaluated: int
    search_seconds: float
    bound: str = "compute"
    published: tuple[tuple[str, float], ...] = ()
    figures: tuple[Figure, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "count": self.count, "macs": self.macs, "cycles": self.cycles,
            "latency_s": self.latency_s, "energy_pj": self.energy_pj, "onchip_energy_pj": self.onchip_energy_pj,
            "dram_words": self.dram_words, "active_pes": self.active_pes, "utilization": self.utilization,
            "valid": self.valid, "evaluated": self.evaluated, "search_seconds": self.search_seconds,
            "bound": self.bound, "published": dict(self.published), "figures": [f.to_dict() for f in self.figures],
        }


@dataclass(frozen=True, slots=True)
class RunResult:
    """One network on the architecture: its layers, totals and figures."""

    network: str
    images: int
    batch: int | None
    layers: tuple[LayerResult, ...]
    macs: int
    cycles: int
    latency_s: float | None
    energy_pj: float
    onchip_energy_pj: float
    dram_words: float
    figures: tuple[Figure, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "network": self.network, "images": self.images, "batch": self.batch, "macs": self.macs,
            "cycles": self.cycles, "latency_s": self.latency_s, "energy_pj": self.energy_pj,
            "onchip_energy_pj": self.onchip_energy_pj, "dram_words": self.dram_words,
            "layers": [layer.to_dict() for layer in self.layers],
            "figures": [f.to_dict() for f in self.figures],
        }


@dataclass(frozen=True, slots=True)
class ComparisonResult:
    """Everything ``tnx compare NAME`` prints."""

    name: str
    title: str
    arch: str
    clock_hz: float | None
    settings: tuple[tuple[str, Any], ...]
    assumptions: tuple[str, ...]
    arch_figures: tuple[Figure, ...]
    runs: tuple[RunResult, ...]
    sources: tuple[tuple[str, str], ...]
    seconds: float = field(default=0.0, compare=False)

    @property
    def figures(self) -> tuple[Figure, ...]:
        """Every headline figure (architecture figures, then each run's)."""
        return self.arch_figures + tuple(f for r in self.runs for f in r.figures)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "arch": self.arch, "clock_hz": self.clock_hz,
            "settings": dict(self.settings), "assumptions": list(self.assumptions),
            "arch_figures": [f.to_dict() for f in self.arch_figures],
            "runs": [r.to_dict() for r in self.runs], "sources": dict(self.sources),
            "seconds": self.seconds,
        }


# ---------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------


def resolve_architecture(name: str) -> tuple[Architecture, float | None]:
    """A library architecture as one Timeloop hierarchy, with its clock in Hz.

    Multi-core packages are folded with
    :func:`tnx_timeloop.spec.multicore.as_single_architecture` (homogeneous only).
    """
    kind, arch = load_any_architecture(find_arch(name))
    if kind == "multi-core":
        clock = arch.clock_hz
        arch = as_single_architecture(arch)
        return arch, clock if clock is not None else clock_hz_of(arch)
    return arch, clock_hz_of(arch)


def _figure(key: str, vocab: Mapping[str, tuple[str, str]], fig: Mapping[str, Any] | None, modelled: float | None,
            threshold: float, suffix: str = "") -> Figure:
    label, unit = vocab[key]
    label += suffix
    if fig is None:
        return Figure(key, label, unit, None, modelled)
    where = str(fig.get("where", ""))
    source = f"{fig['source']}, {where}" if where else str(fig["source"])
    published = float(fig["value"])
    f = Figure(key, label, str(fig.get("unit", unit)), published, modelled, source)
    err = f.rel_error
    far = err is not None and abs(err) > threshold
    return Figure(key, label, f.unit, published, modelled, source, far, str(fig.get("if_far", "")) if far else "")


def _dram_levels(arch: Architecture) -> list[int]:
    levels = [i for i, s in enumerate(arch.storage) if s.is_dram]
    return levels or [0]


def _layer_values(layer: LayerResult) -> dict[str, float | None]:
    """Modelled layer figures over all ``count`` runs of the layer (as the papers' per-layer tables)."""
    latency = None if layer.latency_s is None else layer.count * layer.latency_s
    return {
        "latency_ms": None if latency is None else latency * 1e3,
        "active_pes": float(layer.active_pes),
        "dram_mb": layer.count * layer.dram_words * layer.dram_word_bits / 8 / 1e6,
        "power_mw": None if not layer.latency_s else layer.onchip_energy_pj * 1e-12 / layer.latency_s * 1e3,
        "utilization": layer.utilization,
    }


def _layer_figures(layer: LayerResult, clock: float | None, published: Mapping[str, float],
                   threshold: float) -> tuple[Figure, ...]:
    modelled = _layer_values(layer)
    out = []
    for key in LAYER_FIGURES:
        if key not in published:
            continue
        label, unit = LAYER_FIGURES[key]
        value = modelled[key]
        pub = float(published[key])
        f = Figure(key, label, unit, pub, value)
        err = f.rel_error
        out.append(Figure(key, label, unit, pub, value, "", err is not None and abs(err) > threshold))
    return tuple(out)


def _run_network(
    arch: Architecture,
    clock: float | None,
    network: Network,
    run: Mapping[str, Any],
    *,
    searcher: Searcher,
    constraints: tuple[tuple[str, Any], ...],
    energy: Any,
    objective: str,
    budget: int,
    seed: int,
    threshold: float,
    progress: Callable[[str], None] | None,
    label_suffix: str = "",
) -> RunResult:
    dram = _dram_levels(arch)
    word_bits = arch.storage[dram[0]].word_bits
    published_layers = run.get("layers") or {}
    layers: list[LayerResult] = []
    for layer in network.layers:
        t0 = time.monotonic()
        result = searcher(arch, layer.problem, constraints or None, objective=objective, budget=budget,
                          seed=seed, energy=energy)
        seconds = time.monotonic() - t0
        report = result.best_report
        if result.best_mapping is None or report is None:
            raise SearchError(
                f"no valid mapping found for layer {layer.name} ({layer.path}) of {network.name} after "
                f"{result.evaluated} evaluations; raise --budget"
            )
        d = report.to_dict(0)
        dram_words = float(sum(
            ds["reads"] + ds["fills"] + ds["updates"] for i in dram for ds in d["levels"][i]["dataspaces"].values()
        ))
        dram_energy = float(sum(d["levels"][i]["energy_pj"] for i in dram))
        cycles = int(d["cycles"])
        bound = "compute"
        if cycles > int(report.compute_cycles[0]):
            bound = str(arch.storage[int(report.level_cycles[0].argmax())].name)
        lr = LayerResult(
            name=layer.name,
            count=layer.count,
            macs=int(layer.problem.macs),
            cycles=cycles,
            latency_s=None if clock is None else cycles / clock,
            energy_pj=float(d["energy_pj"]),
            onchip_energy_pj=float(d["energy_pj"]) - dram_energy,
            dram_words=dram_words,
            dram_word_bits=word_bits,
            active_pes=int(d["compute"]["utilized_instances"]),
            utilization=float(d["utilization"]),
            valid=bool(d["valid"]),
            evaluated=int(result.evaluated),
            search_seconds=seconds,
            bound=bound,
        )
        pub = published_layers.get(layer.name) or {}
        lr = LayerResult(**{**{f: getattr(lr, f) for f in lr.__dataclass_fields__},
                            "published": tuple((k, float(v)) for k, v in pub.items()),
                            "figures": _layer_figures(lr, clock, pub, threshold)})
        layers.append(lr)
        if progress is not None:
            progress(f"{network.name} {layer.name}: {cycles} cycles, {lr.utilization:.0%} utilization "
                     f"({result.evaluated} mappings, {seconds:.1f} s)")
    macs = sum(lr.count * lr.macs for lr in layers)
    cycles = sum(lr.count * lr.cycles for lr in layers)
    energy_pj = sum(lr.count * lr.energy_pj for lr in layers)
    onchip = sum(lr.count * lr.onchip_energy_pj for lr in layers)
    dram_words = sum(lr.count * lr.dram_words for lr in layers)
    latency = None if clock is None else cycles / clock
    images = int(run["images"])
    macs_units = arch.compute.instances
    modelled: dict[str, float | None] = {
        "frames_per_second": None if not latency else images / latency,
        "images_per_second": None if not latency else images / latency,
        "latency_ms": None if latency is None else latency * 1e3,
        "power_mw": None if not latency else onchip * 1e-12 / latency * 1e3,
        "dram_accesses_per_mac": dram_words / macs if macs else None,
        "macs_per_image": macs / images,
        "utilization": macs / (cycles * macs_units) if cycles else None,
    }
    figs = run.get("figures") or {}
    figures = tuple(_figure(k, RUN_FIGURES, figs[k], modelled[k], threshold, label_suffix)
                    for k in RUN_FIGURES if k in figs)
    return RunResult(
        network=network.name, images=images, batch=network.batch, layers=tuple(layers), macs=macs,
        cycles=cycles, latency_s=latency, energy_pj=energy_pj, onchip_energy_pj=onchip,
        dram_words=dram_words, figures=figures,
    )


def run_comparison(
    name: str,
    *,
    budget: int = 10000,
    seed: int = 0,
    searcher: Searcher | None = None,
    data: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ComparisonResult:
    """Map every layer of the comparison's networks and set the figures beside the published ones.

    Parameters
    ----------
    name : str
        A comparison of the data file (see :func:`comparison_names`).
    budget : int
        Mappings the mapper evaluates per distinct layer (trades quality for time).
    seed : int
        Mapper seed.
    searcher : callable, optional
        ``searcher(arch, problem, constraints, *, objective, budget, seed, energy)``
        returning an object with ``best_mapping``, ``best_report`` and ``evaluated``;
        default :func:`tnx_timeloop.mapper.search_mappings`.
    data : mapping, optional
        The published-figures data (default: the packaged file).
    progress : callable, optional
        Called with one line of text per mapped layer.

    Raises
    ------
    SpecError
        For an unknown comparison name (listing the known ones) or a broken data file.
    SearchError
        When a layer has no valid mapping within the budget.
    """
    data = data or load_published()
    comps = data["comparisons"]
    if name not in comps:
        raise SpecError(Where(None, ("compare",)), f"unknown comparison {name!r}; choose one of {sorted(comps)}")
    comp = comps[name]
    threshold = float(data.get("far_threshold", 0.25))
    searcher = searcher or search_mappings
    t0 = time.monotonic()
    arch, clock = resolve_architecture(comp["arch"])
    if comp.get("clock_hz") is not None:
        clock = float(comp["clock_hz"])
    energy_source = str(comp.get("energy", "auto"))
    energy = select_energy(arch, energy_source)
    constraints: list[tuple[str, Any]] = []
    root = library_root()
    for rel in comp.get("constraints") or []:
        path = root / rel
        doc = load_yaml_file(path)
        for key in ("architecture_constraints", "mapspace_constraints"):
            if isinstance(doc, Mapping) and key in doc:
                constraints.append((str(path), (key, doc[key])))
    objective = str(comp.get("objective", "edp"))
    runs = []
    for run in comp["runs"]:
        network = load_network(run["network"], batch=run.get("batch"))
        runs.append(_run_network(
            arch, clock, network, run, searcher=searcher, constraints=tuple(constraints), energy=energy,
            objective=objective, budget=budget, seed=seed, threshold=threshold, progress=progress,
            label_suffix=f" ({network.name})" if len(comp["runs"]) > 1 else "",
        ))
    arch_modelled = {"peak_tops": None if clock is None else 2.0 * arch.compute.instances * clock / 1e12}
    arch_figs = comp.get("arch_figures") or {}
    arch_figures = tuple(_figure(k, ARCH_FIGURES, arch_figs[k], arch_modelled[k], threshold)
                         for k in ARCH_FIGURES if k in arch_figs)
    used = {f["source"] for f in arch_figs.values()}
    for run in comp["runs"]:
        used |= {f["source"] for f in (run.get("figures") or {}).values()}
        if run.get("layers_source"):
            used.add(run["layers_source"]["source"])
    sources = tuple((k, str(data["sources"][k]["citation"])) for k in sorted(used))
    settings = (("budget", budget), ("seed", seed), ("objective", objective), ("energy", energy_source),
                ("energy_detail", energy.describe()), ("constraints", tuple(comp.get("constraints") or ())),
                ("far_threshold", threshold))
    return ComparisonResult(
        name=name, title=str(comp["title"]), arch=str(comp["arch"]), clock_hz=clock, settings=settings,
        assumptions=tuple(comp.get("assumptions") or ()), arch_figures=arch_figures, runs=tuple(runs),
        sources=sources, seconds=time.monotonic() - t0,
    )


# ---------------------------------------------------------------------------
# text
# ---------------------------------------------------------------------------


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    if x == 0:
        return "0"
    if abs(x) >= 1e6:
        return f"{x:.4g}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _err(f: Figure) -> str:
    e = f.rel_error
    return "-" if e is None else f"{e:+.0%}"


def _table(headers: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = [indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return lines


def format_comparison(result: ComparisonResult) -> str:
    """The human-readable report of ``tnx compare``: settings, per-layer table, figures, reasons, sources."""
    s = dict(result.settings)
    clock = "no clock" if result.clock_hz is None else f"{result.clock_hz / 1e6:.4g} MHz"
    lines = [
        f"{result.name}: {result.title}",
        f"arch {result.arch} at {clock}; mapper objective {s['objective']}, budget {s['budget']} per layer, "
        f"seed {s['seed']}; energy {s['energy']} ({s['energy_detail']})",
        "assumptions:",
        *[f"  - {a}" for a in result.assumptions],
    ]
    far: list[Figure] = []
    for run in result.runs:
        batch = f", batch {run.batch}" if run.batch is not None else ""
        lines.append("")
        lines.append(f"{run.network}{batch} ({run.images} images per pass):")
        rows = []
        for layer in run.layers:
            pub = dict(layer.published)
            figs = {f.key: f for f in layer.figures}

            def cell(key: str, value: float | None, pub: dict = pub, figs: dict = figs) -> str:
                text = _num(value)
                if key in pub:
                    text += f" / {_num(pub[key])} ({_err(figs[key])})"
                return text

            v = _layer_values(layer)
            rows.append([
                layer.name + ("" if layer.valid else " (INVALID)"), str(layer.count),
                f"{layer.count * layer.macs / 1e6:.4g}", cell("latency_ms", v["latency_ms"]),
                cell("active_pes", v["active_pes"]), f"{layer.utilization:.0%}",
                cell("dram_mb", v["dram_mb"]), cell("power_mw", v["power_mw"]), layer.bound,
            ])
        lines.append("  per layer, over its count (modelled / published (error)):")
        lines += _table(["layer", "count", "MMACs", "latency ms", "active PEs", "util", "DRAM MB", "power mW", "bound by"],
                        rows, "    ")
        total_ms = None if run.latency_s is None else run.latency_s * 1e3
        lines.append(f"  total: {run.macs / 1e6:.6g} M MACs, {run.cycles:,} cycles = {_num(total_ms)} ms, "
                     f"{run.energy_pj / 1e6:.4g} uJ ({run.onchip_energy_pj / 1e6:.4g} uJ on chip), "
                     f"{run.dram_words:,.0f} DRAM words")
    figures = result.figures
    if figures:
        lines.append("")
        lines.append("published vs modelled:")
        rows = [[f.label, f.unit, _num(f.published), _num(f.modelled), _err(f) + (" *" if f.far else ""), f.source]
                for f in figures]
        lines += _table(["figure", "unit", "published", "modelled", "error", "source"], rows)
        far = [f for f in figures if f.far]
    if far:
        lines.append(f"  * further than {s['far_threshold']:.0%} from the published figure; why:")
        for f in far:
            lines.append(f"  - {f.label}: {f.why or 'no explanation recorded'}")
    lines.append("")
    lines.append("sources:")
    lines += [f"  [{k}] {c}" for k, c in result.sources]
    lines.append(f"({result.seconds:.1f} s)")
    return "\n".join(lines)
