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
    pad: bool = False,
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
    pad : bool
        Also try padding dimensions whose bound factors badly (a prime such as
        7, or a large prime factor) up to a nearby bound that factors well, and
        keep the best. A padded result says so (``result.padding``, and
        ``result.problem`` is the padded problem its mapping and report refer to):
        padding is the imperfect-factor choice of this mapper; residual tiles
        are not searched.

    Raises
    ------
    SearchError
        If the constraints leave no mapping (naming the constraint), or the
        algorithm is unknown.
    """
    if pad:
        return _search_padded(
            arch, problem, constraints, objective=objective, budget=budget, seed=seed, algorithm=algorithm,
            energy=energy, time_limit_s=time_limit_s, victory=victory, jobs=jobs, cache=cache,
        )
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


def padding_candidates(problem: Problem, *, max_overhead: float = 0.25) -> dict[str, list[int]]:
    """For each dimension that factors badly, the padded bounds worth trying (smallest first).

    A bound factors badly when its largest prime factor exceeds 7; a candidate is
    the next bound up to ``max_overhead`` larger whose prime factors are all <= 3.
    """
    from tnx_timeloop.testing import prime_factors

    out: dict[str, list[int]] = {}
    for dim, bound in zip(problem.dimensions, problem.bounds, strict=True):
        if bound < 4 or max(prime_factors(bound)) <= 7:
            continue
        for b in range(bound + 1, int(bound * (1 + max_overhead)) + 1):
            if max(prime_factors(b)) <= 3:
                out[dim] = [b]
                break
    return out


def _search_padded(arch: Architecture, problem: Problem, constraints: Any, **kw: Any) -> SearchResult:
    """Search the problem as given and with each padded variant; keep the best by the objective."""
    import itertools

    candidates = padding_candidates(problem)
    variants: list[dict[str, int]] = [{}]
    dims = list(candidates)
    for combo in itertools.product(*[[None, *candidates[d]] for d in dims]):
        pad = {d: b for d, b in zip(dims, combo, strict=True) if b is not None}
        if pad:
            variants.append(pad)
    variants = variants[:8]
    share = max(1000, int(kw["budget"]) // len(variants))
    objective = Objective.parse(kw["objective"])
    best: SearchResult | None = None
    best_key = None
    for pad in variants:
        prob = problem.with_bounds(**pad) if pad else problem
        cons = constraints if not isinstance(constraints, Constraints) else None
        result = search_mappings(arch, prob, cons if cons is not None else constraints,
                                 **{**kw, "budget": share, "pad": False})
        if result.best_report is None:
            continue
        key = tuple(float(s[0]) for s in objective.scores(result.best_report))
        if best_key is None or key < best_key:
            best, best_key = result, key
            best.padding = {d: (problem.bound(d), b) for d, b in pad.items()}
            best.problem = prob
    if best is None:
        best = search_mappings(arch, problem, constraints, **{**kw, "pad": False})
    return best
