"""The cost of one pairwise contraction on an accelerator: mapper results and lower bounds.

A path search asks for the latency and energy of many pairwise contractions. Each is
reduced to its :class:`~tnx_timeloop.frontends.tensornet.CanonicalContraction` (a
batched GEMM), so identical steps are mapped once, and mapped with
:func:`~tnx_timeloop.mapper.search_mappings` on every *engine* (an architecture; a
platform with several compute engines, such as the ``tt-kernel`` template's systolic
GEMM array and streaming TT engine, runs each step on the engine that is best for it).

Every step also has a *lower bound* that holds for every valid mapping the model can
evaluate (see :func:`lower_bound`); path searches use it to skip mapping steps that
cannot be on the optimal path, which keeps them exact while mapping few steps.

Mapper budget: each (step, engine) is mapped by the mapper's own searchers on its
mapspace: exhaustively when the space holds at most ``restarts x budget`` mappings, else
by the ``hybrid`` searcher -- first on the subspace whose spatial factors are fixed to
the assignment that uses the most MAC units (:func:`spatial_plan`), then ``restarts``
(default :data:`RESTARTS` = 3) times on the whole space with seeds ``seed, seed + 1,
...`` -- each run with at most ``budget`` evaluations (default :data:`DEFAULT_BUDGET` =
2,000) in batches of :data:`STEP_BATCH` = 256. Everything stops as soon as a mapping is
within :data:`STOP_GAP` (1 %) of the step's lower bound: that mapping is within 1 % of
the optimum for the model, whatever the budget, and most steps of tensorized layers
stop there after a few hundred evaluations. Small batches matter: with the mapper's
default batch of 2,048 a budget of a few thousand is spent on random sampling alone.

All runs are seeded, so a step's cost is a deterministic function of (architecture,
canonical problem, objective, budget, restarts, seed): path searches are exact *under
these per-step costs* (the DP never compares costs from different settings), and each
step reports its gap to its bound. Results are kept in the evaluation cache under the
canonical keys.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from tnx_timeloop.cache import cache_key
from tnx_timeloop.energy.tables import ArchEnergy, select_energy
from tnx_timeloop.errors import SearchError, SpecError
from tnx_timeloop.frontends.tensornet import CanonicalContraction, canonical_problem
from tnx_timeloop.mapper.constraints import parse_constraints
from tnx_timeloop.mapper.mapspace import MapSpace
from tnx_timeloop.mapper.search import SEARCHERS, Budget, Evaluator, Objective
from tnx_timeloop.model.report import Report
from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.mapping import mapping_to_list
from tnx_timeloop.spec.problem import Problem

__all__ = [
    "Engine",
    "make_engine",
    "StepCost",
    "StepCoster",
    "MapperCoster",
    "PATH_OBJECTIVES",
    "step_objective",
    "objective_key",
    "lower_bound",
    "max_spatial_product",
    "max_spatial_product_xy",
    "max_parallelism",
    "spatial_plan",
    "DEFAULT_BUDGET",
    "STEP_BATCH",
    "RESTARTS",
    "STOP_GAP",
]

PATH_OBJECTIVES = ("latency", "energy", "edp")
"""Objectives of a path search: total cycles, total pJ, or their product."""

DEFAULT_BUDGET = 2000
"""Mapper evaluations per restart of a (step, engine) search; it stops earlier at the bound."""

RESTARTS = 3
"""Independent hybrid runs per (step, engine) search (different seeds; the best is kept)."""

STEP_BATCH = 256
"""Mappings per model call in a step's hybrid search."""

STOP_GAP = 0.01
"""A step's search stops once its primary metric is within this fraction of the lower bound."""


def _check_objective(objective: str) -> str:
    key = str(objective).lower()
    if key in ("delay", "cycles"):
        key = "latency"
    if key not in PATH_OBJECTIVES:
        raise SearchError(f"unknown objective {objective!r}; choose one of {list(PATH_OBJECTIVES)}")
    return key


def step_objective(objective: str) -> Any:
    """The mapper objective for one step: the path objective first, the other metric breaking ties."""
    key = _check_objective(objective)
    return {"latency": ["latency", "energy"], "energy": ["energy", "latency"], "edp": "edp"}[key]


def objective_key(objective: str, cycles: float, energy_pj: float) -> tuple[float, float]:
    """Sort key of a (cycles, pJ) pair under ``objective`` (smaller is better)."""
    key = _check_objective(objective)
    if key == "latency":
        return (cycles, energy_pj)
    if key == "energy":
        return (energy_pj, cycles)
    return (energy_pj * cycles, cycles)


@dataclass(frozen=True, slots=True)
class Engine:
    """An architecture a step can run on, with its per-action energies.

    Attributes
    ----------
    name : str
        Label in reports (``"gemm"``, ``"tt"``, a file stem...).
    arch : Architecture
    energy : ArchEnergy
        pJ per action (from :func:`~tnx_timeloop.energy.tables.select_energy`).
    extra_dims : tuple of str
        Dimension names the architecture's inline constraints mention; lowered problems
        get them with bound 1 so that such constraints still parse.
    """

    name: str
    arch: Architecture
    energy: ArchEnergy
    extra_dims: tuple[str, ...] = ()


_FACTOR_NAME = re.compile(r"([A-Za-z_]\w*)\s*(?:<=|>=|=)")


def _constraint_dims(arch: Architecture) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for _target, _kind, value in arch.constraints:
        items = dict(value) if isinstance(value, tuple) and all(
            isinstance(x, tuple) and len(x) == 2 for x in value) else {}
        fac = items.get("factors")
        if isinstance(fac, str):
            for m in _FACTOR_NAME.finditer(fac):
                names.setdefault(m.group(1), None)
        elif isinstance(fac, tuple):
            for f in fac:
                m = _FACTOR_NAME.match(str(f))
                if m:
                    names.setdefault(m.group(1), None)
        perm = items.get("permutation")
        if isinstance(perm, str):
            parts = re.split(r"[\s,]+", perm.strip()) if re.search(r"[\s,]", perm.strip()) else list(perm.strip())
            for p in parts:
                if p:
                    names.setdefault(p, None)
        elif isinstance(perm, tuple):
            for p in perm:
                names.setdefault(str(p), None)
    return tuple(names)


def make_engine(arch: Architecture, name: str | None = None, energy: str | ArchEnergy = "auto") -> Engine:
    """An :class:`Engine` for ``arch`` (energies from the source ``energy``, or given)."""
    table = energy if isinstance(energy, ArchEnergy) else select_energy(arch, energy)
    return Engine(name or arch.name, arch, table, _constraint_dims(arch))


@dataclass(frozen=True, slots=True)
class StepCost:
    """Cost of one canonical contraction on the best engine for it.

    The bound gap is measured against the lower bound of the engine that runs the step.

    Attributes
    ----------
    cycles : int
        Latency in cycles.
    energy_pj : float
        Energy in pJ.
    utilization : float
        MACs / (cycles x MAC units of the engine), 0..1.
    engine : str
        The engine that runs it.
    mapped : bool
        True for a mapper result, False for a lower bound.
    at_bound : bool
        The mapping is within :data:`STOP_GAP` of the step's lower bound (so within that
        fraction of the optimum for the model), or the mapper exhausted the space.
    bound_gap : float
        The objective's primary metric over its lower bound, minus 1 (0 = provably optimal).
    evaluated : int
        Mappings the mapper evaluated for this step (all engines, all stages).
    mapping : tuple
        The best mapping in Timeloop's list form (frozen), for reproduction.
    """

    cycles: int
    energy_pj: float
    utilization: float
    engine: str
    mapped: bool = True
    at_bound: bool = False
    evaluated: int = 0
    bound_gap: float = 0.0
    mapping: Any = field(default=(), compare=False, repr=False)


class StepCoster(Protocol):
    """What a path search needs: a lower bound for every step, mapped costs on demand."""

    objective: str

    def lower_bound(self, cc: CanonicalContraction) -> tuple[float, float]:
        """``(cycles, pJ)`` no mapping of ``cc`` beats on any engine."""
        ...

    def costs(self, ccs: Iterable[CanonicalContraction]) -> dict[CanonicalContraction, StepCost]:
        """Mapped costs of ``ccs`` (mapping those not known yet)."""
        ...

    def known(self, cc: CanonicalContraction) -> StepCost | None:
        """The mapped cost of ``cc`` if it was mapped already."""
        ...


@lru_cache(maxsize=65536)
def max_spatial_product(sizes: tuple[int, ...], units: int) -> int:
    """Largest ``prod(f_d)`` with ``f_d`` dividing ``sizes[d]`` and the product at most ``units``.

    No mapping can use more MAC units in parallel than this (the spatial factors of a
    perfect factorisation divide the dimension bounds).

    Parameters
    ----------
    sizes : tuple of int
        Dimension bounds.
    units : int
        MAC units of the architecture.

    Notes
    -----
    A dynamic program over the set of reachable products, ``O(D * units)``.
    """
    reach = {1}
    for s in sizes:
        divs = [f for f in range(1, min(s, units) + 1) if s % f == 0]
        reach = {r * f for r in reach for f in divs if r * f <= units}
    return max(reach)


@lru_cache(maxsize=65536)
def max_spatial_product_xy(sizes: tuple[int, ...], fanout_x: int, fanout_y: int) -> int:
    """Most MAC units one spatial level with an X x Y fan-out can use.

    Each dimension's spatial factor (a divisor of its bound) goes to one axis (as
    Timeloop's spatial permutation and split assign it); the factors on an axis
    multiply to at most its fan-out.

    Notes
    -----
    A dynamic program over reachable ``(x, y)`` products, ``O(D * X * Y)``.
    """
    reach = {(1, 1)}
    for s in sizes:
        nxt = set()
        for x, y in reach:
            for f in range(1, min(s, max(fanout_x, fanout_y)) + 1):
                if s % f:
                    continue
                if x * f <= fanout_x:
                    nxt.add((x * f, y))
                if y * f <= fanout_y:
                    nxt.add((x, y * f))
        reach = nxt
    return max(x * y for x, y in reach)


def max_parallelism(arch: Architecture, sizes: tuple[int, ...]) -> int:
    """Most MAC units a mapping of a problem with bounds ``sizes`` can keep busy on ``arch``.

    The smaller of :func:`max_spatial_product` over all MAC units and the product over
    spatial levels of :func:`max_spatial_product_xy`.
    """
    units = max_spatial_product(sizes, int(arch.compute.instances))
    per_level = 1
    for i in range(len(arch.storage)):
        fan = arch.fanout(i)
        if fan <= 1:
            continue
        fx, fy = arch.fanout_xy(i)
        per_level *= max_spatial_product_xy(sizes, fx, fy) if fx * fy == fan else max_spatial_product(sizes, fan)
    return max(1, min(units, per_level))


def lower_bound(engine: Engine, cc: CanonicalContraction) -> tuple[int, float]:
    """``(cycles, pJ)`` below which no valid mapping of ``cc`` on ``engine`` goes.

    * cycles >= MACs / (the most MAC units a perfect factorisation can use, see
      :func:`max_parallelism`), and
      >= the outermost level's compulsory traffic over its bandwidth: both operands read
      at least once (read bandwidth), the result written at least once (write
      bandwidth) -- the model's level cycles are ``ceil(max(compute, reads / read_bw,
      writes / write_bw))``;
    * energy >= MACs x pJ/MAC plus the outermost level's compulsory vector reads of the
      operands and vector updates of the result.

    Notes
    -----
    Mirrors :func:`tnx_timeloop.model.physical.finish`; the property test in
    ``tests/tn`` checks it against random valid mappings.
    """
    arch = engine.arch
    macs = cc.macs
    sizes = tuple(s for s in (cc.batch, cc.free_left, cc.free_right, cc.contracted, cc.sum_left, cc.sum_right) if s > 1)
    units = max_parallelism(arch, sizes)
    cycles = -(-macs // units)
    top = arch.storage[0]
    wa, wb, wo = cc.words
    if top.read_bandwidth:
        cycles = max(cycles, math.ceil((wa + wb) / top.read_bandwidth - 1e-9))
    if top.write_bandwidth:
        cycles = max(cycles, math.ceil(wo / top.write_bandwidth - 1e-9))
    e = engine.energy
    energy = macs * e.compute_pj
    if not top.is_dummy:
        block = max(1, top.block_size)
        lv = e.storage[0]
        energy += (-(-wa // block) + -(-wb // block)) * lv.read_pj + (-(-wo // block)) * lv.update_pj
    return int(cycles), float(energy)


def _primary(objective: str, cycles: float, energy: float) -> float:
    return objective_key(objective, cycles, energy)[0]


class _ReachedBound(Exception):
    """Raised inside the searcher when a mapping meets the lower bound (nothing can beat it)."""


class _Tracker:
    """The best mapping seen over several searches of one step."""

    def __init__(self, objective: Objective, target: float) -> None:
        self.objective = objective
        self.target = target
        self.best_key: tuple[float, ...] | None = None
        self.best_batch: Any = None
        self.best_report: Report | None = None
        self.evaluated = 0


class _TrackingEvaluator(Evaluator):
    """The mapper's evaluator, also reporting to a :class:`_Tracker` and stopping at the bound."""

    def __init__(self, space: MapSpace, energy: ArchEnergy, tracker: _Tracker) -> None:
        Evaluator.__init__(self, space, energy, 1)
        self.tracker = tracker

    def __call__(self, batch: Any) -> Report:
        report = Evaluator.__call__(self, batch)
        t = self.tracker
        t.evaluated += len(batch)
        scores = t.objective.scores(report)
        i = int(np.lexsort(tuple(reversed(scores)))[0])
        key = tuple(float(sc[i]) for sc in scores)
        if math.isfinite(key[0]) and (t.best_key is None or key < t.best_key):
            t.best_key = key
            t.best_batch = batch.take(np.array([i]))
            t.best_report = report.take(i)
            if key[0] <= t.target * (1 + STOP_GAP) + 1e-9:
                raise _ReachedBound
        return report


def spatial_plan(arch: Architecture, dims: Sequence[str], bounds: Sequence[int]) -> dict[str, int] | None:
    """Spatial factors using the most MAC units, for an architecture with one fanning-out level.

    Returns ``{dimension: factor}`` (every dimension named, 1 for the unused ones) such
    that each factor divides its bound and the factors fit the level's X and Y fan-outs
    with each dimension on one axis -- the assignment that reaches
    :func:`max_spatial_product_xy`; None when the architecture has several (or no)
    fanning-out levels.
    """
    levels = [i for i in range(len(arch.storage)) if arch.fanout(i) > 1]
    if len(levels) != 1:
        return None
    fx, fy = arch.fanout_xy(levels[0])
    if fx * fy != arch.fanout(levels[0]):
        return None
    reach: dict[tuple[int, int], tuple[int, ...]] = {(1, 1): ()}
    for s in bounds:
        nxt: dict[tuple[int, int], tuple[int, ...]] = {}
        for (x, y), fac in reach.items():
            for f in range(1, min(s, max(fx, fy)) + 1):
                if s % f:
                    continue
                if x * f <= fx:
                    nxt.setdefault((x * f, y), (*fac, f))
                if y * f <= fy and f > 1:
                    nxt.setdefault((x, y * f), (*fac, f))
        reach = nxt
    (x, y), fac = max(reach.items(), key=lambda kv: (kv[0][0] * kv[0][1], kv[0]))
    return dict(zip(dims, fac, strict=True))


def _planned_space(engine: Engine, problem: Problem) -> MapSpace | None:
    """The mapspace with the spatial factors fixed to :func:`spatial_plan` (None if not applicable)."""
    plan = spatial_plan(engine.arch, problem.dimensions, problem.bounds)
    if plan is None:
        return None
    level = next(i for i in range(len(engine.arch.storage)) if engine.arch.fanout(i) > 1)
    directive = {"target": engine.arch.storage[level].name, "type": "spatial",
                 "factors": " ".join(f"{d}={f}" for d, f in plan.items())}
    try:
        cons = parse_constraints(engine.arch, problem, [("tn-spatial-plan", ("mapspace_constraints", [directive]))])
        return MapSpace(engine.arch, problem, cons)
    except (SpecError, SearchError):
        return None


def _search_step(engine: Engine, cc: CanonicalContraction, objective: str, budget: int,
                 seed: int, restarts: int = RESTARTS) -> dict[str, Any]:
    """One step's mapping search: exhaustive if the space fits, else restarted hybrid, stopping at the bound.

    The mapper's ``hybrid`` searcher runs ``restarts`` times (seeds ``seed``, ``seed + 1``...)
    with ``budget`` evaluations each, in batches of :data:`STEP_BATCH` mappings (the
    default 2,048 spends a small budget on random sampling alone; small batches reach
    the local search). The best mapping over all runs is kept.
    """
    problem = canonical_problem(cc, engine.extra_dims)
    space = MapSpace(engine.arch, problem, parse_constraints(engine.arch, problem, ()))
    obj = Objective.parse(step_objective(objective))
    tracker = _Tracker(obj, _primary(objective, *lower_bound(engine, cc)))
    finished = False
    try:
        if space.size() <= budget * restarts:
            ev = _TrackingEvaluator(space, engine.energy, tracker)
            res = SEARCHERS["exhaustive"](space, ev, obj, Budget(budget * restarts), np.random.default_rng(seed),
                                          None, seed)
            finished = res.optimal
        else:
            planned = _planned_space(engine, problem)
            if planned is not None:
                ev = _TrackingEvaluator(planned, engine.energy, tracker)
                SEARCHERS["hybrid"](planned, ev, obj, Budget(budget), np.random.default_rng(seed), None, seed,
                                    batch_size=STEP_BATCH)
            for r in range(restarts):
                ev = _TrackingEvaluator(space, engine.energy, tracker)
                SEARCHERS["hybrid"](space, ev, obj, Budget(budget), np.random.default_rng(seed + r), None, seed + r,
                                    batch_size=STEP_BATCH)
    except _ReachedBound:
        finished = True
    if tracker.best_report is None:
        return {"ok": False, "evaluated": tracker.evaluated}
    rep = tracker.best_report
    mapping = tracker.best_batch.mapping(0, problem.dimensions, problem.dataspace_names)
    return {
        "ok": True,
        "cycles": int(rep.cycles[0]),
        "energy_pj": float(rep.energy_pj[0]),
        "utilization": float(rep.utilization[0]),
        "at_bound": bool(finished),
        "bound_gap": float(_primary(objective, int(rep.cycles[0]), float(rep.energy_pj[0])) / max(tracker.target, 1e-300) - 1),
        "evaluated": int(tracker.evaluated),
        "mapping": mapping_to_list(mapping, engine.arch),
    }


def _map_one(engine: Engine, cc: CanonicalContraction, objective: str, budget: int, restarts: int, seed: int,
             cache: Any) -> tuple[StepCost, float]:
    """Map one step on one engine (through the cache); returns the cost and the seconds spent."""
    start = time.perf_counter()
    key = None
    hit = None
    if cache is not None:
        key = cache_key("tn-step", engine.arch, canonical_problem(cc, engine.extra_dims), engine.energy,
                        step_objective(objective), int(budget), int(restarts), int(seed), STEP_BATCH)
        hit = cache.get(key)
    if hit is None:
        hit = _search_step(engine, cc, objective, budget, seed, restarts)
        if cache is not None and key is not None:
            cache.put(key, hit, kind="tn-step")
    if not hit["ok"]:
        raise SearchError(
            f"no valid mapping of contraction {cc.label()} on engine {engine.name!r} in {hit['evaluated']} "
            "evaluations; the architecture may be too small for it (check buffer sizes) or its constraints exclude it"
        )
    cost = StepCost(hit["cycles"], hit["energy_pj"], hit["utilization"], engine.name, True, hit["at_bound"],
                    hit["evaluated"], hit["bound_gap"], _freeze(hit["mapping"]))
    return cost, time.perf_counter() - start


def _freeze(v: Any) -> Any:
    if isinstance(v, dict):
        return tuple((k, _freeze(x)) for k, x in v.items())
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return v


_WORKER: dict[str, Any] = {}


def _init_worker(engines: tuple[Engine, ...], objective: str, budget: int, restarts: int, seed: int,
                 cache: Any) -> None:
    _WORKER.update(engines=engines, objective=objective, budget=budget, restarts=restarts, seed=seed, cache=cache)


def _worker_map(task: tuple[int, CanonicalContraction]) -> tuple[StepCost, float]:
    k, cc = task
    return _map_one(_WORKER["engines"][k], cc, _WORKER["objective"], _WORKER["budget"], _WORKER["restarts"],
                    _WORKER["seed"], _WORKER["cache"])


class MapperCoster:
    """Per-step costs from the mapper on one or more engines, memoised; lower bounds.

    Parameters
    ----------
    engines : Engine or sequence of Engine
        Where steps may run; each step takes the engine best for it under ``objective``.
    objective : str
        ``latency`` (cycles, then energy), ``energy`` (then cycles) or ``edp``.
    budget : int
        Mapper evaluations per restart of a (step, engine) search (see the module docstring).
    restarts : int
        Independent seeded hybrid runs per (step, engine); the best is kept.
    seed : int
        Mapper seed.
    cache : EvaluationCache, optional
        On-disk cache of mapper results (shared across runs and processes).
    jobs : int
        Processes mapping steps in parallel (1 = in this process).

    Attributes
    ----------
    mapper_calls : int
        (step, engine) pairs mapped by this coster.
    mapper_seconds : float
        Time spent mapping, summed over processes, in s.
    """

    def __init__(self, engines: Engine | Sequence[Engine], *, objective: str = "latency",
                 budget: int = DEFAULT_BUDGET, restarts: int = RESTARTS, seed: int = 0, cache: Any = None,
                 jobs: int = 1) -> None:
        self.engines = (engines,) if isinstance(engines, Engine) else tuple(engines)
        if not self.engines:
            raise SearchError("no engine (architecture) to map on")
        names = [e.name for e in self.engines]
        if len(set(names)) != len(names):
            raise SearchError(f"engine names repeat: {names}; give each engine its own name")
        self.objective = _check_objective(objective)
        if isinstance(budget, bool) or int(budget) < 1:
            raise SearchError(f"the mapper budget must be a positive integer, got {budget!r}")
        self.budget = int(budget)
        if isinstance(restarts, bool) or int(restarts) < 1:
            raise SearchError(f"restarts must be a positive integer, got {restarts!r}")
        self.restarts = int(restarts)
        self.seed = int(seed)
        self.cache = cache
        self.jobs = max(1, int(jobs))
        self._known: dict[CanonicalContraction, StepCost] = {}
        self._lb: dict[CanonicalContraction, tuple[float, float]] = {}
        self._pool: Any = None
        self.mapper_calls = 0
        self.mapper_seconds = 0.0

    def lower_bound(self, cc: CanonicalContraction) -> tuple[float, float]:
        """Componentwise minimum over engines of :func:`lower_bound`."""
        hit = self._lb.get(cc)
        if hit is None:
            bounds = [lower_bound(e, cc) for e in self.engines]
            hit = (float(min(b[0] for b in bounds)), float(min(b[1] for b in bounds)))
            self._lb[cc] = hit
        return hit

    def known(self, cc: CanonicalContraction) -> StepCost | None:
        """The mapped cost of ``cc``, if mapped already."""
        return self._known.get(cc)

    def costs(self, ccs: Iterable[CanonicalContraction]) -> dict[CanonicalContraction, StepCost]:
        """Map every step of ``ccs`` not mapped yet (in parallel when ``jobs > 1``)."""
        todo = [cc for cc in dict.fromkeys(ccs) if cc not in self._known]
        if todo:
            tasks = [(k, cc) for cc in todo for k in range(len(self.engines))]
            if self.jobs > 1 and len(tasks) > 1:
                results = list(self._executor().map(_worker_map, tasks))
            else:
                results = [_map_one(self.engines[k], cc, self.objective, self.budget, self.restarts, self.seed, self.cache)
                           for k, cc in tasks]
            self.mapper_calls += len(tasks)
            per_cc: dict[CanonicalContraction, list[StepCost]] = {}
            for (_, cc), (cost, secs) in zip(tasks, results, strict=True):
                self.mapper_seconds += secs
                per_cc.setdefault(cc, []).append(cost)
            for cc, options in per_cc.items():
                best = min(options, key=lambda c: objective_key(self.objective, c.cycles, c.energy_pj))
                total = sum(c.evaluated for c in options)
                self._known[cc] = StepCost(best.cycles, best.energy_pj, best.utilization, best.engine, True,
                                           best.at_bound, total, best.bound_gap, best.mapping)
        return {cc: self._known[cc] for cc in ccs}

    def _executor(self) -> Any:
        if self._pool is None:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs, mp_context=ctx, initializer=_init_worker,
                initargs=(self.engines, self.objective, self.budget, self.restarts, self.seed, self.cache),
            )
        return self._pool

    def close(self) -> None:
        """Stop worker processes (if any)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> MapperCoster:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
