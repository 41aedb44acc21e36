"""Choose which cores run which nodes (and which nodes to split) for a multi-core package.

The search space gives every node one *option*: a single core, or a group of cores it is split
across (groups of the sizes in ``splits``). Every candidate allocation is evaluated by the
multi-core simulator (:func:`tnx_timeloop.sim.multicore.simulate_multicore`), so contention on
the NoC and the shared memory, pipelining and data movement are all counted.

* ``exhaustive`` (exact): every allocation, when ``options ** nodes`` is at most
  ``max_exhaustive``. Allocations that differ only by a relabelling of cores with the same type and
  costs that keeps the NoC distances (an automorphism of the topology) are evaluated once.
* ``local`` (heuristic, seeded): start from the best of a few constructive allocations (all nodes
  split across all cores, balanced pipeline stages, greedy earliest-finish list scheduling), then
  hill-climb: change one node's option or swap the options of two nodes, keep a move when it
  improves the objective, restart from the best with a random perturbation when a round of
  moves finds nothing, until ``budget`` evaluations.

Objectives: ``edp`` (total energy x makespan, pJ x cycles), ``latency`` (makespan, cycles),
``energy`` (pJ) or ``throughput`` (inputs per cycle, maximised).

References
----------
.. [1] A. Symons et al., "Stream: Design Space Exploration of Layer-Fused DNNs on Heterogeneous
   Dataflow Accelerators", IEEE TC 2024 (arXiv:2212.10612): up to 2.2x EDP over layer-by-layer.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tnx_timeloop.errors import SearchError, SpecError, Where
from tnx_timeloop.sim.multicore import (
    Allocation,
    MultiCoreResult,
    NodeCost,
    WorkloadGraph,
    core_types,
    default_allocation,
    node_costs,
    simulate_multicore,
)
from tnx_timeloop.spec.multicore import MultiCoreArchitecture

__all__ = [
    "OBJECTIVES",
    "AllocationResult",
    "allocation_options",
    "objective_value",
    "search_allocation",
    "compare_with_layer_by_layer",
]

OBJECTIVES: tuple[str, ...] = ("edp", "latency", "energy", "throughput")
"""Objectives :func:`search_allocation` minimises (throughput is maximised)."""


def objective_value(result: MultiCoreResult, objective: str) -> float:
    """The value to minimise for ``objective`` (``throughput`` is negated)."""
    if objective == "edp":
        return result.edp
    if objective == "latency":
        return float(result.makespan_cycles)
    if objective == "energy":
        return float(result.energy_pj["total"])
    if objective == "throughput":
        return -float(result.throughput_inputs_per_cycle)
    raise SpecError(Where(None, ("objective",)), f"unknown objective {objective!r}; choose one of {list(OBJECTIVES)}")


@dataclass(frozen=True)
class AllocationResult:
    """The best allocation found.

    Attributes
    ----------
    allocation : dict
        ``node -> core`` or ``node -> (cores...)``.
    result : MultiCoreResult
        Its simulation.
    objective : str
        What was minimised.
    value : float
        The objective's value (``throughput`` negated).
    evaluated : int
        Allocations simulated.
    method : str
        ``exhaustive`` or ``local``.
    optimal : bool
        True when every allocation was evaluated.
    seconds : float
        Wall time of the search.
    history : tuple of float
        Best value after each evaluation.
    """

    allocation: Allocation
    result: MultiCoreResult
    objective: str
    value: float
    evaluated: int
    method: str
    optimal: bool
    seconds: float
    history: tuple[float, ...] = field(default=(), repr=False)


def allocation_options(mc: MultiCoreArchitecture, splits: Sequence[int] = (1,)) -> list[int | tuple[int, ...]]:
    """Every option a node can take: single cores, and groups of ``k`` cores for ``k`` in ``splits``.

    Groups are of cores of the same type.
    """
    n = mc.total_cores
    types = core_types(mc)
    options: list[int | tuple[int, ...]] = []
    for k in sorted(set(splits)):
        if k == 1:
            options.extend(range(n))
        elif 1 < k <= n:
            for group in itertools.combinations(range(n), k):
                if len({types[c] for c in group}) == 1:
                    options.append(group)
    if not options:
        raise SpecError(Where(None, ("splits",)), f"no allocation option for splits {list(splits)} on {n} cores")
    return options


def _automorphisms(mc: MultiCoreArchitecture, costs: Mapping[tuple[str, int], NodeCost]) -> list[tuple[int, ...]]:
    """Core relabellings that keep core types, every cost and all NoC hop distances."""
    n = mc.total_cores
    if n > 8:
        return [tuple(range(n))]
    types = core_types(mc)
    signature: list[list[tuple[str, NodeCost]]] = [[] for _ in range(n)]
    for (name, core), cost in sorted(costs.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if 0 <= core < n:
            signature[core].append((name, cost))
    hops = [[mc.noc.hops(a, b) for b in range(n)] for a in range(n)]
    out = []
    for perm in itertools.permutations(range(n)):
        if all(types[perm[a]] == types[a] and signature[perm[a]] == signature[a] for a in range(n)) and all(
            hops[perm[a]][perm[b]] == hops[a][b] for a in range(n) for b in range(n)
        ):
            out.append(perm)
    return out


def _relabel(option: int | tuple[int, ...], perm: tuple[int, ...]) -> int | tuple[int, ...]:
    if isinstance(option, tuple):
        return tuple(sorted(perm[c] for c in option))
    return perm[option]


def _key(choice: Sequence[int | tuple[int, ...]]) -> tuple:
    return tuple(c if isinstance(c, tuple) else (c,) for c in choice)


def search_allocation(
    mc: MultiCoreArchitecture,
    graph: WorkloadGraph,
    *,
    costs: Mapping[tuple[str, int], NodeCost] | None = None,
    schedule: str = "pipelined",
    n_inputs: int = 1,
    exits: Sequence[str | None] | None = None,
    objective: str = "edp",
    method: str = "auto",
    budget: int = 300,
    seed: int = 0,
    splits: Sequence[int] = (1,),
    max_exhaustive: int = 4096,
    time_limit_s: float | None = None,
    mapper_budget: int = 2000,
    **sim_options: Any,
) -> AllocationResult:
    """Find the allocation of ``graph`` on ``mc`` minimising ``objective``.

    Parameters
    ----------
    mc, graph
        The package and the workload.
    costs : dict, optional
        :func:`~tnx_timeloop.sim.multicore.node_costs` output (computed with ``mapper_budget``
        and ``seed``, including the split sizes, when not given).
    schedule, n_inputs, exits, **sim_options
        Passed to :func:`~tnx_timeloop.sim.multicore.simulate_multicore` for every candidate.
    objective : {"edp", "latency", "energy", "throughput"}
        What to minimise (throughput is maximised).
    method : {"auto", "exhaustive", "local"}
        ``auto``: exhaustive when ``options ** nodes <= max_exhaustive``, else local search.
    budget : int
        Evaluations of the local search.
    seed : int
        Seed of the local search (same seed, same result).
    splits : sequence of int
        Group sizes a node may be split across (1 = a single core).
    max_exhaustive : int
        Largest space searched exhaustively.
    time_limit_s : float, optional
        Stop the local search after this many seconds.

    Returns
    -------
    AllocationResult

    Raises
    ------
    SpecError
        For an unknown objective or method.
    SearchError
        If no allocation could be simulated.

    Notes
    -----
    Cost: one simulation per evaluated allocation (milliseconds to a few tenths of a second for
    tens of nodes).
    """
    where = Where(None, ("search_allocation",))
    if objective not in OBJECTIVES:
        raise SpecError(where / "objective", f"unknown objective {objective!r}; choose one of {list(OBJECTIVES)}")
    if method not in ("auto", "exhaustive", "local"):
        raise SpecError(where / "method", f"unknown method {method!r}; choose auto, exhaustive or local")
    splits = tuple(sorted(set(int(k) for k in splits) | {1}))
    if costs is None:
        costs = node_costs(mc, graph, budget=mapper_budget, seed=seed, splits=[k for k in splits if k > 1])
    options = allocation_options(mc, splits)
    names = list(graph.order)
    space = len(options) ** len(names)
    use_exhaustive = method == "exhaustive" or (method == "auto" and space <= max_exhaustive)
    start = time.monotonic()
    seen: dict[tuple, float] = {}
    best: list[Any] = [math.inf, None, None]
    history: list[float] = []

    def evaluate(choice: Sequence[int | tuple[int, ...]]) -> float:
        key = _key(choice)
        if key in seen:
            return seen[key]
        allocation = dict(zip(names, choice, strict=True))
        try:
            res = simulate_multicore(mc, graph, allocation, schedule=schedule, n_inputs=n_inputs, exits=exits,
                                     costs=costs, seed=seed, **sim_options)
        except SpecError:
            seen[key] = math.inf
            return math.inf
        value = objective_value(res, objective)
        seen[key] = value
        if value < best[0]:
            best[:] = [value, allocation, res]
        history.append(best[0])
        return value

    if use_exhaustive:
        perms = _automorphisms(mc, costs)
        canonical: set[tuple] = set()
        for choice in itertools.product(options, repeat=len(names)):
            key = min(_key([_relabel(o, p) for o in choice]) for p in perms)
            if key in canonical:
                continue
            canonical.add(key)
            evaluate(choice)
        optimal = True
        used = "exhaustive"
    else:
        rng = np.random.default_rng(seed)
        _local_search(mc, graph, costs, names, options, evaluate, rng, budget, start, time_limit_s,
                      schedule, seen)
        optimal = False
        used = "local"
    if best[2] is None:
        raise SearchError("no allocation could be simulated")
    return AllocationResult(
        allocation=best[1], result=best[2], objective=objective, value=float(best[0]), evaluated=len(seen),
        method=used, optimal=optimal, seconds=time.monotonic() - start, history=tuple(history),
    )


def _greedy(mc: MultiCoreArchitecture, graph: WorkloadGraph, costs: Mapping[tuple[str, int], NodeCost],
            names: list[str], options: list) -> list:
    """Earliest-finish list scheduling on single cores (compute cycles only, a HEFT-like start)."""
    n = mc.total_cores
    free = [0.0] * n
    finish: dict[str, float] = {}
    choice = []
    singles = [o for o in options if not isinstance(o, tuple)] or list(range(n))
    for name in names:
        node = graph.node(name)
        ready = max((finish[d] for d in node.deps), default=0.0)
        best_core, best_end = singles[0], math.inf
        for c in singles:
            end = max(free[c], ready) + costs[(name, c)].cycles
            if end < best_end:
                best_core, best_end = c, end
        free[best_core] = best_end
        finish[name] = best_end
        choice.append(best_core)
    return choice


def _local_search(mc, graph, costs, names, options, evaluate: Callable, rng: np.random.Generator, budget: int,
                  start: float, time_limit_s: float | None, schedule: str, seen: dict) -> None:
    def out_of_budget() -> bool:
        if len(seen) >= budget:
            return True
        return time_limit_s is not None and time.monotonic() - start > time_limit_s

    index = {(o if isinstance(o, tuple) else (o,)): k for k, o in enumerate(options)}

    def idx(choice_value: Any) -> int:
        key = choice_value if isinstance(choice_value, tuple) else (choice_value,)
        return index.get(key, 0)

    starts = []
    for sched in ("layer-by-layer", "pipelined"):
        alloc = default_allocation(mc, graph, sched, costs)
        starts.append([options[idx(alloc[n])] for n in names])
    starts.append(_greedy(mc, graph, costs, names, options))
    values = [evaluate(s) for s in starts]
    current = list(starts[int(np.argmin(values))])
    current_value = min(values)
    n_nodes = len(names)
    while not out_of_budget():
        improved = False
        moves = []
        for pos in range(n_nodes):
            for k in range(len(options)):
                if options[k] != current[pos]:
                    moves.append(("set", pos, k))
        for a in range(n_nodes):
            for b in range(a + 1, n_nodes):
                if current[a] != current[b]:
                    moves.append(("swap", a, b))
        order = rng.permutation(len(moves))
        for m in order:
            if out_of_budget():
                break
            kind, a, b = moves[int(m)]
            trial = list(current)
            if kind == "set":
                trial[a] = options[b]
            else:
                trial[a], trial[b] = trial[b], trial[a]
            if _key(trial) in seen:
                continue
            value = evaluate(trial)
            if value < current_value:
                current, current_value, improved = trial, value, True
                break
        if not improved:
            if out_of_budget():
                break
            # perturb the best: a few random node options
            trial = list(current)
            for pos in rng.choice(n_nodes, size=min(n_nodes, 1 + n_nodes // 5), replace=False):
                trial[int(pos)] = options[int(rng.integers(len(options)))]
            value = evaluate(trial)
            if value < current_value:
                current, current_value = trial, value
            elif all(_key([*current[:p], options[k], *current[p + 1:]]) in seen
                     for p in range(n_nodes) for k in range(len(options))):
                break  # the neighbourhood of the best is exhausted


def compare_with_layer_by_layer(
    mc: MultiCoreArchitecture,
    graph: WorkloadGraph,
    *,
    costs: Mapping[tuple[str, int], NodeCost] | None = None,
    n_inputs: int = 1,
    schedule: str = "pipelined",
    budget: int = 300,
    seed: int = 0,
    splits: Sequence[int] | None = None,
    mapper_budget: int = 2000,
    **search_options: Any,
) -> dict[str, Any]:
    """Layer-by-layer execution (every node split across all cores, activations off-chip) against
    the best allocation found, on EDP -- the comparison Stream reports (up to 2.2x).

    Returns
    -------
    dict
        ``baseline`` and ``best`` (makespan, energy, EDP), ``edp_ratio`` (baseline / best),
        ``latency_ratio``, ``energy_ratio``, the best ``allocation`` and the search figures.
    """
    n = mc.total_cores
    if splits is None:
        splits = (1, 2, n) if n > 2 else (1, n)
    if costs is None:
        costs = node_costs(mc, graph, budget=mapper_budget, seed=seed, splits=[k for k in splits if k > 1])
    baseline = simulate_multicore(mc, graph, default_allocation(mc, graph, "layer-by-layer"), schedule="layer-by-layer",
                                  n_inputs=n_inputs, costs=costs)
    found = search_allocation(mc, graph, costs=costs, schedule=schedule, n_inputs=n_inputs, objective="edp",
                              budget=budget, seed=seed, splits=splits, **search_options)
    best = found.result

    def figures(r: MultiCoreResult) -> dict[str, float]:
        return {"makespan_cycles": float(r.makespan_cycles), "energy_pj": float(r.energy_pj["total"]),
                "edp_pj_cycles": r.edp, "dram_bytes": float(r.dram_read_bytes + r.dram_write_bytes)}

    return {
        "baseline": figures(baseline),
        "best": figures(best),
        "edp_ratio": baseline.edp / best.edp,
        "latency_ratio": baseline.makespan_cycles / best.makespan_cycles,
        "energy_ratio": baseline.energy_pj["total"] / best.energy_pj["total"],
        "allocation": {k: (list(v) if isinstance(v, tuple) else v) for k, v in found.allocation.items()},
        "schedule": schedule,
        "evaluated": found.evaluated,
        "method": found.method,
        "optimal": found.optimal,
        "seconds": found.seconds,
        "stream_claim_edp_ratio": 2.2,
    }
