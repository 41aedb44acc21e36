"""The mapper: mapspaces from constraints and searches over the batched model.

    from tnx_timeloop.mapper import search_mappings
    result = search_mappings(arch, problem, objective="edp", budget=20000, seed=0)
    result.best_mapping, result.best_report
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tnx_timeloop.cache import cache_key
from tnx_timeloop.energy.tables import ArchEnergy, resolve_energy
from tnx_timeloop.mapper.constraints import Constraints, parse_constraints
from tnx_timeloop.mapper.mapspace import MapSpace
from tnx_timeloop.mapper.search import SEARCHERS, Budget, Objective, SearchResult, run_search
from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.mapping import mapping_to_list
from tnx_timeloop.spec.problem import Problem

__all__ = [
    "search_mappings",
    "SearchResult",
    "Objective",
    "Budget",
    "MapSpace",
    "Constraints",
    "parse_constraints",
    "SEARCHERS",
]


def search_mappings(
    arch: Architecture,
    problem: Problem,
    constraints: Constraints | Iterable[tuple[str, Any]] | None = None,
    *,
    objective: Any = "edp",
    budget: int = 20000,
    seed: int = 0,
    algorithm: str = "auto",
    energy: ArchEnergy | None = None,
    time_limit_s: float | None = None,
    victory: int | None = None,
    jobs: int = 1,
    progress: Any = None,
    cache: Any = None,
) -> SearchResult:
    """Find a good mapping of ``problem`` on ``arch``.

    Parameters
    ----------
    constraints : Constraints, or the raw constraint sources of a spec (``spec.constraints``), or None
        The architecture's inline constraints always apply.
    objective : str, list or mapping
        ``edp`` (default), ``latency``, ``energy``, a lexicographic list such as
        ``["delay", "energy"]``, or weights ``{"energy": 1, "latency": 2}``.
    budget : int
        Maximum number of mappings evaluated by the model.
    seed : int
        Seed; the same seed gives the same result, whatever ``jobs``.
    algorithm : str
        ``auto`` (exhaustive when the space fits the budget, else ``hybrid``),
        or one of :data:`SEARCHERS`.
    energy : ArchEnergy, optional
        Per-action energies (default: Timeloop's built-in model).
    time_limit_s, victory : optional
        Stop after this many seconds, or after this many valid mappings in a
        row without improvement (Timeloop's ``victory-condition``).
    jobs : int
        Processes evaluating batches in parallel.
    cache : EvaluationCache, optional
        Reuse a stored result of the same search (same inputs, settings and
        package version); store this one.

    Raises
    ------
    SearchError
        If the constraints leave no mapping (naming the constraint), or the
        algorithm is unknown.
    """
    if not isinstance(constraints, Constraints):
        constraints = parse_constraints(arch, problem, constraints or ())
    energy = energy or resolve_energy(arch)
    objective_ = Objective.parse(objective)
    budget_ = Budget(max_evaluations=int(budget), max_seconds=time_limit_s, victory=victory)
    key = None
    if cache is not None:
        key = cache_key("search", arch, problem, constraints, objective_, budget_, algorithm, seed, energy)
        hit = cache.get(key)
        if hit is not None:
            return _from_cache(arch, problem, energy, hit)
    space = MapSpace(arch, problem, constraints)
    result = run_search(
        space,
        energy,
        objective=objective_,
        budget=budget_,
        algorithm=algorithm,
        seed=seed,
        jobs=jobs,
        progress=progress,
    )
    if cache is not None and key is not None and result.best_mapping is not None:
        cache.put(key, {"mapping": mapping_to_list(result.best_mapping, arch), "search": result.summary()}, kind="search")
    return result


def _from_cache(arch: Architecture, problem: Problem, energy: ArchEnergy, hit: dict) -> SearchResult:
    from tnx_timeloop.model.batch import MappingBatch
    from tnx_timeloop.model.evaluate import evaluate_batch
    from tnx_timeloop.spec.mapping import parse_mapping

    mapping = parse_mapping(hit["mapping"], arch, problem)
    report = evaluate_batch(arch, problem, MappingBatch.from_mappings([mapping]), energy)
    s = hit["search"]
    return SearchResult(
        best_mapping=mapping,
        best_report=report,
        evaluated=s["evaluated"],
        valid=s["valid"],
        visited=s.get("visited", 0),
        seconds=s["seconds"],
        algorithm=s["algorithm"],
        seed=s["seed"],
        optimal=s["optimal"],
        objective=s.get("objective", ""),
        cached=True,
    )
