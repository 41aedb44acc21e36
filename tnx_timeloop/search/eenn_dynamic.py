"""Dynamic execution of an early-exit design: a stream of inputs through the multi-core simulator.

The expected-cost model (:meth:`EENNEvaluator.evaluate`) averages over exits analytically. This
module runs the same design as a stream of ``n_inputs`` inputs, each leaving at an exit drawn
(seeded) from the statistics, through :func:`tnx_timeloop.sim.multicore.simulate_multicore`:
every layer and exit head becomes a task on its allocated core, activations cross the NoC with
link bandwidth, hop latency and contention, the input is read from the shared memory, and an
input that leaves early frees the later cores for the inputs behind it.

Each task costs what the evaluator mapped for it (cycles and energy of the best mapping on that
core at that precision), so a long stream must reproduce the expected cost: energy per input
within sampling noise, and the busiest core's share of the makespan (the stream interval) close
to the expected interval. The simulation adds what the average hides: queueing, the latency
distribution (p50/p99), per-core utilization and the timeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.search.eenn import Design, DesignCost, EENNEvaluator, Platform
from tnx_timeloop.sim.multicore import MultiCoreResult, NodeCost, TaskNode, WorkloadGraph, simulate_multicore
from tnx_timeloop.spec.multicore import (
    CoreSpec,
    MemorySpec,
    MultiCoreArchitecture,
    NocSpec,
    load_multicore_file,
)

__all__ = ["StreamResult", "platform_package", "simulate_stream", "write_timeline"]


@dataclass(frozen=True)
class StreamResult:
    """A simulated stream of inputs through one early-exit design.

    Attributes
    ----------
    n_inputs : int
        Inputs simulated.
    seed : int
        Seed of the exit decisions.
    arrival_interval_cycles : int
        Cycles between input arrivals (0: all arrive at once, the saturated stream).
    exit_counts : dict of str to int
        Inputs that left at each exit (its name) and at the end (``"final"``).
    makespan_cycles : int
        Cycle the last input finished.
    throughput_inputs_per_cycle : float
        Completions per cycle in steady state.
    interval_cycles : float
        Makespan / inputs for the saturated stream: the cycles per input it sustains.
    latency_cycles : ndarray of int64, shape (n_inputs,)
        Each input's arrival-to-completion time, cycles.
    energy_per_input_pj : float
        Total energy / inputs, pJ: mapped layer and head energy, NoC, shared-memory reads.
    energy_pj : dict of str to float
        The simulator's energy breakdown (totals over the stream), pJ.
    utilization : ndarray of float64, shape (n_cores,)
        Busy fraction of each core over the makespan.
    clock_hz : float or None
        Clock, for conversions to seconds.
    expected : DesignCost
        The analytical expected cost of the same design, for comparison.
    simulation : MultiCoreResult
        The simulator's full result (timeline, Chrome trace, Gantt chart).
    """

    n_inputs: int
    seed: int
    arrival_interval_cycles: int
    exit_counts: dict[str, int]
    makespan_cycles: int
    throughput_inputs_per_cycle: float
    interval_cycles: float
    latency_cycles: np.ndarray
    energy_per_input_pj: float
    energy_pj: dict[str, float]
    utilization: np.ndarray
    clock_hz: float | None
    expected: DesignCost
    simulation: MultiCoreResult = field(repr=False)

    def latency_percentile(self, q: float) -> float:
        """The ``q``-th percentile (0..100) of the per-input latency, cycles."""
        return float(np.percentile(self.latency_cycles, q))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able view (no timeline)."""
        lat = self.latency_cycles
        seconds = (lambda c: c / self.clock_hz) if self.clock_hz else (lambda c: None)
        return {
            "n_inputs": self.n_inputs,
            "seed": self.seed,
            "arrival_interval_cycles": self.arrival_interval_cycles,
            "exit_counts": dict(self.exit_counts),
            "makespan_cycles": self.makespan_cycles,
            "throughput_inputs_per_cycle": self.throughput_inputs_per_cycle,
            "throughput_inputs_per_s": self.throughput_inputs_per_cycle * self.clock_hz if self.clock_hz else None,
            "interval_cycles": self.interval_cycles,
            "latency_cycles": {"mean": float(lat.mean()), "p50": self.latency_percentile(50),
                               "p99": self.latency_percentile(99), "max": float(lat.max())},
            "latency_s_mean": seconds(float(lat.mean())),
            "energy_per_input_pj": self.energy_per_input_pj,
            "energy_pj": dict(self.energy_pj),
            "utilization": [float(u) for u in self.utilization],
            "expected": {"energy_pj": self.expected.energy_pj, "latency_cycles": self.expected.latency_cycles,
                         "interval_cycles": self.expected.interval_cycles, "edp_pj_cycles": self.expected.edp,
                         "exit_fractions": [float(x) for x in self.expected.exit_fractions]},
        }


def platform_package(platform: Platform) -> MultiCoreArchitecture:
    """The simulator's view of a platform: the multi-core file it came from, or a one-core package.

    The cores' architectures do not matter to the simulation (every task's cost is given);
    the NoC and the shared memory do.
    """
    if platform.n_cores > 1:
        if platform.source is None:
            raise SpecError(Where(None, ("platform",)), "a multi-core platform needs its file to be simulated")
        return load_multicore_file(platform.source)
    arch = platform.core_types[0]
    return MultiCoreArchitecture(
        name=platform.name,
        cores=(CoreSpec(name=platform.core_type_names[0], count=1, arch=arch),),
        noc=NocSpec(topology="bus", dims=(1,), link_bandwidth_bits_per_cycle=platform.link_bits_per_cycle,
                    hop_latency_cycles=platform.hop_latency_cycles, energy_pj_per_bit_hop=platform.noc_pj_per_bit_hop),
        memory=MemorySpec(type="DRAM", bandwidth_bits_per_cycle=platform.memory_bits_per_cycle,
                          energy_pj_per_bit=platform.memory_pj_per_bit, latency_cycles=platform.memory_latency_cycles),
        clock_hz=platform.clock_hz,
    )


def simulate_stream(
    ev: EENNEvaluator,
    design: Design,
    *,
    n_inputs: int = 1000,
    seed: int = 0,
    arrival_interval_cycles: int | str = 0,
    package: MultiCoreArchitecture | None = None,
    tiles: int = 4,
) -> StreamResult:
    """Simulate ``n_inputs`` inputs through ``design`` with exits drawn from the statistics.

    Parameters
    ----------
    ev : EENNEvaluator
        The prepared network, statistics, platform and mapped costs.
    design : Design
        Exits, head sizes, precisions, threshold and layer-to-core allocation.
    n_inputs : int
        Inputs in the stream.
    seed : int
        Seed of the exit decisions (``numpy.random.default_rng``).
    arrival_interval_cycles : int or "expected"
        Cycles between arrivals; 0 (default) has every input waiting at cycle 0 (the
        saturated stream: throughput and energy); ``"expected"`` spaces them by the
        design's expected interval (latency under a sustainable load).
    package : MultiCoreArchitecture, optional
        The NoC and shared memory (default: from the platform's file).
    tiles : int
        Tiles per task (granularity of the overlap of memory transfers with compute).

    Returns
    -------
    StreamResult

    Raises
    ------
    SpecError
        For a design the evaluator rejects, ``n_inputs < 1`` or an unknown arrival setting.
    """
    where = Where(None, ("simulate_stream",))
    if n_inputs < 1:
        raise SpecError(where / "n_inputs", f"must be >= 1, got {n_inputs}")
    expected = ev.evaluate(design)
    if arrival_interval_cycles == "expected":
        interval = int(math.ceil(expected.interval_cycles))
    elif isinstance(arrival_interval_cycles, int) and arrival_interval_cycles >= 0:
        interval = arrival_interval_cycles
    else:
        raise SpecError(where / "arrival_interval_cycles",
                        f"give cycles >= 0 or 'expected', got {arrival_interval_cycles!r}")
    mc = package if package is not None else platform_package(ev.platform)
    inputs = ev.simulation_inputs(design, n_inputs=n_inputs, seed=seed)
    nodes = inputs["nodes"]
    first = nodes[0]["name"]
    graph = WorkloadGraph(tuple(
        TaskNode(n["name"], n["problem"], tuple(n["deps"]), word_bits=int(n["word_bits"]),
                 bytes_out=int(math.ceil(n["out_bits"] / 8)))
        for n in nodes), name=ev.network.name)
    # every task costs its mapped figures; the input is read from the shared memory by the first layer
    in_bytes = int(math.ceil(inputs["input_bits"] / 8)) if ev.platform.memory_mode == "onchip" else 0
    costs = {}
    for n in nodes:
        read = in_bytes if n["name"] == first else 0
        costs[(n["name"], n["core"])] = NodeCost(
            cycles=max(1, int(round(n["cycles"]))), energy_pj=n["energy_pj"], dram_read_bytes=read, dram_write_bytes=0,
            onchip_energy_pj=n["energy_pj"], input_read_bytes=read)
    sim = simulate_multicore(mc, graph, inputs["allocation"], schedule="pipelined", n_inputs=n_inputs,
                             exits=inputs["exits"], costs=costs, seed=seed, offchip_activations=False, tiles=tiles,
                             input_interval_cycles=interval, weights_resident="always")
    names = dict(zip(inputs["exit_nodes"], design.exits, strict=True))
    counts = {e: 0 for e in design.exits}
    counts["final"] = 0
    for x in inputs["exits"]:
        counts[names[x] if x is not None else "final"] += 1
    total = float(sim.energy_pj["total"])
    return StreamResult(
        n_inputs=n_inputs, seed=seed, arrival_interval_cycles=interval, exit_counts=counts,
        makespan_cycles=sim.makespan_cycles, throughput_inputs_per_cycle=sim.throughput_inputs_per_cycle,
        interval_cycles=sim.makespan_cycles / n_inputs, latency_cycles=sim.latency_cycles,
        energy_per_input_pj=total / n_inputs, energy_pj={k: float(v) for k, v in sim.energy_pj.items()},
        utilization=np.asarray(sim.utilization, dtype=np.float64), clock_hz=mc.clock_hz, expected=expected,
        simulation=sim,
    )


def write_timeline(result: StreamResult, out_dir: Path | str) -> dict[str, str]:
    """Write the stream's Chrome/Perfetto trace (JSON) and Gantt chart (PNG) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"trace": str(result.simulation.to_chrome_trace(out / "stream.trace.json"))}
    files["gantt"] = str(result.simulation.gantt_png(out / "stream.gantt.png"))
    return files
