"""Mapping searchers over the batched model, one signature for all (as opt_einsum's paths).

``searcher(space, evaluator, objective, budget, rng, progress) -> SearchResult``

* ``exhaustive`` -- every mapping (orders of non-trivial loops only), when the space fits the budget;
* ``random`` -- uniform samples, evaluated as drawn (Timeloop's ``random``);
* ``random-pruned`` -- uniform samples, pruned on capacity and fan-out before evaluation
  (Timeloop's ``random-pruned``);
* ``hybrid`` (default) -- random-pruned sampling, then local search from the best
  mappings found (moves of prime factors between levels, loop swaps, re-splits,
  bypass flips), evaluating whole batches at a time.

Termination: an evaluation budget, a time limit, and Timeloop's victory
condition (that many valid mappings in a row without improving the best).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tnx_timeloop.energy.tables import ArchEnergy
from tnx_timeloop.errors import SearchError
from tnx_timeloop.mapper.mapspace import MapSpace
from tnx_timeloop.model.batch import MappingBatch
from tnx_timeloop.model.evaluate import evaluate_batch
from tnx_timeloop.model.report import Report
from tnx_timeloop.spec.mapping import Mapping, mapping_to_list, parse_mapping

__all__ = [
    "Objective",
    "Budget",
    "SearchResult",
    "Evaluator",
    "SEARCHERS",
    "get_searcher",
    "run_search",
]

_METRIC_ALIASES = {
    "delay": "cycles", "latency": "cycles", "cycles": "cycles",
    "energy": "energy", "edp": "edp",
    "last-level-accesses": "dram_accesses", "last_level_accesses": "dram_accesses", "dram": "dram_accesses",
}


@dataclass(frozen=True, slots=True)
class Objective:
    """What to minimise: a lexicographic list of metrics, or a weighted product.

    ``metrics`` are ``cycles``, ``energy``, ``edp`` or ``dram_accesses``. With
    ``weights`` the score is ``prod(metric_i ** w_i)`` (EDP is energy^1 x cycles^1);
    without, metrics are compared in order (Timeloop's ``optimization-metrics``).
    """

    metrics: tuple[str, ...] = ("edp",)
    weights: tuple[float, ...] | None = None

    @classmethod
    def parse(cls, value: Any) -> Objective:
        """``"edp"``, ``"latency"``, ``["delay", "energy"]`` or ``{"energy": 1, "latency": 2}``."""
        if isinstance(value, Objective):
            return value
        if value is None:
            return cls()
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(",", " ").split() if p.strip()]
            return cls(tuple(_metric(p) for p in parts) or ("edp",))
        if isinstance(value, MappingABC):
            items = list(value.items())
            return cls(tuple(_metric(k) for k, _ in items), tuple(float(v) for _, v in items))
        if isinstance(value, Sequence):
            return cls(tuple(_metric(str(v)) for v in value))
        raise SearchError(f"cannot read objective {value!r}; use edp, latency, energy or a list of them")

    def scores(self, report: Report) -> list[np.ndarray]:
        """Per-metric score arrays (M,), most significant first; invalid mappings score +inf."""
        values = {
            "cycles": report.cycles.astype(np.float64),
            "energy": report.energy_pj,
            "edp": report.energy_pj * report.cycles,
            "dram_accesses": _dram_accesses(report),
        }
        if self.weights is not None:
            with np.errstate(divide="ignore"):
                logs = sum(w * np.log(values[m]) for m, w in zip(self.metrics, self.weights, strict=True))
            out = [np.asarray(logs, dtype=np.float64)]
        else:
            out = [values[m] for m in self.metrics]
        return [np.where(report.valid, s, np.inf) for s in out]

    def describe(self) -> str:
        if self.weights is not None:
            return " * ".join(f"{m}^{w:g}" for m, w in zip(self.metrics, self.weights, strict=True))
        return " then ".join(self.metrics)


def _metric(name: str) -> str:
    key = name.strip().lower()
    if key not in _METRIC_ALIASES:
        raise SearchError(f"unknown metric {name!r}; choose one of {sorted(set(_METRIC_ALIASES))}")
    return _METRIC_ALIASES[key]


def _dram_accesses(report: Report) -> np.ndarray:
    util = report.utilized_instances[:, 0][:, None]
    return ((report.reads[:, 0] + report.fills[:, 0] + report.updates[:, 0]) * util).sum(axis=1)


@dataclass(frozen=True, slots=True)
class Budget:
    """When to stop: evaluations, seconds, and Timeloop's victory condition (valid mappings without improvement)."""

    max_evaluations: int = 20000
    max_seconds: float | None = None
    victory: int | None = None


@dataclass
class SearchResult:
    """The best mapping found and how the search went."""

    best_mapping: Mapping | None
    best_report: Report | None
    evaluated: int = 0
    valid: int = 0
    visited: int = 0
    seconds: float = 0.0
    algorithm: str = "hybrid"
    seed: int = 0
    optimal: bool = False
    objective: str = "edp"
    history: list[tuple[int, float]] = field(default_factory=list)
    cached: bool = False
    padding: dict[str, tuple[int, int]] = field(default_factory=dict)  # dim -> (bound, padded bound)
    problem: Any = None  # the (possibly padded) problem the mapping refers to

    def summary(self) -> dict[str, Any]:
        """The ``search`` object of ``tnx map --json``."""
        return {
            "evaluated": self.evaluated,
            "valid": self.valid,
            "visited": self.visited,
            "seconds": round(self.seconds, 4),
            "algorithm": self.algorithm,
            "seed": self.seed,
            "optimal": self.optimal,
            "objective": self.objective,
            "evaluations_per_second": round(self.evaluated / self.seconds, 1) if self.seconds > 0 else None,
            "cached": self.cached,
            "padding": {d: {"bound": a, "padded_to": b} for d, (a, b) in self.padding.items()},
        }


class Evaluator:
    """Evaluates batches with the native model, counting work; optionally across processes."""

    def __init__(self, space: MapSpace, energy: ArchEnergy, jobs: int = 1) -> None:
        self.space = space
        self.energy = energy
        self.jobs = max(1, int(jobs))
        self.evaluated = 0
        self.valid = 0
        self._pool = None

    def __call__(self, batch: MappingBatch) -> Report:
        if len(batch) == 0:
            raise SearchError("internal: empty batch")
        if self.jobs > 1 and len(batch) >= 512:
            report = self._parallel(batch)
        else:
            report = evaluate_batch(self.space.arch, self.space.problem, batch, self.energy)
        self.evaluated += len(batch)
        self.valid += int(report.valid.sum())
        return report

    def _parallel(self, batch: MappingBatch) -> Report:
        from concurrent.futures import ProcessPoolExecutor

        from tnx_timeloop.mapper import _parallel

        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs,
                initializer=_parallel.init_worker,
                initargs=(self.space.arch, self.space.problem, self.energy),
            )
        parts = np.array_split(np.arange(len(batch)), self.jobs)
        reports = list(self._pool.map(_parallel.evaluate_part, [batch.take(p) for p in parts if len(p)]))
        return _concat_reports(reports)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def _concat_reports(reports: list[Report]) -> Report:
    first = reports[0]
    fields: dict[str, Any] = {}
    for name in first.__dataclass_fields__:
        if name in Report._PER_MAPPING:
            fields[name] = np.concatenate([getattr(r, name) for r in reports])
        else:
            fields[name] = getattr(first, name)
    return Report(**fields)


# ---------------------------------------------------------------------------
# shared bookkeeping
# ---------------------------------------------------------------------------


class _Best:
    """Keeps the best mapping and an elite pool; deduplicates mappings already seen."""

    def __init__(self, space: MapSpace, objective: Objective, elite_size: int = 48) -> None:
        self.space = space
        self.objective = objective
        self.elite_size = elite_size
        self.best_key: tuple[float, ...] | None = None
        self.best_batch: MappingBatch | None = None
        self.elites: MappingBatch | None = None
        self.elite_keys: list[tuple[float, ...]] = []
        self._seen = np.zeros(0, dtype=np.uint64)
        self.since_improvement = 0
        self.history: list[tuple[int, float]] = []

    def novel(self, batch: MappingBatch) -> MappingBatch:
        """The mappings of ``batch`` not seen before (also deduplicated within the batch)."""
        if len(batch) == 0:
            return batch
        h = _row_hashes(batch)
        _, first = np.unique(h, return_index=True)
        first = np.sort(first)
        fresh = first[~np.isin(h[first], self._seen)] if len(self._seen) else first
        if len(fresh):
            self._seen = np.union1d(self._seen, h[fresh])
        return batch.take(fresh)

    def update(self, batch: MappingBatch, report: Report, evaluated: int) -> bool:
        """Take in evaluated mappings (in evaluation order); True if the best improved.

        The victory count follows Timeloop: valid mappings evaluated since the
        last improvement, in the order they were evaluated.
        """
        scores = self.objective.scores(report)
        order = np.lexsort(tuple(reversed(scores)))
        keys = [tuple(float(s[i]) for s in scores) for i in order]
        improved = False
        if keys and math.isfinite(keys[0][0]) and (self.best_key is None or keys[0] < self.best_key):
            # position (in evaluation order) of the last mapping that improved the running best
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order))
            previous = self.best_key
            last = -1
            running = None
            for i in range(len(order)):
                k = keys[rank[i]]
                if not math.isfinite(k[0]):
                    continue
                if (previous is None or k < previous) and (running is None or k < running):
                    running, last = k, i
            self.best_key = keys[0]
            self.best_batch = batch.take(np.array([order[0]]))
            self.since_improvement = int(report.valid[last + 1:].sum())
            self.history.append((evaluated, self.best_key[0]))
            improved = True
        else:
            self.since_improvement += int(report.valid.sum())
        # elites: best distinct mappings so far
        finite = [i for r, i in enumerate(order) if math.isfinite(keys[r][0])][: self.elite_size]
        if finite:
            cand = batch.take(np.array(finite))
            cand_keys = [tuple(float(s[i]) for s in scores) for i in finite]
            if self.elites is None:
                pool, pool_keys = cand, cand_keys
            else:
                pool = MappingBatch.concatenate([self.elites, cand])
                pool_keys = self.elite_keys + cand_keys
            idx = sorted(range(len(pool_keys)), key=lambda j: pool_keys[j])[: self.elite_size]
            self.elites = pool.take(np.array(idx))
            self.elite_keys = [pool_keys[j] for j in idx]
        return improved


_HASH_WEIGHTS = np.random.default_rng(12345).integers(1, 2**63, size=4096, dtype=np.uint64) | np.uint64(1)


def _row_hashes(batch: MappingBatch) -> np.ndarray:
    """A 64-bit hash per mapping of its canonical form (orders of trivial loops do not matter)."""
    t = batch.temporal
    order_factors = np.take_along_axis(t, batch.temporal_order, axis=2)
    t_order = np.where(order_factors > 1, batch.temporal_order, -1)
    s_fac = np.take_along_axis(batch.spatial, batch.spatial_order, axis=2)
    s_order = np.where(s_fac > 1, batch.spatial_order, -1)
    pos = np.arange(t.shape[2])[None, None, :]
    s_axis = np.where(s_fac > 1, (pos < batch.split[:, :, None]).astype(np.int64), -1)
    parts = [t, batch.spatial, t_order, s_order, s_axis, batch.keep.astype(np.int64)]
    flat = np.concatenate([p.reshape(len(batch), -1) for p in parts], axis=1).astype(np.uint64)
    w = _HASH_WEIGHTS[: flat.shape[1]]
    with np.errstate(over="ignore"):
        mixed = (flat + np.uint64(0x9E3779B97F4A7C15)) * w
        h = np.bitwise_xor.reduce(mixed * (np.arange(flat.shape[1], dtype=np.uint64) + np.uint64(1)), axis=1)
        h = h + mixed.sum(axis=1, dtype=np.uint64)
    return h


def _result(space: MapSpace, best: _Best, ev: Evaluator, start: float, name: str, seed: int,
            optimal: bool, visited: int) -> SearchResult:
    mapping = report = None
    if best.best_batch is not None:
        raw = best.best_batch.mapping(0, space.problem.dimensions, space.problem.dataspace_names)
        # canonical form: exactly what the written mapping file parses back to
        mapping = parse_mapping(mapping_to_list(raw, space.arch), space.arch, space.problem)
        report = evaluate_batch(space.arch, space.problem, best.best_batch, ev.energy)
    return SearchResult(
        best_mapping=mapping,
        best_report=report,
        evaluated=ev.evaluated,
        valid=ev.valid,
        visited=visited,
        seconds=time.monotonic() - start,
        algorithm=name,
        seed=seed,
        optimal=optimal,
        objective=best.objective.describe(),
        history=best.history,
    )


Progress = Callable[[int, int, "tuple[float, ...] | None"], None]


def _stop(ev: Evaluator, best: _Best, budget: Budget, deadline: float | None) -> bool:
    if ev.evaluated >= budget.max_evaluations:
        return True
    if deadline is not None and time.monotonic() > deadline:
        return True
    return budget.victory is not None and best.best_key is not None and best.since_improvement >= budget.victory


# ---------------------------------------------------------------------------
# searchers
# ---------------------------------------------------------------------------


def _random(prune: bool) -> Callable[..., SearchResult]:
    name = "random-pruned" if prune else "random"

    def search(space: MapSpace, ev: Evaluator, objective: Objective, budget: Budget,
               rng: np.random.Generator, progress: Progress | None = None, seed: int = 0,
               batch_size: int = 4096) -> SearchResult:
        start = time.monotonic()
        deadline = None if budget.max_seconds is None else start + budget.max_seconds
        best = _Best(space, objective)
        visited = 0
        stale = 0
        while not _stop(ev, best, budget, deadline):
            n = min(batch_size, budget.max_evaluations - ev.evaluated)
            if prune:
                # Timeloop's random-pruned: each factorisation visited with up to 16 loop orders
                cand = space.sample_visits(rng, max(1, (2 * n) // 16), 16)
            else:
                cand = space.sample(rng, n)
            visited += len(cand)
            if prune:
                cand = cand.take(np.flatnonzero(space.prune(cand).keep)[:n])
            cand = best.novel(cand)
            if len(cand) == 0:
                stale += 1
                if stale > 20:
                    break
                continue
            stale = 0
            best.update(cand, ev(cand), ev.evaluated)
            if progress:
                progress(ev.evaluated, budget.max_evaluations, best.best_key)
        return _result(space, best, ev, start, name, seed, False, visited)

    return search


def exhaustive(space: MapSpace, ev: Evaluator, objective: Objective, budget: Budget,
               rng: np.random.Generator, progress: Progress | None = None, seed: int = 0,
               batch_size: int = 4096) -> SearchResult:
    """Every mapping of the space (pruned before evaluation); ``optimal`` when it finishes."""
    start = time.monotonic()
    deadline = None if budget.max_seconds is None else start + budget.max_seconds
    best = _Best(space, objective)
    visited = 0
    finished = True
    for batch in space.enumerate(limit=max(budget.max_evaluations * 50, 10**6), chunk=batch_size):
        visited += len(batch)
        batch = batch.take(np.flatnonzero(space.prune(batch).keep))
        if len(batch) == 0:
            continue
        best.update(batch, ev(batch), ev.evaluated)
        if progress:
            progress(ev.evaluated, budget.max_evaluations, best.best_key)
        if ev.evaluated >= budget.max_evaluations or (deadline is not None and time.monotonic() > deadline):
            finished = False
            break
    return _result(space, best, ev, start, "exhaustive", seed, finished, visited)


def hybrid(space: MapSpace, ev: Evaluator, objective: Objective, budget: Budget,
           rng: np.random.Generator, progress: Progress | None = None, seed: int = 0,
           batch_size: int = 2048) -> SearchResult:
    """Random-pruned sampling, then local search from an elite pool (the default searcher)."""
    start = time.monotonic()
    deadline = None if budget.max_seconds is None else start + budget.max_seconds
    best = _Best(space, objective)
    visited = 0
    # phase 1: broad random sampling (a quarter of the budget, at least a few batches)
    initial = max(min(budget.max_evaluations // 4, 16384), min(budget.max_evaluations, 2 * batch_size))
    tries = 0
    while ev.evaluated < initial and not _stop(ev, best, Budget(budget.max_evaluations, budget.max_seconds), deadline):
        cand = space.sample(rng, 2 * batch_size)
        visited += len(cand)
        cand = best.novel(cand.take(np.flatnonzero(space.prune(cand).keep)[:batch_size]))
        tries += 1
        if len(cand):
            best.update(cand, ev(cand), ev.evaluated)
            if progress:
                progress(ev.evaluated, budget.max_evaluations, best.best_key)
        elif tries > 50:
            break
    # phase 2: local search around the elites, with some fresh samples for diversity
    min_rounds = 8
    rounds = 0
    dry = 0  # consecutive rounds that found almost nothing new: the neighbourhood is exhausted
    while best.elites is not None and ev.evaluated < budget.max_evaluations:
        if deadline is not None and time.monotonic() > deadline:
            break
        if rounds >= min_rounds and budget.victory is not None and best.since_improvement >= budget.victory:
            break
        rounds += 1
        k = len(best.elites)
        weights = 1.0 / (1.0 + np.arange(k))
        n_children = 2 * batch_size
        parents = best.elites.take(rng.choice(k, size=n_children, p=weights / weights.sum()))
        moves = 1 + int(rng.integers(0, 3)) if dry else 1 + int(rng.random() < 0.5)
        children = space.mutate(rng, parents, n_moves=moves)
        fresh = space.sample(rng, batch_size // 2)
        cand = MappingBatch.concatenate([children, fresh])
        visited += len(cand)
        cand = best.novel(cand.take(np.flatnonzero(space.prune(cand).keep)))
        dry = dry + 1 if len(cand) < max(8, n_children // 50) else 0
        if dry >= 6:
            break
        cand = cand.take(np.arange(min(len(cand), batch_size, budget.max_evaluations - ev.evaluated)))
        if len(cand) == 0:
            continue
        best.update(cand, ev(cand), ev.evaluated)
        if progress:
            progress(ev.evaluated, budget.max_evaluations, best.best_key)
    return _result(space, best, ev, start, "hybrid", seed, False, visited)


SEARCHERS: dict[str, Callable[..., SearchResult]] = {
    "hybrid": hybrid,
    "exhaustive": exhaustive,
    "linear-pruned": exhaustive,
    "random": _random(prune=False),
    "random-pruned": _random(prune=True),
}


def get_searcher(name: str) -> Callable[..., SearchResult]:
    """The searcher called ``name`` (case-insensitive); the error lists the options."""
    key = name.lower()
    if key not in SEARCHERS:
        raise SearchError(f"unknown search algorithm {name!r}; choose one of {sorted(SEARCHERS)}")
    return SEARCHERS[key]


def run_search(space: MapSpace, energy: ArchEnergy, *, objective: Objective, budget: Budget,
               algorithm: str = "auto", seed: int = 0, jobs: int = 1,
               progress: Progress | None = None) -> SearchResult:
    """Run a searcher; ``auto`` is exhaustive when the space fits the budget, else hybrid."""
    rng = np.random.default_rng(seed)
    name = algorithm.lower()
    if name == "auto":
        name = "exhaustive" if space.size() <= budget.max_evaluations else "hybrid"
    searcher = get_searcher(name)
    ev = Evaluator(space, energy, jobs)
    try:
        result = searcher(space, ev, objective, budget, rng, progress, seed)
    finally:
        ev.close()
    result.algorithm = name
    return result
