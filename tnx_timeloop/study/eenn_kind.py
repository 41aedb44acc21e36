"""``eenn`` studies: the early-exit search on a (multi-core) platform, with a simulated timeline.

One task per network, platform, memory mode and seed: prepare the
:class:`~tnx_timeloop.search.eenn.EENNEvaluator` (every layer and exit head mapped on
every core type at every precision, through the study's cache), run
:func:`~tnx_timeloop.search.eenn_search.search_eenn` (NSGA-II, seeded), and record the
Pareto front and the static baselines as rows (``role = pareto | baseline``), the EDP
reductions as the ``reductions`` table, and the exit statistics' provenance as a note.

For the timeline, the design with the lowest EDP whose accuracy is within one point of
the best static baseline is simulated on the multi-core package
(:func:`~tnx_timeloop.sim.multicore.simulate_multicore`: a stream of inputs with seeded
exit decisions, the mapper's per-layer costs); its events are saved as an artifact
(``timeline.json``, and a Chrome/Perfetto ``trace.json``) for the timeline plot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tnx_timeloop.errors import SpecError, TnxError, Where
from tnx_timeloop.study.config import EennSpec, StudyConfig
from tnx_timeloop.study.tasks import TaskContext, TaskResult

__all__ = ["EennTask", "expand", "run_eenn_task", "MAX_TIMELINE_EVENTS"]

MAX_TIMELINE_EVENTS = 4000
"""Events kept in a saved timeline (the plot shows the start of the stream)."""


@dataclass(frozen=True, slots=True)
class EennTask:
    """Parameters of one early-exit search (file digests make the key follow file contents)."""

    network: str
    network_path: str
    network_digest: str
    statistics_path: str
    statistics_digest: str
    platform: str
    platform_path: str
    platform_digest: str
    memory: str
    seed: int
    precisions: tuple[str, ...]
    exit_precisions: tuple[str, ...]
    delay: str
    mapper_budget: int
    pad: bool
    population: int
    generations: int
    min_accuracy: float | None
    latency_bound_cycles: float | None
    timeline_inputs: int
    timeline_schedule: str


def expand(cfg: StudyConfig) -> list[tuple[str, EennTask]]:
    """One task per network, platform, memory mode and seed."""
    b = cfg.body
    if not isinstance(b, EennSpec):
        raise SpecError(Where(cfg.source), "internal: not an eenn study")
    from tnx_timeloop.frontends.early_exit import load_network
    from tnx_timeloop.frontends.exit_stats import check_statistics, load_statistics
    from tnx_timeloop.search.eenn import load_platform

    out = []
    for n in b.networks:  # read every input once: a bad file fails before the run starts
        net = load_network(n.file.path)
        stats = load_statistics(n.statistics.path)
        check_statistics(stats, net.exit_names, network=net.name, heads={e.name: e.sizes for e in net.exits},
                         precisions=b.precisions, exit_precisions=b.exit_precisions or b.precisions)
    for p in b.platforms:
        for memory in b.memory:
            load_platform(p.path, memory=memory)
    for n in b.networks:
        for p in b.platforms:
            for memory in b.memory:
                for seed in cfg.seeds:
                    t = EennTask(
                        network=n.label, network_path=str(n.file.path), network_digest=n.file.digest,
                        statistics_path=str(n.statistics.path), statistics_digest=n.statistics.digest,
                        platform=p.path.stem, platform_path=str(p.path), platform_digest=p.digest, memory=memory,
                        seed=seed, precisions=b.precisions, exit_precisions=b.exit_precisions, delay=b.delay,
                        mapper_budget=b.mapper_budget, pad=b.pad, population=b.population,
                        generations=b.generations, min_accuracy=b.min_accuracy,
                        latency_bound_cycles=b.latency_bound_cycles, timeline_inputs=b.timeline_inputs,
                        timeline_schedule=b.timeline_schedule)
                    out.append((f"{n.label} on {p.path.stem} ({memory}) [seed {seed}]", t))
    return out


def _point_row(base: dict[str, Any], role: str, pt: Any, thresholds: Any) -> dict[str, Any]:
    d, c = pt.design, pt.cost
    return {**base, "role": role, "accuracy": float(c.accuracy), "edp": float(c.edp), "energy_pj": float(c.energy_pj),
            "interval_cycles": float(c.interval_cycles), "latency_cycles": float(c.latency_cycles),
            "worst_latency_cycles": float(c.worst_latency_cycles), "exit_overhead": float(c.exit_overhead),
            "exit_energy_pj": float(c.exit_energy_pj), "noc_energy_pj": float(c.noc_energy_pj),
            "backbone": d.backbone, "exit_precision": d.exit_precision,
            "threshold": float(thresholds[d.threshold_index]), "exits": " ".join(d.exits),
            "head_sizes": " ".join(d.head_sizes), "allocation": " ".join(map(str, d.allocation)),
            "cores_used": len(set(d.allocation))}


def _timeline_design(result: Any) -> Any:
    """The lowest-EDP Pareto design within one accuracy point of the best static baseline (else the lowest EDP)."""
    if not result.pareto:
        return None
    floor = max((b.cost.accuracy for b in result.baselines.values()), default=0.0) - 0.01 - 1e-12
    near = [pt for pt in result.pareto if pt.cost.accuracy >= floor and pt.design.exits]
    return min(near or result.pareto, key=lambda pt: (pt.cost.edp, pt.design.describe()))


def _simulate(t: EennTask, ev: Any, point: Any) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """Simulate a stream through the design; summary, events (trimmed) and a Chrome trace."""
    from tnx_timeloop.library import load_any_architecture
    from tnx_timeloop.sim.multicore import NodeCost, TaskNode, WorkloadGraph, simulate_multicore
    from tnx_timeloop.spec.multicore import MultiCoreArchitecture

    kind, mc = load_any_architecture(t.platform_path)
    if kind != "multi-core" or not isinstance(mc, MultiCoreArchitecture):
        raise SpecError(Where(t.platform_path), "the timeline needs a multi-core platform")
    sim_in = ev.simulation_inputs(point.design, n_inputs=t.timeline_inputs, seed=t.seed)
    nodes = []
    costs = {}
    for n in sim_in["nodes"]:
        nodes.append(TaskNode(n["name"], n["problem"], tuple(n["deps"]), bytes_out=int(n["out_bits"] // 8)))
        costs[(n["name"], int(n["core"]))] = NodeCost(cycles=max(1, int(round(n["cycles"]))),
                                                      energy_pj=float(n["energy_pj"]), dram_read_bytes=0,
                                                      dram_write_bytes=0, compute_energy_pj=float(n["energy_pj"]),
                                                      macs=int(n["problem"].macs))
    graph = WorkloadGraph(tuple(nodes), name=t.network)
    res = simulate_multicore(mc, graph, sim_in["allocation"], schedule=t.timeline_schedule,
                             n_inputs=t.timeline_inputs, exits=sim_in["exits"], costs=costs, seed=t.seed,
                             offchip_activations=t.memory == "package", weights_resident="always")
    summary = res.to_dict()
    summary.pop("latency_cycles", None)
    summary["design"] = point.design.describe()
    summary["n_inputs"] = t.timeline_inputs
    summary["core_names"] = list(res.core_names)
    events = [{"name": e.name, "category": e.category, "resource": e.resource, "start_cycle": int(e.start_cycle),
               "end_cycle": int(e.end_cycle), "node": str(dict(e.args).get("node", ""))}
              for e in res.events[:MAX_TIMELINE_EVENTS]]
    return summary, events, json.dumps(res.chrome_trace())


def run_eenn_task(t: EennTask, ctx: TaskContext) -> TaskResult:
    """Map, search, and simulate the chosen design's timeline."""
    from tnx_timeloop.frontends.early_exit import load_network
    from tnx_timeloop.frontends.exit_stats import load_statistics
    from tnx_timeloop.search.eenn import EENNEvaluator, load_platform
    from tnx_timeloop.search.eenn_search import SearchSettings, search_eenn

    net = load_network(t.network_path)
    stats = load_statistics(t.statistics_path)
    platform = load_platform(t.platform_path, memory=t.memory)
    ev = EENNEvaluator(net, stats, platform, precisions=t.precisions, exit_precisions=t.exit_precisions or None,
                       budget=t.mapper_budget, seed=t.seed, pad=t.pad, cache=ctx.open_cache(), jobs=ctx.jobs,
                       delay=t.delay)
    settings = SearchSettings(population=t.population, generations=t.generations, seed=t.seed,
                              min_accuracy=t.min_accuracy, latency_bound_cycles=t.latency_bound_cycles)
    result = search_eenn(ev, settings)
    base = {"network": t.network, "platform": t.platform, "memory": t.memory, "seed": t.seed, "delay": t.delay}
    rows = [_point_row(base, "pareto", pt, result.thresholds) for pt in result.pareto]
    rows += [_point_row(base, f"baseline-{p}", pt, result.thresholds) for p, pt in sorted(result.baselines.items())]
    reductions = tuple({**base, **{k: v for k, v in r.items()}} for r in result.reductions)
    prov = stats.provenance
    meta: dict[str, Any] = {
        "statistics_provenance": result.provenance,
        "statistics_provenance_kind": prov.kind,
        "statistics_file": t.statistics_path,
        "evaluations": result.evaluations,
        "thresholds": list(result.thresholds),
    }
    artifacts: list[tuple[str, str]] = []
    timeline_rows: tuple[dict[str, Any], ...] = ()
    point = _timeline_design(result)
    if t.timeline_inputs > 0 and point is not None:
        try:
            summary, events, trace = _simulate(t, ev, point)
        except (TnxError, KeyError, ValueError, RuntimeError) as err:
            meta["timeline_error"] = f"{type(err).__name__}: {err}"
        else:
            artifacts += [("timeline.json", json.dumps({"summary": summary, "events": events})),
                          ("trace.json", trace)]
            timeline_rows = ({**base, "design": summary["design"], "n_inputs": t.timeline_inputs,
                              "schedule": summary["schedule"], "makespan_cycles": summary["makespan_cycles"],
                              "throughput_inputs_per_cycle": summary["throughput_inputs_per_cycle"],
                              "energy_pj": summary["energy_pj"]["total"], "noc_bytes": summary["noc_bytes"],
                              "mac_utilization": summary["mac_utilization"]},)
    return TaskResult(tuple(rows), (("reductions", reductions), ("timeline", timeline_rows)), meta, tuple(artifacts))
