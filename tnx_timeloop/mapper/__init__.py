"""The mapper: mapspaces from constraints and searches over the batched model.

    from tnx_timeloop.mapper import search_mappings
    result = search_mappings(arch, problem, objective="edp", budget=20000, seed=0)
    result.best_mapping, result.best_report
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tnx_timeloop.energy.tables import ArchEnergy, resolve_energy
from tnx_timeloop.mapper.constraints import Constraints, parse_constraints
from tnx_timeloop.mapper.mapspace import MapSpace
from tnx_timeloop.mapper.search import SEARCHERS, Budget, Objective, SearchResult, run_search
from tnx_timeloop.spec.arch import Architecture
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

    Raises
    ------
    SearchError
        If the constraints leave no mapping (naming the constraint), or the
        algorithm is unknown.
    """
    if not isinstance(constraints, Constraints):
        constraints = parse_constraints(arch, problem, constraints or ())
    space = MapSpace(arch, problem, constraints)
    return run_search(
        space,
        energy or resolve_energy(arch),
        objective=Objective.parse(objective),
        budget=Budget(max_evaluations=int(budget), max_seconds=time_limit_s, victory=victory),
        algorithm=algorithm,
        seed=seed,
        jobs=jobs,
        progress=progress,
    )
