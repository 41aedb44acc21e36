"""Joint search: contraction path x mapping x hardware parameters for a whole tensorized model.

A hardware space is a Jinja architecture template (by default the ``tt-kernel``
template: a systolic GEMM array and a streaming TT engine sharing DRAM and a global
buffer) and a grid of its variables (array rows/cols, TT lanes, buffer sizes,
bandwidths). Each grid point is a :class:`HardwareConfig`; its *engines* are the
template rendered once per value of the engine variable (``engine=gemm`` and
``engine=tt``), and every contraction step runs on the engine that is best for it.
Configurations outside the :class:`ResourceBudget` (MAC units, on-chip KiB, area from
the built-in energy/area tables) are dropped.

For a configuration, every layer of the model gets its hardware-aware path
(:func:`~tnx_timeloop.search.paths.search_path`, exact under the per-step mapper
costs), inference (forward) or training (forward + backward); the model's latency is
the sum over layers (times their counts), layers running one after another.

Configurations are compared on the objective's primary metric (cycles for
``latency``, pJ for ``energy``, pJ x cycles for ``edp``); ties go to the configuration
with the fewest resources (MAC units, then on-chip KiB, then area), which is evaluated
first. Search over configurations is a branch and bound: every configuration first gets a
lower bound (each layer's best path under per-step lower bounds, no mapping), the
configurations are evaluated in increasing order of that bound, ``jobs`` at a time in
worker processes, and the search stops when the best evaluated model cost is no larger
than the next bound -- the result is the optimum over the whole grid for the per-step
costs, usually after evaluating a few configurations. Mapper results go through the
evaluation cache, so runs resume and configurations sharing an engine share its steps.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tnx_timeloop.energy.tables import table_energy
from tnx_timeloop.errors import SearchError, SpecError, Where
from tnx_timeloop.frontends.tnmodel import TnModel
from tnx_timeloop.library import clock_hz_of
from tnx_timeloop.search.paths import PathResult, PathSpace, _dp, _resolve_method, search_path
from tnx_timeloop.search.stepcost import (
    DEFAULT_BUDGET,
    RESTARTS,
    Engine,
    MapperCoster,
    _check_objective,
    make_engine,
    objective_key,
)
from tnx_timeloop.spec.arch import Architecture, parse_architecture

__all__ = [
    "ResourceBudget",
    "HardwareSpace",
    "HardwareConfig",
    "LayerResult",
    "ConfigResult",
    "JointResult",
    "DenseComparison",
    "tt_kernel_space",
    "enumerate_configs",
    "evaluate_config",
    "joint_search",
    "compare_dense",
    "MODES",
    "DEFAULT_TOLERANCE",
]

MODES = ("inference", "training")

DEFAULT_TOLERANCE = 0.01
"""Relative tolerance of the configuration branch and bound (see :func:`joint_search`)."""
"""What a model evaluation covers: the forward pass, or forward + backward."""


@dataclass(frozen=True, slots=True)
class ResourceBudget:
    """Upper limits a hardware configuration must meet (None = no limit).

    Attributes
    ----------
    max_pes : int, optional
        MAC units over all engines.
    max_on_chip_kib : float, optional
        On-chip storage over all engines (a level shared by engines counted once), in KiB.
    max_area_mm2 : float, optional
        Silicon area of the on-chip levels and MACs from the built-in tables, in mm^2.
    """

    max_pes: int | None = None
    max_on_chip_kib: float | None = None
    max_area_mm2: float | None = None

    def admits(self, cfg: HardwareConfig) -> bool:
        """Whether ``cfg`` is within every limit."""
        return (
            (self.max_pes is None or cfg.pes <= self.max_pes)
            and (self.max_on_chip_kib is None or cfg.on_chip_kib <= self.max_on_chip_kib + 1e-9)
            and (self.max_area_mm2 is None or cfg.area_mm2 <= self.max_area_mm2 + 1e-12)
        )

    def describe(self) -> str:
        """``max_pes=512, max_on_chip_kib=1024`` (or ``unlimited``)."""
        parts = [f"{k}={getattr(self, k):g}" for k in ("max_pes", "max_on_chip_kib", "max_area_mm2")
                 if getattr(self, k) is not None]
        return ", ".join(parts) or "unlimited"


@dataclass(frozen=True, slots=True)
class HardwareSpace:
    """A template and the grid of its variables.

    Attributes
    ----------
    template : str
        Path of the Jinja architecture file.
    grid : tuple of (str, tuple)
        Variable -> candidate values (the configurations are their product).
    fixed : tuple of (str, Any)
        Variables set to one value.
    engines : tuple of str
        Values of ``engine_variable``; the template is rendered once per value and a
        configuration's steps run on the best engine. Empty: render once, one engine.
    engine_variable : str
    energy : str
        Energy source of the step costs (``auto``: Timeloop's built-in model).
    """

    template: str
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    fixed: tuple[tuple[str, Any], ...] = ()
    engines: tuple[str, ...] = ("gemm", "tt")
    engine_variable: str = "engine"
    energy: str = "auto"

    @property
    def size(self) -> int:
        """Number of grid points."""
        return math.prod(len(v) for _, v in self.grid)


def tt_kernel_space(template: Path | str | None = None, *, grid: Mapping[str, Sequence[Any]] | None = None,
                    fixed: Mapping[str, Any] | None = None, engines: Sequence[str] = ("gemm", "tt")) -> HardwareSpace:
    """The default space over the ``tt-kernel`` template.

    Default grid: ``rows``, ``cols`` in {8, 16, 32}, ``tt_lanes`` in {8, 16, 32},
    ``glb_kib`` in {128, 512}, ``core_buffer_kib`` in {32, 128}, ``glb_bw`` in {32, 64}
    (216 configurations); ``dram_bw`` fixed at the template's 16 words/cycle.
    """
    if template is None:
        from tnx_timeloop.library import find_arch

        template = find_arch("tt-kernel")
    default = {"rows": (8, 16, 32), "cols": (8, 16, 32), "tt_lanes": (8, 16, 32), "glb_kib": (128, 512),
               "core_buffer_kib": (32, 128), "glb_bw": (32, 64)}
    g = {k: tuple(v) for k, v in (grid or default).items()}
    return HardwareSpace(str(template), tuple(g.items()), tuple((fixed or {}).items()), tuple(engines))


@dataclass(frozen=True, slots=True)
class HardwareConfig:
    """One point of a hardware space, with its resources.

    Attributes
    ----------
    variables : tuple of (str, Any)
        Template variables (the grid point plus the fixed ones).
    pes : int
        MAC units over all engines.
    on_chip_kib : float
        On-chip storage in KiB (shared levels once).
    area_mm2 : float
        Area of on-chip levels and MACs in mm^2 (built-in tables).
    clock_hz : float or None
    """

    variables: tuple[tuple[str, Any], ...]
    pes: int
    on_chip_kib: float
    area_mm2: float
    clock_hz: float | None = None

    def label(self) -> str:
        """``rows=16 cols=16 ...``."""
        return " ".join(f"{k}={v}" for k, v in self.variables)

    def to_dict(self) -> dict[str, Any]:
        """JSON view."""
        return {"variables": dict(self.variables), "pes": self.pes, "on_chip_kib": self.on_chip_kib,
                "area_mm2": self.area_mm2, "clock_hz": self.clock_hz}


_TEMPLATES: dict[str, Any] = {}
_ARCHS: dict[tuple[str, str], Architecture] = {}
_TABLES: dict[int, Any] = {}


def _render(template: str, variables: Mapping[str, Any]) -> Architecture:
    """Render and parse a template (compiled once; identical renderings parsed once)."""
    import jinja2

    from tnx_timeloop.spec.yaml_io import load_yaml_text

    compiled = _TEMPLATES.get(template)
    if compiled is None:
        text = Path(template).read_text(encoding="utf-8")
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        try:
            compiled = env.from_string(text)
        except jinja2.TemplateSyntaxError as err:
            raise SpecError(Where(template).at_line(err.lineno), f"template syntax error: {err.message}") from None
        _TEMPLATES[template] = compiled
    try:
        rendered = compiled.render(**dict(variables))
    except jinja2.UndefinedError as err:
        raise SpecError(Where(template), f"template variable missing: {err.message}") from None
    key = (template, rendered)
    hit = _ARCHS.get(key)
    if hit is None:
        doc = load_yaml_text(rendered, source=template)
        if not isinstance(doc, Mapping) or "architecture" not in doc:
            raise SpecError(Where(template), "the hardware template must hold a top-level 'architecture'")
        hit = parse_architecture(doc["architecture"], where=Where(template, ("architecture",)))
        _ARCHS[key] = hit
    return hit


def _tables(arch: Architecture) -> Any:
    key = id(arch)
    hit = _TABLES.get(key)
    if hit is None:
        hit = (arch, table_energy(arch))
        _TABLES[key] = hit
    return hit[1]


def _engine_archs(space: HardwareSpace, variables: Mapping[str, Any]) -> list[tuple[str, Architecture]]:
    if not space.engines:
        return [(Path(space.template).stem, _render(space.template, variables))]
    return [(e, _render(space.template, {**variables, space.engine_variable: e})) for e in space.engines]


def _resources(archs: Sequence[Architecture]) -> tuple[int, float, float, float | None]:
    pes = sum(a.compute.instances for a in archs)
    bits: dict[str, float] = {}
    area: dict[str, float] = {}
    mac_area = 0.0
    for a in archs:
        tables = _tables(a)
        for level, e in zip(a.storage, tables.storage, strict=True):
            if level.is_dram or level.is_dummy or level.size_words is None:
                continue
            bits[level.name] = level.size_words * level.word_bits * level.instances
            area[level.name] = (e.area_um2 or 0.0) * level.instances
        mac_area += (tables.compute_area_um2 or 0.0) * a.compute.instances
    clock = clock_hz_of(archs[0]) if archs else None
    return pes, sum(bits.values()) / 8 / 1024, (sum(area.values()) + mac_area) / 1e6, clock


def _check_variables(space: HardwareSpace) -> None:
    from tnx_timeloop.spec.templates import template_variables

    path = Path(space.template)
    if not path.exists():
        raise SpecError(Where(path), "hardware template not found")
    known = template_variables(path.read_text(encoding="utf-8"))
    given = [k for k, _ in space.grid] + [k for k, _ in space.fixed]
    unknown = [k for k in given if k not in known]
    if unknown:
        raise SpecError(Where(path), f"unknown template variable {unknown[0]!r}; the template takes {sorted(known)}")
    if space.engines and space.engine_variable not in known:
        raise SpecError(Where(path), f"the template has no {space.engine_variable!r} variable to select engines "
                        f"{list(space.engines)}; pass engines=() (CLI: --engines '')")
    empty = [k for k, v in space.grid if not v]
    if empty:
        raise SpecError(Where(path), f"grid variable {empty[0]!r} has no values")


def enumerate_configs(space: HardwareSpace, budget: ResourceBudget | None = None) -> list[HardwareConfig]:
    """Every configuration of ``space`` within ``budget``.

    Raises
    ------
    SearchError
        When no configuration meets the budget, naming the budget and the smallest
        configuration's resources.
    """
    budget = budget or ResourceBudget()
    _check_variables(space)
    names = [k for k, _ in space.grid]
    out: list[HardwareConfig] = []
    smallest: HardwareConfig | None = None
    for values in itertools.product(*[v for _, v in space.grid]):
        variables = (*space.fixed, *zip(names, values, strict=True))
        archs = [a for _, a in _engine_archs(space, dict(variables))]
        pes, kib, mm2, clock = _resources(archs)
        cfg = HardwareConfig(tuple(variables), pes, kib, mm2, clock)
        if smallest is None or (cfg.pes, cfg.on_chip_kib, cfg.area_mm2) < (smallest.pes, smallest.on_chip_kib, smallest.area_mm2):
            smallest = cfg
        if budget.admits(cfg):
            out.append(cfg)
    if not out:
        s = smallest
        detail = "" if s is None else (f"; the smallest configuration ({s.label()}) needs {s.pes} PEs, "
                                       f"{s.on_chip_kib:g} KiB on chip and {s.area_mm2:.3f} mm^2")
        raise SearchError(f"no hardware configuration of {space.template} meets the budget ({budget.describe()}){detail}")
    return out


# ---------------------------------------------------------------------------
# evaluating one configuration
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LayerResult:
    """One layer's best path on a configuration."""

    name: str
    count: int
    path: PathResult

    def to_dict(self) -> dict[str, Any]:
        """JSON view (the path without per-step details)."""
        p = self.path
        return {"name": self.name, "count": self.count, "cycles": p.cycles, "energy_pj": p.energy_pj,
                "macs": p.macs, "utilization": p.utilization, "path": p.to_dict()["path"], "method": p.method,
                "steps": len(p.steps), "engines": sorted({s.cost.engine for s in p.steps})}


@dataclass(frozen=True, slots=True)
class ConfigResult:
    """A model evaluated on one hardware configuration.

    Attributes
    ----------
    config : HardwareConfig
    layers : tuple of LayerResult
    cycles : int
        Model latency in cycles (sum over layers times counts).
    energy_pj : float
    lower_bound : tuple of float
        The configuration's bound ``(cycles, pJ)`` used to order and prune.
    seconds : float
    """

    config: HardwareConfig
    layers: tuple[LayerResult, ...]
    cycles: int
    energy_pj: float
    lower_bound: tuple[float, float] = (0.0, 0.0)
    seconds: float = 0.0

    @property
    def latency_s(self) -> float | None:
        """Latency in seconds at the configuration's clock (None without a clock)."""
        return None if not self.config.clock_hz else self.cycles / self.config.clock_hz

    def to_dict(self) -> dict[str, Any]:
        """JSON view."""
        return {"config": self.config.to_dict(), "cycles": self.cycles, "energy_pj": self.energy_pj,
                "edp": self.cycles * self.energy_pj, "latency_s": self.latency_s,
                "lower_bound_cycles": self.lower_bound[0], "lower_bound_energy_pj": self.lower_bound[1],
                "seconds": self.seconds, "layers": [x.to_dict() for x in self.layers]}


def _engines(space: HardwareSpace, cfg: HardwareConfig) -> list[Engine]:
    return [make_engine(a, name, space.energy) for name, a in _engine_archs(space, dict(cfg.variables))]


def _model_bound(model: TnModel, engines: Sequence[Engine], spaces: Mapping[str, PathSpace]) -> tuple[float, float]:
    """``(cycles, pJ)`` no evaluation of ``model`` on ``engines`` goes below, whatever the paths.

    Each metric is bounded separately (its own best tree under per-step lower bounds),
    so the pair bounds every objective's key: latency, energy and their product.
    """
    coster = MapperCoster(engines)
    cycles = energy = 0.0
    for layer in model.layers:
        space = spaces[layer.name]
        cycles += layer.count * _dp(space, coster.lower_bound, "latency")[1][0]
        energy += layer.count * _dp(space, coster.lower_bound, "energy")[1][0]
    return cycles, energy


def evaluate_config(model: TnModel, space: HardwareSpace, cfg: HardwareConfig, *, objective: str = "latency",
                    mode: str = "inference", method: str = "auto", budget: int = DEFAULT_BUDGET,
                    restarts: int = RESTARTS, seed: int = 0, cache: Any = None,
                    lower: tuple[float, float] = (0.0, 0.0)) -> ConfigResult:
    """Every layer's hardware-aware path on one configuration, and the model totals.

    Parameters
    ----------
    model : TnModel
    space : HardwareSpace
    cfg : HardwareConfig
    objective : str
        ``latency``, ``energy`` or ``edp`` (per layer; model EDP is then total energy x total cycles).
    mode : str
        ``inference`` or ``training``.
    method : str
        Path search (see :func:`~tnx_timeloop.search.paths.search_path`).
    budget, restarts, seed, cache
        Mapper settings (see :class:`~tnx_timeloop.search.stepcost.MapperCoster`).
    lower : (float, float)
        The configuration's lower bound, recorded in the result.
    """
    start = time.perf_counter()
    training = _check_mode(mode)
    coster = MapperCoster(_engines(space, cfg), objective=objective, budget=budget, restarts=restarts, seed=seed,
                          cache=cache)
    layers = []
    for layer in model.layers:
        r = search_path(layer.network, coster, method=method, training=training)
        layers.append(LayerResult(layer.name, layer.count, r))
    cycles = sum(x.count * x.path.cycles for x in layers)
    energy = sum(x.count * x.path.energy_pj for x in layers)
    return ConfigResult(cfg, tuple(layers), int(cycles), float(energy), lower, time.perf_counter() - start)


def _check_mode(mode: str) -> bool:
    key = mode.lower()
    if key not in MODES:
        raise SearchError(f"unknown mode {mode!r}; choose one of {list(MODES)}")
    return key == "training"


def _worker(args: tuple) -> ConfigResult:
    model, space, cfg, objective, mode, method, budget, restarts, seed, cache, lower = args
    return evaluate_config(model, space, cfg, objective=objective, mode=mode, method=method, budget=budget,
                           restarts=restarts, seed=seed, cache=cache, lower=lower)


# ---------------------------------------------------------------------------
# the joint search
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JointResult:
    """The best configuration and how the search got there.

    Attributes
    ----------
    model : str
    mode : str
    objective : str
    budget : ResourceBudget
    best : ConfigResult
    evaluated : tuple of ConfigResult
        Configurations evaluated, in evaluation order.
    candidates : int
        Configurations within the budget.
    pruned : int
        Configurations never evaluated because their lower bound could not beat the best
        by more than ``tolerance``.
    seconds : float
    """

    model: str
    mode: str
    objective: str
    budget: ResourceBudget
    best: ConfigResult
    evaluated: tuple[ConfigResult, ...] = ()
    candidates: int = 0
    pruned: int = 0
    seconds: float = 0.0
    parameters: int = 0
    notes: tuple[str, ...] = field(default=())
    tolerance: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON view."""
        return {
            "model": self.model, "mode": self.mode, "objective": self.objective,
            "budget": {"max_pes": self.budget.max_pes, "max_on_chip_kib": self.budget.max_on_chip_kib,
                       "max_area_mm2": self.budget.max_area_mm2},
            "parameters": self.parameters,
            "best": self.best.to_dict(),
            "candidates": self.candidates, "evaluated": len(self.evaluated), "pruned": self.pruned,
            "tolerance": self.tolerance,
            "seconds": self.seconds,
            "ranking": [{"config": r.config.to_dict()["variables"], "cycles": r.cycles, "energy_pj": r.energy_pj,
                         "lower_bound_cycles": r.lower_bound[0]} for r in self.evaluated],
            "notes": list(self.notes),
        }


def _key(objective: str, cycles: float, energy: float) -> tuple[float, float]:
    return objective_key(objective, cycles, energy)


def joint_search(model: TnModel, space: HardwareSpace, budget: ResourceBudget | None = None, *,
                 objective: str = "latency", mode: str = "inference", method: str = "auto",
                 mapper_budget: int = DEFAULT_BUDGET, restarts: int = RESTARTS, seed: int = 0, cache: Any = None,
                 jobs: int | None = None, exhaustive: bool = False, max_configs: int | None = None,
                 tolerance: float = DEFAULT_TOLERANCE) -> JointResult:
    """Find the hardware configuration, paths and mappings minimising the model's cost.

    Parameters
    ----------
    model : TnModel
    space : HardwareSpace
    budget : ResourceBudget, optional
    objective : str
        ``latency`` (default), ``energy`` or ``edp``.
    mode : str
        ``inference`` or ``training``.
    method : str
        Per-layer path search.
    mapper_budget, restarts : int
        Mapper evaluations per restart, and restarts, per (step, engine).
    seed : int
    cache : EvaluationCache, optional
    jobs : int, optional
        Worker processes (default: every core).
    exhaustive : bool
        Evaluate every configuration (no pruning), e.g. to plot the landscape.
    max_configs : int, optional
        Stop after evaluating this many (the result is then the best found, not proven).
    tolerance : float
        Stop once no unevaluated configuration's bound is below the best cost divided by
        ``1 + tolerance``: the result is within that fraction of the best configuration
        (0 = exact for the per-step costs; the default matches the step searches' own 1 %
        stopping gap, and saves evaluating configurations that could win by less).

    Returns
    -------
    JointResult

    Raises
    ------
    SearchError
        For an unknown objective or mode, or when no configuration meets the budget.

    Notes
    -----
    Cost: the bound of every configuration (a DP per layer without mapping), then per
    evaluated configuration the lazy path searches of its layers.
    """
    start = time.perf_counter()
    objective = _check_objective(objective)
    training = _check_mode(mode)
    budget = budget or ResourceBudget()
    configs = enumerate_configs(space, budget)
    spaces = {}
    for layer in model.layers:
        key, outer = _resolve_method(method, len(layer.network.tensors))
        spaces[layer.name] = PathSpace(layer.network, training=training, outer=outer)
    bounds = []
    for cfg in configs:
        lb = _model_bound(model, _engines(space, cfg), spaces)
        bounds.append((lb, cfg))
    bounds.sort(key=lambda bc: (_key(objective, *bc[0]), bc[1].pes, bc[1].on_chip_kib, bc[1].area_mm2))
    jobs = max(1, int(jobs if jobs is not None else (os.cpu_count() or 1)))
    evaluated: list[ConfigResult] = []
    best: ConfigResult | None = None
    pos = 0
    notes: list[str] = []
    pool = None
    try:
        while pos < len(bounds):
            if best is not None and not exhaustive and \
                    _key(objective, *bounds[pos][0])[0] * (1 + tolerance) >= _key(objective, best.cycles, best.energy_pj)[0]:
                break
            if max_configs is not None and len(evaluated) >= max_configs:
                notes.append(f"stopped after {max_configs} configurations (max_configs): best found, not proven optimal")
                break
            batch = bounds[pos:pos + jobs]
            pos += len(batch)
            tasks = [(model, space, cfg, objective, mode, method, mapper_budget, restarts, seed, cache, lb)
                     for lb, cfg in batch]
            if jobs > 1 and len(tasks) > 1:
                if pool is None:
                    import multiprocessing as mp
                    from concurrent.futures import ProcessPoolExecutor

                    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
                    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)
                results = list(pool.map(_worker, tasks))
            else:
                results = [_worker(t) for t in tasks]
            for r in results:
                evaluated.append(r)
                if best is None or _key(objective, r.cycles, r.energy_pj)[0] < _key(objective, best.cycles, best.energy_pj)[0]:
                    best = r
    finally:
        if pool is not None:
            pool.shutdown()
    assert best is not None
    return JointResult(model=model.name, mode=mode, objective=objective, budget=budget, best=best,
                       evaluated=tuple(evaluated), candidates=len(configs), pruned=len(bounds) - len(evaluated),
                       seconds=time.perf_counter() - start, parameters=model.parameters, notes=tuple(notes),
                       tolerance=tolerance)


@dataclass(frozen=True, slots=True)
class DenseComparison:
    """A tensorized model and its dense baseline, each on its best configuration under one budget.

    Attributes
    ----------
    tensorized, dense : JointResult
    dense_on_tensorized_config : ConfigResult
        The dense model on the tensorized model's best configuration (same hardware).
    """

    tensorized: JointResult
    dense: JointResult
    dense_on_tensorized_config: ConfigResult

    @property
    def speedup(self) -> float:
        """Dense latency / tensorized latency, each on its best configuration."""
        return self.dense.best.cycles / self.tensorized.best.cycles

    @property
    def speedup_same_config(self) -> float:
        """Dense latency / tensorized latency on the tensorized model's configuration."""
        return self.dense_on_tensorized_config.cycles / self.tensorized.best.cycles

    @property
    def energy_ratio(self) -> float:
        """Dense energy / tensorized energy, each on its best configuration."""
        return self.dense.best.energy_pj / self.tensorized.best.energy_pj

    @property
    def compression(self) -> float:
        """Dense parameters / tensorized parameters."""
        return self.dense.parameters / max(1, self.tensorized.parameters)

    def to_dict(self) -> dict[str, Any]:
        """JSON view."""
        return {"speedup": self.speedup, "speedup_same_config": self.speedup_same_config,
                "energy_ratio": self.energy_ratio, "compression": self.compression,
                "tensorized": self.tensorized.to_dict(), "dense": self.dense.to_dict(),
                "dense_on_tensorized_config": self.dense_on_tensorized_config.to_dict()}


def compare_dense(model: TnModel, space: HardwareSpace, budget: ResourceBudget | None = None, *,
                  dense: TnModel | None = None, objective: str = "latency", mode: str = "inference",
                  method: str = "auto", mapper_budget: int = DEFAULT_BUDGET, restarts: int = RESTARTS, seed: int = 0,
                  cache: Any = None, jobs: int | None = None, exhaustive: bool = False, max_configs: int | None = None,
                  tolerance: float = DEFAULT_TOLERANCE) -> DenseComparison:
    """Joint search for the tensorized model and for its dense baseline under the same budget.

    Parameters
    ----------
    dense : TnModel, optional
        The dense model (default: :meth:`TnModel.dense_baseline`).
    Other parameters as :func:`joint_search`.
    """
    dense = dense or model.dense_baseline()
    kw: dict[str, Any] = dict(objective=objective, mode=mode, method=method, mapper_budget=mapper_budget,
                              restarts=restarts, seed=seed,
                              cache=cache, jobs=jobs, exhaustive=exhaustive, max_configs=max_configs,
                              tolerance=tolerance)
    tt = joint_search(model, space, budget, **kw)
    dn = joint_search(dense, space, budget, **kw)
    same = evaluate_config(dense, space, tt.best.config, objective=objective, mode=mode, method=method,
                           budget=mapper_budget, restarts=restarts, seed=seed, cache=cache)
    return DenseComparison(tt, dn, same)
