"""Multi-core simulation: a workload graph allocated to the cores of a multi-core package.

Inputs
------
* a :class:`~tnx_timeloop.spec.multicore.MultiCoreArchitecture` -- core types with counts, a
  NoC (``mesh2d``, ``ring``, ``crossbar`` or ``bus``; link bandwidth in bits/cycle, hop latency,
  pJ per bit and hop) and a shared off-chip memory (bandwidth in bits/cycle, pJ/bit, latency);
* a :class:`WorkloadGraph` of :class:`TaskNode` (a layer or a contraction step, its
  :class:`~tnx_timeloop.spec.problem.Problem` and its dependencies);
* an allocation ``{node: core}`` or ``{node: (core, core, ...)}`` (the node is split across
  those cores along one dimension), a schedule and a stream of inputs.

Costs
-----
:func:`node_costs` maps every node onto every core type with the mapper
(:func:`tnx_timeloop.mapper.search_mappings`): the core's outermost (DRAM) level stands for its
port to the shared memory, so its bandwidth is set to the port's, ``min(memory, NoC link)``
bits/cycle. A :class:`NodeCost` holds the cycles, the energy split into compute, on-chip and
DRAM, and the DRAM bytes by role (weights, input activations, output read-back and write).

Execution (event-driven, integer cycles; :mod:`tnx_timeloop.sim.engine`)
------------------------------------------------------------------------
* A **task** is one input's pass through one node (or one part of a split node) on one core. A
  core runs one task at a time; among ready tasks it picks the earliest input, then the earliest
  node in topological order.
* A task runs as ``tiles`` tiles (default 8): tile ``k`` needs its share of the task's off-chip
  reads, computes ``cycles / tiles`` cycles, then writes its share of the off-chip writes. Reads
  of tile ``k + 2`` are issued when tile ``k`` starts computing (double buffering), so transfers
  overlap compute and a task takes ``max(cycles, its transfers under contention)``.
* **Off-chip traffic** passes the shared memory (one server at ``memory.bandwidth_bits_per_cycle``,
  plus ``memory.latency_cycles`` per read) and the core's port (one server per core at the NoC
  link bandwidth); requests from all cores are served in the order they are made, so they share
  the memory bandwidth at tile granularity.
* **Activations between cores** travel the NoC: XY routes on a mesh, the shorter way round a
  ring, one hop through a crossbar (source and destination ports) or over a single bus. Each
  transfer books every link on its route for ``bits / link bandwidth`` cycles (wormhole-like: it
  starts when all of them are free) and arrives ``hops * hop_latency`` later; tasks on the same
  core pass data in place. With ``offchip_activations`` (the default of the ``layer-by-layer``
  schedule, Stream's baseline) every node writes its outputs to the shared memory and its
  consumers read them back.
* **Weights** are read from the shared memory by every task, unless the weights of all the nodes
  allocated to a core fit its largest on-chip level: then each is read once and stays.
* **Schedules.** ``layer-by-layer``: one node (all its parts) at a time, in topological order,
  input after input. ``pipelined``: every task starts as soon as its inputs have arrived and its
  core is free, so successive inputs overlap in a pipeline across the cores.
* **Early exits.** ``exits[i]`` names the node after which input ``i`` leaves: the nodes after
  it in topological order are skipped for that input.
* **Splits.** A node on ``k`` cores is cut into ``k`` parts along the dimension that adds the
  least traffic (an output dimension of the problem: e.g. output channels, which replicate the
  input activations, or output rows, which replicate the weights). A part's cost is the mapper's
  cost of the part problem when :func:`node_costs` computed it (``splits=(k,)``), else the whole
  node's cost scaled by the part's share of the MACs and data.

Energy (pJ): compute and on-chip memory from the mapper's reports, off-chip memory as the bytes
actually moved times ``8 * memory.energy_pj_per_bit``, NoC as bits times hops times
``noc.energy_pj_per_bit_hop``.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.sim.engine import LATE, Engine, Resource
from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.multicore import MultiCoreArchitecture
from tnx_timeloop.spec.problem import Problem

__all__ = [
    "SCHEDULES",
    "TaskNode",
    "WorkloadGraph",
    "NodeCost",
    "Allocation",
    "SplitPlan",
    "TraceEvent",
    "MultiCoreResult",
    "package_core_arch",
    "core_types",
    "node_costs",
    "split_plan",
    "default_allocation",
    "simulate_multicore",
    "load_workload_graph",
    "noc_route",
]

SCHEDULES: tuple[str, ...] = ("layer-by-layer", "pipelined")
"""Schedules :func:`simulate_multicore` knows."""

Allocation = dict[str, int | tuple[int, ...]]
"""Node name -> core index, or a tuple of core indices the node is split across."""


# ---------------------------------------------------------------------------------------------
# workload graph
# ---------------------------------------------------------------------------------------------


def _roles(problem: Problem) -> tuple[list[int], list[int], list[int]]:
    """Data-space indices of (weights, input activations, outputs)."""
    outputs = [t for t, ds in enumerate(problem.dataspaces) if ds.read_write]
    others = [t for t, ds in enumerate(problem.dataspaces) if not ds.read_write]
    weights = [t for t in others if any(k in problem.dataspaces[t].name.lower() for k in ("weight", "filter"))]
    if not weights and len(others) >= 2:
        weights = others[1:]
    inputs = [t for t in others if t not in weights]
    return weights, inputs, outputs


@dataclass(frozen=True)
class TaskNode:
    """One node of a workload graph: a layer or a contraction step.

    Attributes
    ----------
    name : str
        Unique name.
    problem : Problem
        What the node computes.
    deps : tuple of str
        Names of the nodes whose outputs it reads.
    word_bits : int, optional
        Bits per word of its tensors (default: the core's DRAM word size, else 8).
    bytes_in, bytes_out : int, optional
        Bytes of its input activations and of its outputs (default: the problem's input and
        output data-spaces, in words times ``word_bits / 8``).
    """

    name: str
    problem: Problem
    deps: tuple[str, ...] = ()
    word_bits: int | None = None
    bytes_in: int | None = None
    bytes_out: int | None = None

    def _bytes(self, which: str, word_bits: int) -> int:
        weights, inputs, outputs = _roles(self.problem)
        sel = {"in": inputs, "out": outputs, "weights": weights}[which]
        words = sum(self.problem.dataspace_words(self.problem.dataspaces[t].name) for t in sel)
        return int(math.ceil(words * (self.word_bits or word_bits) / 8))

    def input_bytes(self, word_bits: int = 8) -> int:
        """Bytes of the input activations (``bytes_in`` or the problem's)."""
        return int(self.bytes_in) if self.bytes_in is not None else self._bytes("in", word_bits)

    def output_bytes(self, word_bits: int = 8) -> int:
        """Bytes of the outputs (``bytes_out`` or the problem's)."""
        return int(self.bytes_out) if self.bytes_out is not None else self._bytes("out", word_bits)

    def weight_bytes(self, word_bits: int = 8) -> int:
        """Bytes of the weights (the problem's weight data-spaces)."""
        return self._bytes("weights", word_bits)


@dataclass(frozen=True)
class WorkloadGraph:
    """A DAG of :class:`TaskNode` (validated: unique names, known dependencies, no cycle).

    Attributes
    ----------
    nodes : tuple of TaskNode
        The nodes; their listed order breaks ties in the topological order.
    name : str
        Graph name.

    Raises
    ------
    SpecError
        For repeated names, unknown dependencies (listing the nodes) or a cycle (naming it).
    """

    nodes: tuple[TaskNode, ...]
    name: str = "graph"
    order: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _by_name: dict[str, TaskNode] = field(init=False, repr=False, compare=False)
    _successors: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = Where(None, ("graph", self.name))
        names = [n.name for n in self.nodes]
        if not names:
            raise SpecError(where, "a workload graph needs at least one node")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SpecError(where, f"node names repeat: {dupes}")
        known = set(names)
        for n in self.nodes:
            bad = [d for d in n.deps if d not in known]
            if bad:
                raise SpecError(where / n.name, f"unknown dependencies {bad}; nodes are {names}")
            if n.name in n.deps:
                raise SpecError(where / n.name, "a node cannot depend on itself")
        # stable Kahn: among ready nodes, the one listed first
        indeg = {n.name: len(set(n.deps)) for n in self.nodes}
        succ: dict[str, list[str]] = {n.name: [] for n in self.nodes}
        for n in self.nodes:
            for d in set(n.deps):
                succ[d].append(n.name)
        position = {name: i for i, name in enumerate(names)}
        ready = sorted((position[n] for n, k in indeg.items() if k == 0))
        order: list[str] = []
        heapq.heapify(ready)
        while ready:
            name = names[heapq.heappop(ready)]
            order.append(name)
            for s in succ[name]:
                indeg[s] -= 1
                if indeg[s] == 0:
                    heapq.heappush(ready, position[s])
        if len(order) != len(names):
            cyclic = sorted(n for n, k in indeg.items() if k > 0)
            raise SpecError(where, f"the graph has a cycle through {cyclic}")
        object.__setattr__(self, "order", tuple(order))
        # lookups the simulator makes per task: by name, and successors in topological order
        object.__setattr__(self, "_by_name", {n.name: n for n in self.nodes})
        reads = {n.name: set(n.deps) for n in self.nodes}
        object.__setattr__(self, "_successors",
                           {name: tuple(m for m in order if name in reads[m]) for name in names})

    def node(self, name: str) -> TaskNode:
        """The node called ``name``."""
        return self._by_name[name]

    def successors(self, name: str) -> tuple[str, ...]:
        """Nodes that read ``name``'s outputs, in topological order."""
        return self._successors[name]

    @classmethod
    def chain(cls, problems: Sequence[tuple[str, Problem]], *, name: str = "chain") -> WorkloadGraph:
        """A chain: each node depends on the previous one."""
        nodes = []
        for i, (node_name, problem) in enumerate(problems):
            nodes.append(TaskNode(node_name, problem, (problems[i - 1][0],) if i else ()))
        return cls(tuple(nodes), name=name)


def load_workload_graph(path: str | Path) -> WorkloadGraph:
    """Read a workload graph file.

    Two forms are read. A ``network`` file (``workloads/*/network.yaml``): ``layers`` with
    ``name``, ``file`` (a problem YAML next to it) and ``count``, run as a chain in the listed
    order (``count: 3`` gives ``name_0 .. name_2``). A ``graph`` file: ``nodes`` with ``name``,
    ``problem`` (a file) and optional ``deps``, ``word_bits``, ``bytes_in``, ``bytes_out``.

    Raises
    ------
    SpecError
        Naming the file and key for missing files, unknown keys or a bad graph.
    """
    from tnx_timeloop.spec.problem import load_problem_file
    from tnx_timeloop.spec.yaml_io import load_yaml_file

    p = Path(path)
    doc = load_yaml_file(p)
    if isinstance(doc, MappingABC) and "network" in doc:
        net = doc["network"]
        where = Where(p, ("network",))
        layers = net.get("layers") if isinstance(net, MappingABC) else None
        if not isinstance(layers, list) or not layers:
            raise SpecError(where / "layers", "expected a non-empty list of {name, file, count}")
        items: list[tuple[str, Problem]] = []
        for i, layer in enumerate(layers):
            lw = where / "layers" / i
            if not isinstance(layer, MappingABC) or "file" not in layer:
                raise SpecError(lw, "a layer needs 'file' (and 'name', 'count')")
            unknown = sorted(set(map(str, layer)) - {"name", "file", "count"})
            if unknown:
                raise SpecError(lw / unknown[0], "unknown key; allowed: ['count', 'file', 'name']")
            problem = load_problem_file(p.parent / str(layer["file"]))
            count = int(layer.get("count", 1))
            base = str(layer.get("name", Path(str(layer["file"])).stem))
            for k in range(count):
                items.append((base if count == 1 else f"{base}_{k}", problem))
        return WorkloadGraph.chain(items, name=str(net.get("name", p.stem)))
    if isinstance(doc, MappingABC) and "graph" in doc:
        g = doc["graph"]
        where = Where(p, ("graph",))
        raw_nodes = g.get("nodes") if isinstance(g, MappingABC) else None
        if not isinstance(raw_nodes, list) or not raw_nodes:
            raise SpecError(where / "nodes", "expected a non-empty list of {name, problem, deps}")
        nodes = []
        allowed = {"name", "problem", "deps", "word_bits", "bytes_in", "bytes_out"}
        for i, raw in enumerate(raw_nodes):
            nw = where / "nodes" / i
            if not isinstance(raw, MappingABC) or "name" not in raw or "problem" not in raw:
                raise SpecError(nw, "a node needs 'name' and 'problem' (a problem file)")
            unknown = sorted(set(map(str, raw)) - allowed)
            if unknown:
                raise SpecError(nw / unknown[0], f"unknown key; allowed: {sorted(allowed)}")
            deps = raw.get("deps") or []
            if isinstance(deps, str):
                deps = [deps]
            nodes.append(TaskNode(
                str(raw["name"]), load_problem_file(p.parent / str(raw["problem"])), tuple(map(str, deps)),
                word_bits=raw.get("word_bits"), bytes_in=raw.get("bytes_in"), bytes_out=raw.get("bytes_out"),
            ))
        return WorkloadGraph(tuple(nodes), name=str(g.get("name", p.stem)))
    raise SpecError(Where(p), "expected a top-level 'network' (layer list) or 'graph' (nodes with deps) key")


# ---------------------------------------------------------------------------------------------
# costs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeCost:
    """Cost of one node (or node part) on one core, from the mapper.

    Attributes
    ----------
    cycles : int
        Cycles on the core (the mapper's best mapping; the DRAM level at the core's port bandwidth).
    energy_pj : float
        Total energy of that mapping, pJ (incl. the core's own DRAM-level energy).
    dram_read_bytes, dram_write_bytes : int
        Bytes the mapping reads from / writes to the off-chip memory.
    compute_energy_pj, onchip_energy_pj, dram_energy_pj : float
        ``energy_pj`` split into the MACs, the on-chip levels and the DRAM level, pJ.
    weight_read_bytes, input_read_bytes, output_read_bytes, output_write_bytes : int
        Off-chip reads of weights, of input activations and of partial outputs, and writes of
        outputs (``dram_read_bytes`` is the sum of the three reads).
    macs : int
        Multiply-accumulates.
    """

    cycles: int
    energy_pj: float
    dram_read_bytes: int
    dram_write_bytes: int
    compute_energy_pj: float = 0.0
    onchip_energy_pj: float = 0.0
    dram_energy_pj: float = 0.0
    weight_read_bytes: int = 0
    input_read_bytes: int = 0
    output_read_bytes: int = 0
    output_write_bytes: int = 0
    macs: int = 0


def package_core_arch(mc: MultiCoreArchitecture, core: int | str) -> Architecture:
    """A core's architecture inside the package: its DRAM level at the port bandwidth.

    The outermost level (the core's port to the shared memory) reads and writes at
    ``min(memory.bandwidth_bits_per_cycle, noc.link_bandwidth_bits_per_cycle) / word_bits``
    words per cycle.
    """
    spec = mc.core_of_node(core) if isinstance(core, int) else next(c for c in mc.cores if c.name == core)
    arch = spec.arch
    top = arch.storage[0]
    bits = min(mc.memory.bandwidth_bits_per_cycle, mc.noc.link_bandwidth_bits_per_cycle)
    words = bits / top.word_bits
    return replace(arch, storage=(replace(top, read_bandwidth=words, write_bandwidth=words), *arch.storage[1:]))


def core_types(mc: MultiCoreArchitecture) -> list[int]:
    """Core type index of every core (NoC node order)."""
    out = []
    for t, core in enumerate(mc.cores):
        out.extend([t] * core.count)
    return out


def _cost_from_report(arch: Architecture, problem: Problem, report: Any) -> NodeCost:
    weights, inputs, outputs = _roles(problem)
    top = arch.storage[0]
    util = float(report.utilized_instances[0, 0])
    to_bytes = top.word_bits / 8 * util
    reads = report.reads[0, 0]
    updates = report.updates[0, 0]

    def b(x: float) -> int:
        return int(round(float(x) * to_bytes))

    w = b(sum(reads[t] for t in weights))
    i = b(sum(reads[t] for t in inputs))
    o = b(sum(reads[t] for t in outputs))
    ow = b(sum(updates[t] for t in outputs))
    dram_e = float(report.energy_by_level_pj[0, 0])
    compute_e = float(report.compute_energy_pj[0])
    total = float(report.energy_pj[0])
    return NodeCost(
        cycles=int(report.cycles[0]), energy_pj=total, dram_read_bytes=w + i + o, dram_write_bytes=ow,
        compute_energy_pj=compute_e, onchip_energy_pj=total - compute_e - dram_e, dram_energy_pj=dram_e,
        weight_read_bytes=w, input_read_bytes=i, output_read_bytes=o, output_write_bytes=ow, macs=int(problem.macs),
    )


@dataclass(frozen=True)
class SplitPlan:
    """How a node is cut into ``parts`` equal parts.

    Attributes
    ----------
    parts : int
        Number of parts.
    dim : str
        The dimension cut (``ceil(bound / parts)`` per part).
    problem : Problem
        One part's problem.
    input_fraction, weight_fraction, output_fraction : float
        Each part's share of the node's input activations, weights and outputs (a replicated
        operand has share 1).
    mac_fraction : float
        Each part's share of the MACs.
    """

    parts: int
    dim: str
    problem: Problem
    input_fraction: float
    weight_fraction: float
    output_fraction: float
    mac_fraction: float


def split_plan(node: TaskNode, parts: int) -> SplitPlan:
    """Cut ``node`` into ``parts`` parts along the output dimension that adds the least traffic.

    Candidates are the dimensions the outputs depend on with a bound >= ``parts``. The extra
    traffic of a cut is the data the parts replicate (their input and weight words over the
    whole node's); ties go to the larger bound.

    Raises
    ------
    SpecError
        If no output dimension can be cut into ``parts``.
    """
    problem = node.problem
    if parts == 1:
        return SplitPlan(1, problem.dimensions[0], problem, 1.0, 1.0, 1.0, 1.0)
    weights, inputs, outputs = _roles(problem)
    out_dims = [d for t in outputs for d in problem.dataspaces[t].dimensions]
    candidates = [d for d in dict.fromkeys(out_dims) if problem.bound(d) >= parts]
    if not candidates:
        raise SpecError(Where(None, ("allocation", node.name)),
                        f"cannot split {node.name!r} into {parts} parts: no output dimension has a bound >= {parts}")

    def words(pr: Problem, sel: list[int]) -> int:
        return sum(pr.dataspace_words(pr.dataspaces[t].name) for t in sel)

    best = None
    for d in candidates:
        part = problem.with_bounds(**{d: -(-problem.bound(d) // parts)})
        extra = (words(part, inputs) + words(part, weights)) * parts - words(problem, inputs) - words(problem, weights)
        key = (extra, -problem.bound(d))
        if best is None or key < best[0]:
            best = (key, d, part)
    assert best is not None
    _, d, part = best

    def frac(sel: list[int]) -> float:
        whole = words(problem, sel)
        return words(part, sel) / whole if whole else 0.0

    return SplitPlan(parts, d, part, frac(inputs), frac(weights), frac(outputs), part.macs / problem.macs)


def node_costs(
    mc: MultiCoreArchitecture,
    graph: WorkloadGraph,
    *,
    budget: int = 2000,
    seed: int = 0,
    cache: Any = None,
    jobs: int = 1,
    objective: Any = "edp",
    splits: Sequence[int] = (),
) -> dict[tuple[str, int], NodeCost]:
    """Map every node onto every core with the mapper; one search per (core type, problem).

    Parameters
    ----------
    mc : MultiCoreArchitecture
        The package.
    graph : WorkloadGraph
        The nodes.
    budget, seed, cache, jobs, objective
        Passed to :func:`tnx_timeloop.mapper.search_mappings`.
    splits : sequence of int
        Also cost the parts of every node split into each of these counts, under the keys
        ``(f"{name}/{k}", core)`` (used by :func:`simulate_multicore` for split nodes).

    Returns
    -------
    dict
        ``(node name, core index) -> NodeCost`` for every core.

    Raises
    ------
    SearchError
        If no mapping of a node fits a core.
    """
    from tnx_timeloop.mapper import search_mappings

    types = core_types(mc)
    archs = {t: package_core_arch(mc, mc.cores[t].name) for t in set(types)}
    memo: dict[tuple[int, Problem], NodeCost] = {}

    def cost(t: int, problem: Problem) -> NodeCost:
        key = (t, problem)
        if key not in memo:
            result = search_mappings(archs[t], problem, objective=objective, budget=budget, seed=seed,
                                     cache=cache, jobs=jobs)
            memo[key] = _cost_from_report(archs[t], problem, result.best_report)
        return memo[key]

    out: dict[tuple[str, int], NodeCost] = {}
    for node in graph.nodes:
        for core, t in enumerate(types):
            out[(node.name, core)] = cost(t, node.problem)
            for k in splits:
                if k > 1:
                    try:
                        plan = split_plan(node, k)
                    except SpecError:
                        continue
                    out[(f"{node.name}/{k}", core)] = cost(t, plan.problem)
    return out


# ---------------------------------------------------------------------------------------------
# NoC routes
# ---------------------------------------------------------------------------------------------


def noc_route(mc: MultiCoreArchitecture, src: int, dst: int) -> tuple[str, ...]:
    """Directed links a transfer from node ``src`` to node ``dst`` books.

    ``mesh2d``: XY routing (``"x,y>x',y'"`` per hop); ``ring``: the shorter way round
    (clockwise on ties); ``crossbar``: the source's output and the destination's input port;
    ``bus``: the one bus. Empty for ``src == dst``.
    """
    noc = mc.noc
    if src == dst:
        return ()
    if noc.topology == "mesh2d":
        nx = noc.dims[0]
        x, y = src % nx, src // nx
        tx, ty = dst % nx, dst // nx
        links = []
        while x != tx:
            nxt = x + (1 if tx > x else -1)
            links.append(f"{x},{y}>{nxt},{y}")
            x = nxt
        while y != ty:
            nxt = y + (1 if ty > y else -1)
            links.append(f"{x},{y}>{x},{nxt}")
            y = nxt
        return tuple(links)
    if noc.topology == "ring":
        n = noc.nodes
        cw = (dst - src) % n
        step = 1 if cw <= n - cw else -1
        links = []
        cur = src
        while cur != dst:
            nxt = (cur + step) % n
            links.append(f"{cur}>{nxt}")
            cur = nxt
        return tuple(links)
    if noc.topology == "crossbar":
        return (f"out{src}", f"in{dst}")
    return ("bus",)


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One interval on one resource.

    Attributes
    ----------
    name : str
        What ran (``node[input]``, a transfer...).
    category : str
        ``compute``, ``dram-read``, ``dram-write``, ``noc`` or ``wait``.
    resource : str
        ``core 0``, ``memory``, ``port 2``, ``link 0,0>1,0``...
    start_cycle, end_cycle : int
        Interval in cycles.
    args : tuple of (str, value)
        Extra fields (input, node, bytes...).
    """

    name: str
    category: str
    resource: str
    start_cycle: int
    end_cycle: int
    args: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class MultiCoreResult:
    """What :func:`simulate_multicore` measured.

    Attributes
    ----------
    makespan_cycles : int
        From the first input's arrival to the last task or transfer.
    throughput_inputs_per_cycle : float
        Steady state: ``(n - 1) / (completion[n-1] - completion[0])`` for ``n >= 2`` inputs, else
        ``1 / makespan``.
    latency_cycles : ndarray of int64, shape (n_inputs,)
        Completion minus arrival of every input.
    energy_pj : dict
        ``compute``, ``memory_onchip``, ``memory_offchip``, ``memory`` (the two), ``noc`` and
        ``total``, in pJ.
    utilization : ndarray of float64, shape (cores,)
        Fraction of the makespan each core computed.
    mac_utilization : float
        MACs over ``makespan x peak MACs per cycle`` of the package.
    dram_read_bytes, dram_write_bytes, noc_bytes : int
        Off-chip traffic and bytes sent over the NoC.
    events : list of TraceEvent
        Every task, transfer and tile (the timeline).
    schedule : str
        The schedule simulated.
    allocation : dict
        The allocation simulated.
    core_names : tuple of str
        ``type[index]`` of every core.
    completion_cycles : ndarray of int64, shape (n_inputs,)
        When each input finished.
    clock_hz : float or None
        The package clock (for traces in time units).
    """

    makespan_cycles: int
    throughput_inputs_per_cycle: float
    latency_cycles: np.ndarray
    energy_pj: dict[str, float]
    utilization: np.ndarray
    mac_utilization: float
    dram_read_bytes: int
    dram_write_bytes: int
    noc_bytes: int
    events: list[TraceEvent]
    schedule: str
    allocation: dict[str, Any]
    core_names: tuple[str, ...]
    completion_cycles: np.ndarray
    clock_hz: float | None = None

    @property
    def edp(self) -> float:
        """Energy-delay product, pJ x cycles (total energy times makespan)."""
        return float(self.energy_pj["total"]) * float(self.makespan_cycles)

    def to_dict(self, *, events: bool = False) -> dict[str, Any]:
        """A JSON-ready summary (events only when asked)."""
        out: dict[str, Any] = {
            "schedule": self.schedule,
            "makespan_cycles": int(self.makespan_cycles),
            "throughput_inputs_per_cycle": float(self.throughput_inputs_per_cycle),
            "latency_cycles": [int(x) for x in self.latency_cycles],
            "energy_pj": {k: float(v) for k, v in self.energy_pj.items()},
            "edp_pj_cycles": self.edp,
            "utilization": {name: float(u) for name, u in zip(self.core_names, self.utilization, strict=True)},
            "mac_utilization": float(self.mac_utilization),
            "dram_read_bytes": int(self.dram_read_bytes),
            "dram_write_bytes": int(self.dram_write_bytes),
            "noc_bytes": int(self.noc_bytes),
            "allocation": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.allocation.items()},
        }
        if self.clock_hz:
            out["makespan_s"] = self.makespan_cycles / self.clock_hz
            out["throughput_inputs_per_s"] = self.throughput_inputs_per_cycle * self.clock_hz
        if events:
            out["events"] = [
                {"name": e.name, "category": e.category, "resource": e.resource, "start_cycle": e.start_cycle,
                 "end_cycle": e.end_cycle, **dict(e.args)}
                for e in self.events
            ]
        return out

    def chrome_trace(self) -> dict[str, Any]:
        """The timeline as a Chrome/Perfetto trace object (``ts``/``dur`` in cycles, shown as µs)."""
        resources: dict[str, tuple[int, int]] = {}
        groups = {"core": 0, "port": 1, "memory": 2, "link": 3}
        trace: list[dict[str, Any]] = []
        for pid, label in ((0, "cores"), (1, "core ports"), (2, "shared memory"), (3, "NoC links")):
            trace.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": label}})
        for e in self.events:
            kind = e.resource.split(" ")[0]
            pid = groups.get(kind, 3)
            if e.resource not in resources:
                tid = sum(1 for r in resources.values() if r[0] == pid)
                resources[e.resource] = (pid, tid)
                trace.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": e.resource}})
            pid, tid = resources[e.resource]
            trace.append({
                "name": e.name, "cat": e.category, "ph": "X", "ts": e.start_cycle,
                "dur": max(0, e.end_cycle - e.start_cycle), "pid": pid, "tid": tid,
                "args": {k: (v if isinstance(v, int | float | str | bool) else str(v)) for k, v in e.args},
            })
        return {
            "traceEvents": trace,
            "displayTimeUnit": "ms",
            "otherData": {"time_unit": "cycles (shown as microseconds)", "clock_hz": self.clock_hz,
                          "schedule": self.schedule, "makespan_cycles": int(self.makespan_cycles)},
        }

    def to_chrome_trace(self, path: str | Path) -> Path:
        """Write :meth:`chrome_trace` as JSON to ``path`` (open it in Perfetto or chrome://tracing)."""
        p = Path(path)
        p.write_text(json.dumps(self.chrome_trace()))
        return p

    def gantt_png(self, path: str | Path, *, max_events: int = 20000) -> Path:
        """Draw a Gantt chart of the cores, the memory and the busiest links to a PNG.

        Needs matplotlib (an optional extra), imported here.

        Raises
        ------
        ImportError
            If matplotlib is not installed (with a hint).
        """
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("gantt_png needs matplotlib: pip install matplotlib") from err
        rows: list[str] = [f"core {i}" for i in range(len(self.core_names))]
        for e in self.events:
            if e.resource not in rows and e.category != "compute-tile":
                rows.append(e.resource)
        rows = rows[:24]
        index = {r: i for i, r in enumerate(rows)}
        nodes = sorted({dict(e.args).get("node", e.name) for e in self.events if e.category == "compute"})
        cmap = plt.get_cmap("tab20")
        colour = {n: cmap(i % 20) for i, n in enumerate(nodes)}
        fig, ax = plt.subplots(figsize=(12, 0.45 * len(rows) + 1.5))
        # one broken_barh per (row, colour): a bar artist per event makes long streams take minutes
        spans: dict[tuple[int, tuple[float, ...]], list[tuple[int, int]]] = {}
        for e in self.events[:max_events]:
            if e.resource not in index or e.end_cycle <= e.start_cycle:
                continue
            node = dict(e.args).get("node")
            c = colour.get(node, (0.6, 0.6, 0.6, 1.0)) if e.category in ("compute", "dram-read", "dram-write", "noc") else (0.8, 0.8, 0.8, 1)
            spans.setdefault((index[e.resource], tuple(c)), []).append((e.start_cycle, e.end_cycle - e.start_cycle))
        for (row, c), bars in spans.items():
            ax.broken_barh(bars, (row - 0.4, 0.8), facecolors=c, edgecolor="none")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([r if not r.startswith("core ") else f"{r} ({self.core_names[int(r[5:])]})" for r in rows])
        ax.invert_yaxis()
        ax.set_xlabel("cycle")
        shown = "" if len(self.events) <= max_events else f" (first {max_events:,} of {len(self.events):,} events)"
        ax.set_title(f"{self.schedule}: makespan {self.makespan_cycles:,} cycles{shown}")
        fig.tight_layout()
        p = Path(path)
        fig.savefig(p, dpi=110)
        plt.close(fig)
        return p


# ---------------------------------------------------------------------------------------------
# allocation helpers
# ---------------------------------------------------------------------------------------------


def _cores_of(value: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(value, int | np.integer):
        return (int(value),)
    return tuple(int(v) for v in value)


def default_allocation(
    mc: MultiCoreArchitecture, graph: WorkloadGraph, schedule: str = "layer-by-layer",
    costs: MappingABC[tuple[str, int], NodeCost] | None = None,
) -> Allocation:
    """A reasonable allocation without search.

    ``layer-by-layer``: every node split across all cores (Stream's layer-by-layer baseline).
    ``pipelined``: consecutive nodes in topological order grouped into one stage per core, each
    stage about the same number of cycles (needs ``costs``; else equal node counts).
    """
    n_cores = mc.total_cores
    if schedule == "layer-by-layer":
        every = tuple(range(n_cores))
        return {n.name: (every if n_cores > 1 else 0) for n in graph.nodes}
    order = list(graph.order)
    weight = [float(costs[(name, 0)].cycles) if costs is not None and (name, 0) in costs else 1.0 for name in order]
    total = sum(weight)
    alloc: Allocation = {}
    acc = 0.0
    for name, w in zip(order, weight, strict=True):
        stage = min(n_cores - 1, int((acc + w / 2) / total * n_cores)) if total else 0
        alloc[name] = stage
        acc += w
    return alloc


# ---------------------------------------------------------------------------------------------
# the simulation
# ---------------------------------------------------------------------------------------------


@dataclass
class _Task:
    input: int
    node: str
    part: int
    parts: int
    core: int
    cycles: int
    read_bytes: int  # off-chip reads (weights, inputs from DRAM, output read-back)
    write_bytes: int  # off-chip writes
    weight_bytes: int  # part of read_bytes that is weights (skipped when resident and loaded)
    compute_pj: float
    onchip_pj: float
    macs: int
    pending: int = 0  # deliveries still missing
    start: int = -1
    end: int = -1
    done_data: int = -1  # when its outputs are available to consumers (writes done / sent)
    position: int = 0


class _Sim:
    """Event-driven execution of one allocation (see the module docstring)."""

    def __init__(self, mc: MultiCoreArchitecture, graph: WorkloadGraph, allocation: MappingABC[str, Any],
                 schedule: str, n_inputs: int, exits: Sequence[str | None], costs: MappingABC[tuple[str, int], NodeCost],
                 offchip_activations: bool, tiles: int, input_interval: int, weights_resident: str) -> None:
        self.mc, self.graph, self.schedule = mc, graph, schedule
        self.engine = Engine()
        self.n_cores = mc.total_cores
        self.types = core_types(mc)
        self.word_bits = [mc.cores[t].arch.storage[0].word_bits for t in self.types]
        noc = mc.noc
        self.link_bw = float(noc.link_bandwidth_bits_per_cycle)
        self.hop_latency = int(round(noc.hop_latency_cycles))
        self.mem_bw = float(mc.memory.bandwidth_bits_per_cycle)
        self.mem_latency = int(round(mc.memory.latency_cycles))
        self.memory = Resource("memory")
        self.ports = [Resource(f"port {c}") for c in range(self.n_cores)]
        self.links: dict[str, Resource] = {}
        self.core_free = [True] * self.n_cores
        self.ready: list[list[_Task]] = [[] for _ in range(self.n_cores)]
        self.events: list[TraceEvent] = []
        self.tiles = max(1, int(tiles))
        self.offchip = offchip_activations
        self.energy = {"compute": 0.0, "memory_onchip": 0.0, "memory_offchip": 0.0, "noc": 0.0}
        self.dram_read = self.dram_write = self.noc_bytes = 0
        self.busy = np.zeros(self.n_cores, dtype=np.int64)
        self.macs = 0
        self.position = {name: i for i, name in enumerate(graph.order)}
        self.arrival = [i * input_interval for i in range(n_inputs)]
        self.completion = [0] * n_inputs

        # which nodes run for each input
        self.runs: list[list[str]] = []
        for i in range(n_inputs):
            x = exits[i]
            cut = self.position[x] if x is not None else len(graph.order) - 1
            self.runs.append([n for n in graph.order if self.position[n] <= cut])

        # the parts of every node and their costs
        self.cores_of = {n.name: _cores_of(allocation[n.name]) for n in graph.nodes}
        self.plans = {name: split_plan(graph.node(name), len(cs)) for name, cs in self.cores_of.items()}
        self.costs = costs
        # resident weights per core
        self.resident = [False] * self.n_cores
        if weights_resident in ("auto", "always"):
            need = np.zeros(self.n_cores)
            for name, cs in self.cores_of.items():
                plan = self.plans[name]
                for c in cs:
                    need[c] += self.graph.node(name).weight_bytes(self.word_bits[c]) * plan.weight_fraction
            for c in range(self.n_cores):
                cap = max((lv.instances * (lv.size_words or 0) * lv.word_bits / 8
                           for lv in mc.core_of_node(c).arch.storage[1:]), default=0.0)
                self.resident[c] = weights_resident == "always" or need[c] <= cap
        self.loaded: set[tuple[int, str, int]] = set()

        # tasks
        self.tasks: dict[tuple[int, str], list[_Task]] = {}
        for i in range(n_inputs):
            runs = set(self.runs[i])
            for name in self.runs[i]:
                node = graph.node(name)
                cs = self.cores_of[name]
                plan = self.plans[name]
                consumers = [s for s in graph.successors(name) if s in runs]
                parts = []
                for q, c in enumerate(cs):
                    parts.append(self._task(i, node, q, len(cs), c, plan, to_dram=self.offchip or not consumers,
                                            from_dram=self.offchip or not node.deps))
                self.tasks[(i, name)] = parts
        # dependencies: every part of every dep delivered to the part's core
        for (i, name), parts in self.tasks.items():
            for t in parts:
                t.pending = sum(len(self.tasks[(i, d)]) for d in set(self.graph.node(name).deps))
        # layer-by-layer: one node at a time, in sequence
        self.sequence = [(i, n) for i in range(n_inputs) for n in self.runs[i]]
        self.sequence_position = {key: k for k, key in enumerate(self.sequence)}
        if schedule == "layer-by-layer":
            for k, key in enumerate(self.sequence):
                if k:
                    for t in self.tasks[key]:
                        t.pending += 1
        self.group_left = {key: len(parts) for key, parts in self.tasks.items()}

    def _task(self, i: int, node: TaskNode, q: int, parts: int, core: int, plan: SplitPlan, *,
              to_dram: bool, from_dram: bool) -> _Task:
        key = (f"{node.name}/{parts}", core) if parts > 1 else (node.name, core)
        if key in self.costs:
            cost = self.costs[key]
            f_mac = f_in = f_w = f_out = 1.0
        else:
            if (node.name, core) not in self.costs:
                raise SpecError(Where(None, ("costs",)), f"no cost for node {node.name!r} on core {core}")
            cost = self.costs[(node.name, core)]
            f_mac, f_in, f_w, f_out = plan.mac_fraction, plan.input_fraction, plan.weight_fraction, plan.output_fraction
        wb = self.word_bits[core]
        out_bytes = node.output_bytes(wb) * plan.output_fraction
        weight = int(round(cost.weight_read_bytes * f_w))
        reads = weight + int(round(cost.output_read_bytes * f_out))
        if from_dram:
            reads += int(round(cost.input_read_bytes * f_in))
        writes = int(round(cost.output_write_bytes * f_out))
        if not to_dram:  # outputs go to the consumers over the NoC; only spills stay off-chip
            writes = max(0, writes - int(round(out_bytes)))
        return _Task(i, node.name, q, parts, core, max(1, int(math.ceil(cost.cycles * f_mac))), reads, writes, weight,
                     cost.compute_energy_pj * f_mac, cost.onchip_energy_pj * f_mac, int(round(cost.macs * f_mac)),
                     position=self.position[node.name])

    # -- resources ----------------------------------------------------------------------------
    def _dram(self, task: _Task, nbytes: int, write: bool, ready: int) -> int:
        """Book an off-chip read (memory then port) or write (port then memory); returns the arrival cycle."""
        if nbytes <= 0:
            return ready
        bits = nbytes * 8
        d_mem = max(1, math.ceil(bits / self.mem_bw))
        d_port = max(1, math.ceil(bits / self.link_bw))
        port = self.ports[task.core]
        if write:
            p0 = port.reserve(ready, d_port)
            m0 = self.memory.reserve(p0, d_mem)
            end = max(p0 + d_port, m0 + d_mem)
        else:
            m0 = self.memory.reserve(ready, d_mem)
            p0 = port.reserve(m0, d_port)
            end = max(p0 + d_port, m0 + d_mem) + self.mem_latency
        label = f"{task.node}[{task.input}]"
        args = (("node", task.node), ("input", task.input), ("bytes", nbytes))
        cat = "dram-write" if write else "dram-read"
        self.events.append(TraceEvent(label, cat, "memory", m0, m0 + d_mem, args))
        self.events.append(TraceEvent(label, cat, f"port {task.core}", p0, p0 + d_port, args))
        self.energy["memory_offchip"] += bits * self.mc.memory.energy_pj_per_bit
        if write:
            self.dram_write += nbytes
        else:
            self.dram_read += nbytes
        return end

    def _noc(self, src: int, dst: int, nbytes: int, ready: int, label: str, args: tuple) -> int:
        """Book a core-to-core transfer on every link of its route; returns the arrival cycle."""
        route = noc_route(self.mc, src, dst)
        if not route or nbytes <= 0:
            return ready
        bits = nbytes * 8
        dur = max(1, math.ceil(bits / self.link_bw))
        links = [self.links.setdefault(r, Resource(f"link {r}")) for r in route]
        start = max([ready] + [lk.free_cycle for lk in links])
        for lk in links:
            lk.reserve(start, dur)
            self.events.append(TraceEvent(label, "noc", lk.name, start, start + dur, args))
        hops = self.mc.noc.hops(src, dst)
        self.energy["noc"] += bits * hops * self.mc.noc.energy_pj_per_bit_hop
        self.noc_bytes += nbytes
        return start + dur + hops * self.hop_latency

    # -- scheduling ---------------------------------------------------------------------------
    def _release(self, task: _Task) -> None:
        self.ready[task.core].append(task)
        self.engine.after(0, lambda c=task.core: self._dispatch(c), priority=LATE)

    def _dispatch(self, core: int) -> None:
        if not self.core_free[core] or not self.ready[core]:
            return
        queue = self.ready[core]
        queue.sort(key=lambda t: (t.input, t.position, t.part))
        task = queue.pop(0)
        self.core_free[core] = False
        self._run(task)

    def _run(self, task: _Task) -> None:
        eng = self.engine
        now = eng.now_cycle
        task.start = now
        reads = task.read_bytes
        if self.resident[task.core]:
            key = (task.core, task.node, task.part)
            if key in self.loaded:
                reads -= task.weight_bytes
            else:
                self.loaded.add(key)
        k_tiles = self.tiles
        read_share = [reads // k_tiles + (1 if r < reads % k_tiles else 0) for r in range(k_tiles)]
        write_share = [task.write_bytes // k_tiles + (1 if r < task.write_bytes % k_tiles else 0) for r in range(k_tiles)]
        cyc_share = [task.cycles // k_tiles + (1 if r < task.cycles % k_tiles else 0) for r in range(k_tiles)]
        arrive = [0] * k_tiles
        for r in range(min(2, k_tiles)):
            arrive[r] = self._dram(task, read_share[r], False, now)
        state = {"tile": 0, "last_write": now}
        label = f"{task.node}[{task.input}]"
        args = (("node", task.node), ("input", task.input), ("part", task.part))

        def start_tile() -> None:
            r = state["tile"]
            t0 = eng.now_cycle
            if r + 2 < k_tiles:
                arrive[r + 2] = self._dram(task, read_share[r + 2], False, t0)
            eng.after(cyc_share[r], end_tile)

        def end_tile() -> None:
            r = state["tile"]
            t1 = eng.now_cycle
            state["last_write"] = max(state["last_write"], self._dram(task, write_share[r], True, t1))
            state["tile"] = r + 1
            if r + 1 < k_tiles:
                eng.at(max(t1, arrive[r + 1]), start_tile)
            else:
                finish(t1)

        def finish(t1: int) -> None:
            task.end = t1
            self.busy[task.core] += task.cycles
            self.events.append(TraceEvent(label, "compute", f"core {task.core}", task.start, t1, args))
            self.energy["compute"] += task.compute_pj
            self.energy["memory_onchip"] += task.onchip_pj
            self.macs += task.macs
            self.core_free[task.core] = True
            eng.after(0, lambda: self._dispatch(task.core), priority=LATE)
            data_at = max(t1, state["last_write"])
            eng.at(data_at, lambda: self._deliver(task))

        eng.at(max(now, arrive[0]), start_tile)

    def _deliver(self, task: _Task) -> None:
        """Outputs of ``task`` are ready at its core (or in memory): send them to the consumers."""
        now = self.engine.now_cycle
        i = task.input
        runs = set(self.runs[i])
        consumers = [s for s in self.graph.successors(task.node) if s in runs]
        out_bytes_total = self.graph.node(task.node).output_bytes(self.word_bits[task.core])
        part_bytes = out_bytes_total * self.plans[task.node].output_fraction
        last = now
        for s in consumers:
            for target in self.tasks[(i, s)]:
                if self.offchip:
                    arrival = now  # written to memory; the consumer reads it with its own inputs
                else:
                    need = part_bytes * self.plans[s].input_fraction if self.plans[s].parts > 1 else part_bytes
                    arrival = self._noc(task.core, target.core, int(math.ceil(need)), now, f"{task.node}->{s}[{i}]",
                                        (("node", task.node), ("input", i), ("to", s)))
                last = max(last, arrival)
                self.engine.at(arrival, lambda t=target: self._arrived(t))
        key = (i, task.node)
        self.group_left[key] -= 1
        if self.group_left[key] == 0:
            self.engine.at(last, lambda: self._group_done(key))
        if not consumers:
            self.completion[i] = max(self.completion[i], now)

    def _arrived(self, task: _Task) -> None:
        task.pending -= 1
        if task.pending == 0:
            self._release(task)

    def _group_done(self, key: tuple[int, str]) -> None:
        i = key[0]
        self.completion[i] = max(self.completion[i], self.engine.now_cycle)
        if self.schedule == "layer-by-layer":
            k = self.sequence_position[key]
            if k + 1 < len(self.sequence):
                for t in self.tasks[self.sequence[k + 1]]:
                    self._arrived(t)

    def run(self) -> None:
        for i, runs in enumerate(self.runs):
            for name in runs:
                for t in self.tasks[(i, name)]:
                    if t.pending == 0:
                        self.engine.at(self.arrival[i], lambda t=t: self._release(t))
        self.engine.run()
        stuck = [f"{t.node}[{t.input}]" for parts in self.tasks.values() for t in parts if t.end < 0]
        if stuck:  # pragma: no cover - a bug, not a user error
            raise RuntimeError(f"tasks never ran: {stuck[:5]}")


def simulate_multicore(
    mc: MultiCoreArchitecture,
    graph: WorkloadGraph,
    allocation: MappingABC[str, int | Sequence[int]] | None = None,
    *,
    schedule: str = "layer-by-layer",
    n_inputs: int = 1,
    exits: Sequence[str | None] | None = None,
    costs: MappingABC[tuple[str, int], NodeCost] | None = None,
    seed: int = 0,
    offchip_activations: bool | None = None,
    tiles: int = 8,
    input_interval_cycles: int = 0,
    weights_resident: str = "auto",
    budget: int = 2000,
) -> MultiCoreResult:
    """Simulate ``graph`` on ``mc`` under ``allocation`` for a stream of ``n_inputs`` inputs.

    Parameters
    ----------
    mc : MultiCoreArchitecture
        The package.
    graph : WorkloadGraph
        The workload.
    allocation : dict, optional
        ``node -> core`` or ``node -> (core, ...)`` (split). Default: :func:`default_allocation`.
    schedule : {"layer-by-layer", "pipelined"}
        One node at a time, or every task as soon as it can run (inputs overlap).
    n_inputs : int
        Inputs in the stream.
    exits : sequence of (str or None), optional
        Per input, the node after which it leaves (``None``: runs to the end).
    costs : dict, optional
        :func:`node_costs` output; computed (``budget``, ``seed``) when not given.
    seed : int
        Seed of the mapper searches when ``costs`` is computed here.
    offchip_activations : bool, optional
        Pass every activation through the shared memory; default True for ``layer-by-layer``
        and False for ``pipelined`` (activations travel the NoC).
    tiles : int
        Tiles per task (granularity of the overlap of off-chip transfers and compute).
    input_interval_cycles : int
        Arrival spacing of the inputs, cycles (0: all arrive at cycle 0).
    weights_resident : {"auto", "never", "always"}
        Whether weights stay on a core across inputs (``auto``: when a core's allocated weights
        fit its largest on-chip level).
    budget : int
        Mapper budget per (core type, problem) when ``costs`` is computed here.

    Returns
    -------
    MultiCoreResult

    Raises
    ------
    SpecError
        For an unknown schedule, an allocation missing a node or naming a core that does not
        exist, exits of the wrong length or naming unknown nodes, or a node that cannot be split.
    """
    where = Where(None, ("simulate_multicore",))
    if schedule not in SCHEDULES:
        raise SpecError(where / "schedule", f"unknown schedule {schedule!r}; choose one of {list(SCHEDULES)}")
    if n_inputs < 1:
        raise SpecError(where / "n_inputs", f"must be >= 1, got {n_inputs}")
    if weights_resident not in ("auto", "never", "always"):
        raise SpecError(where / "weights_resident", "choose 'auto', 'never' or 'always'")
    if costs is None:
        costs = node_costs(mc, graph, budget=budget, seed=seed)
    if allocation is None:
        allocation = default_allocation(mc, graph, schedule, costs)
    names = {n.name for n in graph.nodes}
    missing = sorted(names - set(allocation))
    if missing:
        raise SpecError(where / "allocation", f"nodes without a core: {missing}")
    unknown = sorted(set(allocation) - names)
    if unknown:
        raise SpecError(where / "allocation", f"unknown nodes {unknown}; the graph has {sorted(names)}")
    n_cores = mc.total_cores
    for name, value in allocation.items():
        cs = _cores_of(value)
        if not cs or any(not 0 <= c < n_cores for c in cs):
            raise SpecError(where / "allocation" / name, f"cores must be in 0..{n_cores - 1}, got {value!r}")
        if len(set(cs)) != len(cs):
            raise SpecError(where / "allocation" / name, f"a core appears twice in {value!r}")
    if exits is None:
        exits = [None] * n_inputs
    exits = list(exits)
    if len(exits) != n_inputs:
        raise SpecError(where / "exits", f"give one exit per input ({n_inputs}), got {len(exits)}")
    for x in exits:
        if x is not None and x not in names:
            raise SpecError(where / "exits", f"unknown exit node {x!r}; the graph has {sorted(names)}")
    if offchip_activations is None:
        offchip_activations = schedule == "layer-by-layer"
    alloc = {k: _cores_of(v) if len(_cores_of(v)) > 1 else _cores_of(v)[0] for k, v in allocation.items()}
    sim = _Sim(mc, graph, alloc, schedule, n_inputs, exits, costs, bool(offchip_activations), tiles,
               int(input_interval_cycles), weights_resident)
    sim.run()
    end_times = [e.end_cycle for e in sim.events] + [sim.engine.now_cycle]
    makespan = int(max(end_times))
    completion = np.array(sim.completion, dtype=np.int64)
    latency = completion - np.array(sim.arrival, dtype=np.int64)
    if n_inputs >= 2 and completion.max() > completion.min():
        ordered = np.sort(completion)
        throughput = (n_inputs - 1) / float(ordered[-1] - ordered[0])
    else:
        throughput = 1.0 / max(1, makespan)
    energy = dict(sim.energy)
    energy["memory"] = energy["memory_onchip"] + energy["memory_offchip"]
    energy["total"] = energy["compute"] + energy["memory"] + energy["noc"]
    names_ = []
    counters: dict[str, int] = {}
    for t in sim.types:
        cname = mc.cores[t].name
        names_.append(f"{cname}[{counters.get(cname, 0)}]")
        counters[cname] = counters.get(cname, 0) + 1
    events = sorted(sim.events, key=lambda e: (e.start_cycle, e.resource))
    return MultiCoreResult(
        makespan_cycles=makespan,
        throughput_inputs_per_cycle=float(throughput),
        latency_cycles=latency,
        energy_pj=energy,
        utilization=sim.busy / max(1, makespan),
        mac_utilization=float(sim.macs / (max(1, makespan) * mc.peak_macs_per_cycle)),
        dram_read_bytes=int(sim.dram_read),
        dram_write_bytes=int(sim.dram_write),
        noc_bytes=int(sim.noc_bytes),
        events=events,
        schedule=schedule,
        allocation=dict(alloc),
        core_names=tuple(names_),
        completion_cycles=completion,
        clock_hz=mc.clock_hz,
    )
