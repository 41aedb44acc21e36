"""Early-exit networks on (multi-core) accelerators: lowering, per-layer mapping and expected cost.

The pieces, in the order a study uses them:

1. :class:`Platform` -- the cores (each a Timeloop architecture), the NoC and the
   shared memory, from a multi-core or a single-core architecture file. A core is
   seen in one of two memory modes:

   * ``onchip`` (default): parameters and activations stay in the core's on-chip
     memory (the Edge TPU way: its 8 MiB SRAM caches the parameters), so the
     core's DRAM level (its port to the shared memory) is dropped and the first
     on-chip level is the outermost level of every layer's loop nest. Activations
     that cross cores travel over the NoC; the input image comes from the shared
     memory. The memory-per-core constraint checks that what is allocated fits.
   * ``package``: every layer reads its weights and inputs from the shared memory
     and writes its outputs back (Timeloop's layer-by-layer view); the core's DRAM
     level gets the bandwidth of one NoC link (capped by the memory's) and the
     memory's type. No NoC transfers are charged on top.

2. :class:`EENNEvaluator` -- lowers every backbone layer and every exit head
   (:func:`~tnx_timeloop.frontends.early_exit.lower_layer`), re-derives each core
   at each precision (:func:`~tnx_timeloop.spec.quantize.arch_for_precision`,
   energies from ``select_energy(arch, "tables")``), maps each distinct
   (core type, precision, problem) once with
   :func:`~tnx_timeloop.mapper.search_mappings` -- in parallel processes, through
   the evaluation cache -- and then costs a :class:`Design` in microseconds.

3. :meth:`EENNEvaluator.evaluate` -- the analytical expected cost of a design
   under dynamic inference (see its notes). A later multi-core simulation can
   replace it: :meth:`EENNEvaluator.simulation_inputs` gives the task graph,
   allocation, per-task costs and the seeded exit decisions of a stream.

Units: cycles of the cores' clock, energies in pJ, sizes in bits.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tnx_timeloop.cache import cache_key
from tnx_timeloop.energy.tables import select_energy
from tnx_timeloop.errors import SearchError, SpecError, Where
from tnx_timeloop.frontends.early_exit import NETWORK_INPUT, EarlyExitNetwork, Layer, lower_layer
from tnx_timeloop.frontends.exit_stats import (
    FINAL_EXIT,
    ExitCurve,
    ExitDistribution,
    ExitStatistics,
    check_statistics,
    exit_distribution,
)
from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.multicore import MultiCoreArchitecture, parse_multicore
from tnx_timeloop.spec.problem import Problem
from tnx_timeloop.spec.quantize import arch_for_precision, check_precision, parse_precision

__all__ = [
    "MEMORY_MODES",
    "DELAY_KINDS",
    "Platform",
    "load_platform",
    "core_architecture",
    "LayerCost",
    "map_problems",
    "Design",
    "DesignCost",
    "EENNEvaluator",
    "contiguous_allocation",
    "contiguous_split",
]

log = logging.getLogger(__name__)

MEMORY_MODES = ("onchip", "package")
DELAY_KINDS = ("interval", "latency")


# ---------------------------------------------------------------------------
# platform
# ---------------------------------------------------------------------------


def core_architecture(arch: Architecture, *, memory: str = "onchip", link_bits_per_cycle: float | None = None,
                      memory_bits_per_cycle: float | None = None, memory_type: str | None = None) -> Architecture:
    """A core as a layer sees it in a memory mode (see the module notes).

    Parameters
    ----------
    arch : Architecture
        The core's architecture; its outermost level is its port to memory (DRAM).
    memory : str
        ``"onchip"`` or ``"package"``.
    link_bits_per_cycle, memory_bits_per_cycle : float, optional
        ``package`` mode: the NoC link and shared-memory bandwidths in bits per cycle.
    memory_type : str, optional
        ``package`` mode: the shared memory's type (for its energy per bit).

    Raises
    ------
    SpecError
        For an unknown mode, or an ``onchip`` core without a level below its DRAM.
    """
    if memory not in MEMORY_MODES:
        raise SpecError(Where(None, ("memory",)), f"unknown memory mode {memory!r}; choose one of {list(MEMORY_MODES)}")
    outer = arch.storage[0]
    if memory == "onchip":
        if not outer.is_dram:
            return arch
        if len(arch.storage) < 2:
            raise SpecError(Where(None, ("architecture",)), f"core {arch.name!r} has no on-chip level below its DRAM")
        dropped = outer.name
        return replace(arch, storage=arch.storage[1:], constraints=tuple(c for c in arch.constraints if c[0] != dropped))
    if not outer.is_dram:
        return arch
    bits = [b for b in (link_bits_per_cycle, memory_bits_per_cycle) if b is not None]
    if not bits:
        return arch
    words = min(bits) / outer.word_bits
    attrs = tuple((k, v) for k, v in outer.attributes if k != "type")
    if memory_type is not None:
        attrs = (*attrs, ("type", memory_type))
    port = replace(outer, read_bandwidth=words, write_bandwidth=words, attributes=attrs)
    return replace(arch, storage=(port, *arch.storage[1:]))


@dataclass(frozen=True, slots=True)
class Platform:
    """Cores, interconnect and shared memory as the expected-cost model uses them.

    Attributes
    ----------
    name : str
        Platform name.
    core_types : tuple of Architecture
        Distinct core architectures in the memory mode's view (at their own precision).
    core_type_names : tuple of str
        Their names.
    core_of : tuple of int
        Core index -> index into ``core_types``.
    hops : ndarray of int64, shape (n_cores, n_cores)
        NoC hops between cores.
    link_bits_per_cycle, hop_latency_cycles, noc_pj_per_bit_hop : float
        One NoC link's bandwidth, the latency of a hop and the energy of a bit per hop.
    memory_bits_per_cycle, memory_pj_per_bit, memory_latency_cycles : float
        The shared memory.
    memory_mode : str
        ``onchip`` or ``package``.
    clock_hz : float or None
        Core clock.
    source : Path or None
        The architecture file.
    """

    name: str
    core_types: tuple[Architecture, ...]
    core_type_names: tuple[str, ...]
    core_of: tuple[int, ...]
    hops: np.ndarray = field(compare=False)
    link_bits_per_cycle: float = float("inf")
    hop_latency_cycles: float = 0.0
    noc_pj_per_bit_hop: float = 0.0
    memory_bits_per_cycle: float = float("inf")
    memory_pj_per_bit: float = 0.0
    memory_latency_cycles: float = 0.0
    memory_mode: str = "onchip"
    clock_hz: float | None = None
    source: Path | None = field(default=None, compare=False)

    @property
    def n_cores(self) -> int:
        """Number of cores."""
        return len(self.core_of)

    def capacity_bits(self, core_type: int) -> int | None:
        """Bits of the on-chip memory that holds a core's parameters and activations (None: unbounded)."""
        arch = self.core_types[core_type]
        levels = [s for s in arch.storage if not s.is_dummy and not s.is_dram]
        if not levels:
            return None
        top = levels[0]
        return None if top.size_words is None else top.size_words * top.word_bits * top.instances

    @classmethod
    def from_multicore(cls, mc: MultiCoreArchitecture, *, memory: str = "onchip", source: Path | None = None) -> Platform:
        """The platform of a multi-core architecture."""
        types: list[Architecture] = []
        names: list[str] = []
        core_of: list[int] = []
        for spec in mc.cores:
            view = core_architecture(spec.arch, memory=memory, link_bits_per_cycle=mc.noc.link_bandwidth_bits_per_cycle,
                                     memory_bits_per_cycle=mc.memory.bandwidth_bits_per_cycle, memory_type=mc.memory.type)
            view = replace(view, name=spec.name)
            types.append(view)
            names.append(spec.name)
            core_of.extend([len(types) - 1] * spec.count)
        n = len(core_of)
        hops = np.array([[mc.noc.hops(a, b) for b in range(n)] for a in range(n)], dtype=np.int64)
        return cls(
            name=mc.name, core_types=tuple(types), core_type_names=tuple(names), core_of=tuple(core_of), hops=hops,
            link_bits_per_cycle=mc.noc.link_bandwidth_bits_per_cycle, hop_latency_cycles=mc.noc.hop_latency_cycles,
            noc_pj_per_bit_hop=mc.noc.energy_pj_per_bit_hop, memory_bits_per_cycle=mc.memory.bandwidth_bits_per_cycle,
            memory_pj_per_bit=mc.memory.energy_pj_per_bit, memory_latency_cycles=mc.memory.latency_cycles,
            memory_mode=memory, clock_hz=mc.clock_hz, source=source,
        )

    @classmethod
    def from_architecture(cls, arch: Architecture, *, memory: str = "onchip", source: Path | None = None) -> Platform:
        """A one-core platform; in ``onchip`` mode the input comes over the core's DRAM port."""
        view = core_architecture(arch, memory=memory)
        outer = arch.storage[0]
        mem_bits = float("inf")
        mem_pj = 0.0
        if outer.is_dram and memory == "onchip":
            from tnx_timeloop.energy.builtin import dram_energy_pj_per_bit

            if outer.read_bandwidth is not None:
                mem_bits = outer.read_bandwidth * outer.word_bits
            mem_pj = dram_energy_pj_per_bit(str(outer.attribute("type", "LPDDR4")))
        return cls(name=arch.name, core_types=(view,), core_type_names=(arch.name,), core_of=(0,),
                   hops=np.zeros((1, 1), dtype=np.int64), memory_bits_per_cycle=mem_bits, memory_pj_per_bit=mem_pj,
                   memory_mode=memory, source=source)


def load_platform(path: Path | str, *, memory: str = "onchip") -> Platform:
    """Read a platform from a multi-core file (``multicore:``) or a single-core file (``architecture:``)."""
    from tnx_timeloop.spec.arch import parse_architecture
    from tnx_timeloop.spec.yaml_io import load_yaml_file

    p = Path(path)
    doc = load_yaml_file(p)
    if isinstance(doc, Mapping) and "multicore" in doc:
        mc = parse_multicore(doc["multicore"], where=Where(p, ("multicore",)), base_dir=p.parent)
        return Platform.from_multicore(mc, memory=memory, source=p)
    if isinstance(doc, Mapping) and "architecture" in doc:
        arch = parse_architecture(doc["architecture"], where=Where(p, ("architecture",)))
        if arch.name == "architecture":
            arch = replace(arch, name=p.stem)
        return Platform.from_architecture(arch, memory=memory, source=p)
    raise SpecError(Where(p), "expected a top-level 'multicore' or 'architecture' key")


# ---------------------------------------------------------------------------
# per-layer mapping (parallel, cached)
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LayerCost:
    """The best mapping's figures for one problem on one core at one precision.

    Attributes
    ----------
    cycles : int
        Latency in cycles (``inf`` represented by ``valid = False``).
    energy_pj : float
        Energy in pJ.
    macs : int
        Operations of the problem the mapping refers to (padded if padding won).
    utilization : float
        MACs / (cycles x MAC units).
    valid : bool
        Whether a valid mapping was found.
    reason : str
        Why not, when invalid.
    """

    cycles: int
    energy_pj: float
    macs: int
    utilization: float
    valid: bool = True
    reason: str = ""


def _map_one(args: tuple) -> dict[str, Any]:
    arch_q, problem, budget, seed, objective, pad = args
    from tnx_timeloop.errors import TnxError
    from tnx_timeloop.mapper import search_mappings

    energy = select_energy(arch_q, "tables")
    try:
        result = search_mappings(arch_q, problem, objective=objective, budget=budget, seed=seed, energy=energy, pad=pad)
    except TnxError as err:
        return {"valid": False, "reason": str(err)}
    rep = result.best_report
    if result.best_mapping is None or rep is None or not bool(rep.valid[0]):
        return {"valid": False, "reason": f"no valid mapping in {result.evaluated} evaluations"}
    return {"valid": True, "cycles": int(rep.cycles[0]), "energy_pj": float(rep.energy_pj[0]), "macs": int(rep.macs),
            "utilization": float(rep.utilization[0])}


def map_problems(
    items: Sequence[tuple[Architecture, Problem]],
    *,
    budget: int = 5000,
    seed: int = 0,
    objective: str = "edp",
    pad: bool = False,
    cache: Any = None,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[LayerCost]:
    """Map each (architecture, problem) pair, in parallel processes and through the cache.

    Parameters
    ----------
    items : sequence of (Architecture, Problem)
        Pairs to map (duplicates are mapped once).
    budget, seed, objective, pad
        Passed to :func:`~tnx_timeloop.mapper.search_mappings` (energies from ``"tables"``).
    cache : EvaluationCache, optional
        Results are stored under keys of the inputs and settings.
    jobs : int, optional
        Worker processes (default: all CPUs); 1 maps in this process.
    progress : callable, optional
        ``progress(done, total)`` after each mapped pair.

    Returns
    -------
    list of LayerCost
        In the order of ``items``.
    """
    keys = [cache_key("eenn-layer", a, p, budget, seed, objective, pad, "tables") for a, p in items]
    unique: dict[str, tuple[Architecture, Problem]] = {}
    for k, item in zip(keys, items, strict=True):
        unique.setdefault(k, item)
    results: dict[str, dict[str, Any]] = {}
    todo: list[str] = []
    for k in unique:
        hit = cache.get(k) if cache is not None else None
        if hit is not None:
            results[k] = hit
        else:
            todo.append(k)
    total = len(unique)
    done = total - len(todo)
    if progress is not None:
        progress(done, total)
    n_jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    args = [(*unique[k], budget, seed, objective, pad) for k in todo]
    if n_jobs > 1:
        with ProcessPoolExecutor(max_workers=n_jobs) as pool:
            outputs = pool.map(_map_one, args, chunksize=1)
            for k, out in zip(todo, outputs, strict=True):
                results[k] = out
                if cache is not None:
                    cache.put(k, out, kind="eenn-layer")
                done += 1
                if progress is not None:
                    progress(done, total)
    else:
        for k, a in zip(todo, args, strict=True):
            out = _map_one(a)
            results[k] = out
            if cache is not None:
                cache.put(k, out, kind="eenn-layer")
            done += 1
            if progress is not None:
                progress(done, total)
    costs = []
    for k in keys:
        r = results[k]
        if r.get("valid"):
            costs.append(LayerCost(int(r["cycles"]), float(r["energy_pj"]), int(r["macs"]), float(r["utilization"])))
        else:
            costs.append(LayerCost(0, 0.0, 0, 0.0, valid=False, reason=str(r.get("reason", ""))))
    return costs


# ---------------------------------------------------------------------------
# designs and their cost
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Design:
    """One early-exit configuration and its deployment.

    Attributes
    ----------
    exits : tuple of str
        Chosen exits (names of candidate exits), in backbone order.
    head_sizes : tuple of str
        Head size of each chosen exit.
    backbone : str
        Precision of the backbone (and the final classifier), e.g. ``"int8"``.
    exit_precision : str
        Precision of the exit heads.
    threshold_index : int
        Index into the statistics' thresholds (one threshold for every exit).
    allocation : tuple of int
        Core index of every backbone layer; a head runs on the core of its attach layer.
    """

    exits: tuple[str, ...]
    head_sizes: tuple[str, ...]
    backbone: str
    exit_precision: str
    threshold_index: int
    allocation: tuple[int, ...]

    def describe(self) -> str:
        """A compact one-line description."""
        ex = ",".join(f"{e}:{s}" for e, s in zip(self.exits, self.head_sizes, strict=True)) or "-"
        return f"exits[{ex}] backbone={self.backbone} exits={self.exit_precision} t#{self.threshold_index}"


@dataclass(frozen=True, slots=True)
class DesignCost:
    """The expected cost of a design per input.

    Attributes
    ----------
    accuracy : float
        Expected accuracy (from the statistics).
    exit_fractions : ndarray of float64, shape (n_exits + 1,)
        Fraction of inputs leaving at each chosen exit and at the final classifier.
    energy_pj, latency_cycles : float
        Expected energy and single-input latency (additive model).
    interval_cycles : float
        Expected cycles per input in a long stream: the busiest core's expected work.
    worst_energy_pj, worst_latency_cycles, worst_interval_cycles : float
        When every input reaches the end (all heads evaluated).
    exit_energy_pj : float
        Expected energy spent in exit heads.
    noc_energy_pj, memory_energy_pj : float
        Expected energy of NoC transfers and of loading the input from shared memory.
    core_busy_cycles : ndarray of float64, shape (n_cores,)
        Expected work per input on each core.
    memory_bits, capacity_bits : ndarray of float64, shape (n_cores,)
        Parameters plus the largest activation working set allocated to each core, and
        each core's on-chip capacity (``inf`` when unbounded or in ``package`` mode).
    per_exit : tuple of dict
        For each exit and then the final classifier: name, fraction, energy and latency up to it.
    delay : str
        Which delay the EDP uses: ``interval`` (stream, default) or ``latency``.
    """

    accuracy: float
    exit_fractions: np.ndarray
    energy_pj: float
    latency_cycles: float
    interval_cycles: float
    worst_energy_pj: float
    worst_latency_cycles: float
    worst_interval_cycles: float
    exit_energy_pj: float
    noc_energy_pj: float
    memory_energy_pj: float
    core_busy_cycles: np.ndarray
    memory_bits: np.ndarray
    capacity_bits: np.ndarray
    per_exit: tuple[dict[str, Any], ...] = ()
    delay: str = "interval"

    @property
    def delay_cycles(self) -> float:
        """The delay of the EDP: stream interval or single-input latency."""
        return self.interval_cycles if self.delay == "interval" else self.latency_cycles

    @property
    def edp(self) -> float:
        """Expected energy x delay, in pJ x cycles."""
        return self.energy_pj * self.delay_cycles

    @property
    def worst_edp(self) -> float:
        """Worst-case energy x delay (every input to the end), in pJ x cycles."""
        delay = self.worst_latency_cycles if self.delay == "latency" else self.worst_interval_cycles
        return self.worst_energy_pj * delay

    @property
    def exit_overhead(self) -> float:
        """Share of the expected energy spent in exit heads (0..1)."""
        return self.exit_energy_pj / self.energy_pj if self.energy_pj > 0 else 0.0

    @property
    def memory_violation(self) -> float:
        """``max(used / capacity) - 1`` over cores (<= 0 when everything fits)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(np.isfinite(self.capacity_bits), self.memory_bits / self.capacity_bits, 0.0)
        return float(ratio.max()) - 1.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able view."""
        return {
            "accuracy": self.accuracy,
            "exit_fractions": [float(x) for x in self.exit_fractions],
            "energy_pj": self.energy_pj,
            "latency_cycles": self.latency_cycles,
            "interval_cycles": self.interval_cycles,
            "edp_pj_cycles": self.edp,
            "delay": self.delay,
            "worst_energy_pj": self.worst_energy_pj,
            "worst_latency_cycles": self.worst_latency_cycles,
            "worst_interval_cycles": self.worst_interval_cycles,
            "worst_edp_pj_cycles": self.worst_edp,
            "exit_energy_pj": self.exit_energy_pj,
            "exit_overhead": self.exit_overhead,
            "noc_energy_pj": self.noc_energy_pj,
            "memory_energy_pj": self.memory_energy_pj,
            "core_busy_cycles": [float(x) for x in self.core_busy_cycles],
            "memory_bits": [float(x) for x in self.memory_bits],
            "capacity_bits": [None if not np.isfinite(x) else float(x) for x in self.capacity_bits],
            "per_exit": list(self.per_exit),
        }


def contiguous_split(stage_cost: np.ndarray, n_stages: int) -> tuple[int, ...]:
    """Split ``n`` ordered items into at most ``n_stages`` contiguous stages minimising the costliest stage.

    Parameters
    ----------
    stage_cost : ndarray of float64, shape (n + 1, n + 1)
        ``stage_cost[i, j]``: cost of a stage holding items ``i .. j-1``.
    n_stages : int
        Stages available.

    Returns
    -------
    tuple of int
        Stage index of each item (non-decreasing, from 0); the number of stages
        that minimises the costliest stage (fewest stages on ties).

    Notes
    -----
    The linear-partition dynamic programme, O(n_stages x n^2).
    """
    cost = np.asarray(stage_cost, dtype=np.float64)
    n = cost.shape[0] - 1
    k = max(1, min(int(n_stages), n))
    best = np.full((k + 1, n + 1), np.inf)
    cut = np.zeros((k + 1, n + 1), dtype=np.int64)
    best[0, 0] = 0.0
    for s in range(1, k + 1):
        for j in range(s, n + 1):
            i = np.arange(s - 1, j)
            cand = np.maximum(best[s - 1, i], cost[i, j])
            m = int(np.argmin(cand))
            best[s, j], cut[s, j] = cand[m], i[m]
    s_best = int(np.argmin(best[1:, n])) + 1
    alloc = np.zeros(n, dtype=np.int64)
    j = n
    for s in range(s_best, 0, -1):
        i = int(cut[s, j])
        alloc[i:j] = s - 1
        j = i
    return tuple(int(x) for x in alloc)


def contiguous_allocation(cycles: Sequence[float], n_stages: int) -> tuple[int, ...]:
    """Split layers (in order) into at most ``n_stages`` contiguous stages minimising the busiest stage.

    Parameters
    ----------
    cycles : sequence of float
        Work of each layer, in cycles.
    n_stages : int
        Stages (cores) available.

    Returns
    -------
    tuple of int
        Stage index of each layer (non-decreasing, starting at 0).

    Examples
    --------
    >>> contiguous_allocation([4, 1, 1, 1, 1], 2)
    (0, 1, 1, 1, 1)
    """
    c = np.asarray(cycles, dtype=np.float64)
    prefix = np.concatenate(([0.0], np.cumsum(c)))
    return contiguous_split(prefix[None, :] - prefix[:, None], n_stages)


def _core_path(hops: np.ndarray, k: int) -> tuple[int, ...]:
    """``k`` distinct cores in the order that minimises the hops between consecutive ones."""
    n = hops.shape[0]
    if k <= 1:
        return (0,)
    if n > 8:
        return tuple(range(k))
    import itertools

    return min(itertools.permutations(range(n), k), key=lambda seq: (sum(int(hops[a, b]) for a, b in zip(seq, seq[1:], strict=False)), seq))


@dataclass(frozen=True, slots=True)
class _Tables:
    """Per precision: arrays over (core type, layer) of cycles and energy."""

    cycles: np.ndarray  # float64 (T, L), inf when invalid
    energy: np.ndarray  # float64 (T, L)


class EENNEvaluator:
    """Prepared costs of one network on one platform; evaluates designs fast.

    Parameters
    ----------
    network : EarlyExitNetwork
    stats : ExitStatistics
        Must match the network's exits (checked).
    platform : Platform
    precisions : sequence of str
        Backbone precisions to prepare (e.g. ``("fp32", "int8", "int4")``).
    exit_precisions : sequence of str, optional
        Exit-head precisions (default: ``precisions``).
    budget, seed : int
        Mapper budget and seed per problem.
    pad : bool
        Let the mapper pad badly-factoring dimensions.
    cache : EvaluationCache, optional
    jobs : int, optional
        Mapping processes (default: all CPUs).
    delay : str
        ``"interval"`` (EDP with the stream's cycles per input) or ``"latency"``.
    progress : callable, optional
        ``progress(done, total)`` while mapping.

    Raises
    ------
    SpecError
        Statistics that do not match the network, a precision a core does not
        support, or a layer that fits no core at a precision (naming the network
        file and the layer).
    """

    def __init__(
        self,
        network: EarlyExitNetwork,
        stats: ExitStatistics,
        platform: Platform,
        *,
        precisions: Sequence[str] = ("fp32", "int8", "int4"),
        exit_precisions: Sequence[str] | None = None,
        budget: int = 5000,
        seed: int = 0,
        pad: bool = False,
        cache: Any = None,
        jobs: int | None = None,
        delay: str = "interval",
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        if delay not in DELAY_KINDS:
            raise SpecError(Where(None, ("delay",)), f"unknown delay {delay!r}; choose one of {list(DELAY_KINDS)}")
        self.network = network
        self.stats = stats
        self.platform = platform
        self.delay = delay
        self.precisions = tuple(parse_precision(p).name for p in precisions)
        self.exit_precisions = tuple(parse_precision(p).name for p in (exit_precisions or precisions))
        check_statistics(stats, network.exit_names, network=network.name,
                         heads={e.name: e.sizes for e in network.exits},
                         precisions=self.precisions, exit_precisions=self.exit_precisions)
        arch_where = Where(platform.source, ("multicore", "cores") if platform.n_cores > 1 else ("architecture",))
        self._archs: dict[tuple[int, str], Architecture] = {}
        for t, core in enumerate(platform.core_types):
            for p in sorted(set(self.precisions) | set(self.exit_precisions)):
                check_precision(core, p, arch_where)
                self._archs[(t, p)] = arch_for_precision(core, p, where=arch_where)
        self._prec = {p: parse_precision(p) for p in set(self.precisions) | set(self.exit_precisions)}
        self._layer_index = {layer.name: i for i, layer in enumerate(network.layers)}
        self._problems = [lower_layer(layer) for layer in network.layers]
        heads: list[tuple[str, str, int, Layer]] = []
        for e in network.exits:
            for h in e.heads:
                for layer in h.layers:
                    heads.append((e.name, h.size, len(heads), layer))
        self._head_layers = heads
        head_problems = [lower_layer(layer) for *_, layer in heads]
        # what to map
        items: list[tuple[Architecture, Problem]] = []
        slots: list[tuple[str, int, str, int]] = []  # (kind, type, precision, index)
        for t in range(len(platform.core_types)):
            for p in self.precisions:
                for i, prob in enumerate(self._problems):
                    items.append((self._archs[(t, p)], prob))
                    slots.append(("layer", t, p, i))
            for p in self.exit_precisions:
                for i, prob in enumerate(head_problems):
                    items.append((self._archs[(t, p)], prob))
                    slots.append(("head", t, p, i))
        costs = map_problems(items, budget=budget, seed=seed, pad=pad, cache=cache, jobs=jobs, progress=progress)
        n_types = len(platform.core_types)
        n_layers = len(network.layers)
        self.layer_costs: dict[str, _Tables] = {
            p: _Tables(np.full((n_types, n_layers), np.inf), np.full((n_types, n_layers), np.inf)) for p in self.precisions
        }
        head_cycles = {p: np.full((n_types, len(heads)), np.inf) for p in self.exit_precisions}
        head_energy = {p: np.full((n_types, len(heads)), np.inf) for p in self.exit_precisions}
        self._reasons: dict[tuple[str, int, str, int], str] = {}
        for (kind, t, p, i), cost in zip(slots, costs, strict=True):
            if not cost.valid:
                self._reasons[(kind, t, p, i)] = cost.reason
                continue
            if kind == "layer":
                self.layer_costs[p].cycles[t, i] = cost.cycles
                self.layer_costs[p].energy[t, i] = cost.energy_pj
            else:
                head_cycles[p][t, i] = cost.cycles
                head_energy[p][t, i] = cost.energy_pj
        self._check_fits(head_cycles)
        self._head_layer_cycles = head_cycles
        self._head_layer_energy = head_energy
        self._head_problems = head_problems
        self._head_index = {layer.name: k for (_, _, k, layer) in heads}
        # per (exit, size, precision): summed head cost per core type
        self._head_cost: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._head_words: dict[tuple[str, str], tuple[int, int]] = {}
        for e in network.exits:
            for h in e.heads:
                idx = [k for (en, hs, k, _) in heads if en == e.name and hs == h.size]
                for p in self.exit_precisions:
                    self._head_cost[(e.name, h.size, p)] = (head_cycles[p][:, idx].sum(axis=1), head_energy[p][:, idx].sum(axis=1))
                act = max((layer.input_words + layer.out_shape.words for layer in h.layers), default=0)
                self._head_words[(e.name, h.size)] = (h.weight_words, act)
        self._weights = np.array([layer.weight_words for layer in network.layers], dtype=np.float64)
        self._acts = np.array([layer.input_words + layer.out_shape.words for layer in network.layers], dtype=np.float64)
        self._capacity = np.array(
            [np.inf if platform.memory_mode != "onchip" or platform.capacity_bits(t) is None else float(platform.capacity_bits(t))
             for t in platform.core_of], dtype=np.float64)
        self._core_type = np.array(platform.core_of, dtype=np.int64)
        self._curves: dict[tuple[str, str, str, str], ExitCurve] = {}
        edges = [(self._layer_index[src], b) for b, layer in enumerate(network.layers) for src in layer.inputs
                 if src != NETWORK_INPUT]
        self._edge_src = np.array([a for a, _ in edges], dtype=np.int64)
        self._edge_dst = np.array([b for _, b in edges], dtype=np.int64)
        self._edge_words = np.array([network.layers[a].out_shape.words for a, _ in edges], dtype=np.float64)

    # -- checks ---------------------------------------------------------------
    def _check_fits(self, head_cycles: Mapping[str, np.ndarray]) -> None:
        src = self.network.source
        for p, tab in self.layer_costs.items():
            bad = np.where(~np.isfinite(tab.cycles).any(axis=0))[0]
            if len(bad):
                i = int(bad[0])
                reason = self._reasons.get(("layer", 0, p, i), "")
                raise SpecError(
                    Where(src, ("eenn", "layers", i)),
                    f"layer {self.network.layers[i].name!r} fits no core at precision {p} "
                    f"({self.network.layers[i].weight_words} weights, {self._problems[i].bounds} bounds): {reason}",
                )
        for p, tab in head_cycles.items():
            bad = np.where(~np.isfinite(tab).any(axis=0))[0]
            if len(bad):
                e, size, k, layer = self._head_layers[int(bad[0])]
                raise SpecError(Where(src, ("eenn", "exits", "head")),
                                f"exit {e!r} head {size!r} layer {layer.name!r} fits no core at precision {p}: "
                                f"{self._reasons.get(('head', 0, p, k), '')}")

    # -- the analytical expected cost ------------------------------------------
    def _curve(self, exit_name: str, head: str, backbone: str, exit_precision: str) -> ExitCurve:
        key = (exit_name, head, backbone, exit_precision)
        curve = self._curves.get(key)
        if curve is None:
            curve = self.stats.lookup(exit_name, head=head, backbone=backbone, exit_precision=exit_precision)
            self._curves[key] = curve
        return curve

    def distribution(self, design: Design) -> ExitDistribution:
        """Exit fractions and accuracy of a design, from the statistics."""
        curves = [self._curve(e, s, design.backbone, design.exit_precision)
                  for e, s in zip(design.exits, design.head_sizes, strict=True)]
        final = self._curve(FINAL_EXIT, "*", design.backbone, "*")
        return exit_distribution(curves, final, design.threshold_index)

    def check_design(self, design: Design) -> None:
        """Raise :class:`SearchError` for a design that does not fit this network or platform."""
        names = self.network.exit_names
        if len(design.exits) != len(design.head_sizes):
            raise SearchError("a design needs one head size per exit")
        pos = []
        for e, s in zip(design.exits, design.head_sizes, strict=True):
            if e not in names:
                raise SearchError(f"unknown exit {e!r}; candidates are {list(names)}")
            if s not in self.network.exit(e).sizes:
                raise SearchError(f"exit {e!r} has no head size {s!r}; sizes: {list(self.network.exit(e).sizes)}")
            pos.append(self.network.exit(e).position)
        if pos != sorted(pos) or len(set(pos)) != len(pos):
            raise SearchError(f"exits must be distinct and in backbone order, got {list(design.exits)}")
        if design.backbone not in self.precisions:
            raise SearchError(f"backbone precision {design.backbone!r} was not prepared; prepared: {list(self.precisions)}")
        if design.exit_precision not in self.exit_precisions:
            raise SearchError(f"exit precision {design.exit_precision!r} was not prepared; prepared: {list(self.exit_precisions)}")
        if not 0 <= design.threshold_index < len(self.stats.thresholds):
            raise SearchError(f"threshold index {design.threshold_index} outside 0..{len(self.stats.thresholds) - 1}")
        if len(design.allocation) != len(self.network.layers):
            raise SearchError(f"allocation has {len(design.allocation)} entries for {len(self.network.layers)} layers")
        if min(design.allocation) < 0 or max(design.allocation) >= self.platform.n_cores:
            raise SearchError(f"core indices must be 0..{self.platform.n_cores - 1}")

    def evaluate(self, design: Design) -> DesignCost:
        """The expected cost of ``design`` per input under dynamic inference.

        Notes
        -----
        With chosen exits ``e_1 < ... < e_n`` (attached after layers ``l_1 < ... < l_n``)
        leaving fractions ``p_1..p_n`` and ``p_F`` at the final classifier
        (:func:`~tnx_timeloop.frontends.exit_stats.exit_distribution`), the expected
        energy is ``sum_j p_j E(up to e_j) + p_F E(all)``, where ``E(up to e_j)`` sums
        the backbone layers up to ``l_j``, the heads of ``e_1..e_j`` (the exit overhead
        of the exits passed), the NoC transfers into those layers and the input load;
        the same for the single-input latency (layers run one after the other). A
        layer is reached by the fraction ``1 - (p_1 + ... + p_j)`` of inputs that have
        not left before it; the expected work of core ``c`` in a long stream is the
        sum over its layers and heads of (fraction reaching it x its cycles), and the
        stream's interval is the busiest core's. The worst case has every input
        reach the end. Parameters plus the largest activation working set allocated
        to a core must fit its on-chip memory (``onchip`` mode). O(L) per design.
        """
        self.check_design(design)
        net, plat = self.network, self.platform
        dist = self.distribution(design)
        alloc = np.asarray(design.allocation, dtype=np.int64)
        types = self._core_type[alloc]
        tab = self.layer_costs[design.backbone]
        idx = np.arange(len(net.layers))
        cyc = tab.cycles[types, idx]
        eng = tab.energy[types, idx]
        act_bits = self._prec[design.backbone].act_bits
        w_bits = self._prec[design.backbone].weight_bits
        # NoC transfers into each layer (onchip mode) and the input load
        tr_cyc = np.zeros(len(net.layers))
        tr_eng = np.zeros(len(net.layers))
        noc_each = np.zeros(len(net.layers))
        if plat.memory_mode == "onchip":
            h = plat.hops[alloc[self._edge_src], alloc[self._edge_dst]].astype(np.float64)
            moved = h > 0
            bits = self._edge_words * act_bits
            np.add.at(tr_cyc, self._edge_dst[moved], bits[moved] / plat.link_bits_per_cycle + h[moved] * plat.hop_latency_cycles)
            np.add.at(noc_each, self._edge_dst[moved], bits[moved] * h[moved] * plat.noc_pj_per_bit_hop)
            in_bits = net.input_shape.words * act_bits
            load_cyc = in_bits / plat.memory_bits_per_cycle + plat.memory_latency_cycles
            load_eng = in_bits * plat.memory_pj_per_bit
        else:
            load_cyc = load_eng = 0.0
        tr_eng += noc_each
        step_cyc = cyc + tr_cyc
        step_eng = eng + tr_eng
        step_cyc[0] += load_cyc
        step_eng[0] += load_eng
        # heads
        n = len(design.exits)
        positions = [net.exit(e).position for e in design.exits]
        head_cyc = np.zeros(n)
        head_eng = np.zeros(n)
        head_core = np.zeros(n, dtype=np.int64)
        for k, (e, s) in enumerate(zip(design.exits, design.head_sizes, strict=True)):
            core = int(alloc[positions[k]])
            hc, he = self._head_cost[(e, s, design.exit_precision)]
            head_core[k] = core
            head_cyc[k] = hc[self._core_type[core]]
            head_eng[k] = he[self._core_type[core]]
        # cost up to each exit
        cum_cyc = np.cumsum(step_cyc)
        cum_eng = np.cumsum(step_eng)
        upto_cyc = np.array([cum_cyc[p] for p in positions] + [cum_cyc[-1]]) + np.concatenate((np.cumsum(head_cyc), [head_cyc.sum()]))
        upto_eng = np.array([cum_eng[p] for p in positions] + [cum_eng[-1]]) + np.concatenate((np.cumsum(head_eng), [head_eng.sum()]))
        fr = dist.fractions
        energy = float(fr @ upto_eng)
        latency = float(fr @ upto_cyc)
        # reach of each layer and head
        reach_exit = dist.reach  # (n + 1,)
        seg = np.searchsorted(np.asarray(positions, dtype=np.int64), idx, side="left")  # exits strictly before layer i
        reach_layer = reach_exit[seg]
        busy = np.zeros(plat.n_cores)
        np.add.at(busy, alloc, reach_layer * step_cyc)
        np.add.at(busy, head_core, reach_exit[:n] * head_cyc)
        worst_busy = np.zeros(plat.n_cores)
        np.add.at(worst_busy, alloc, step_cyc)
        np.add.at(worst_busy, head_core, head_cyc)
        exit_energy = float(reach_exit[:n] @ head_eng)
        noc_energy = float(reach_layer @ noc_each)
        # memory per core
        mem = np.zeros(plat.n_cores)
        np.add.at(mem, alloc, self._weights * w_bits)
        act_peak = np.zeros(plat.n_cores)
        np.maximum.at(act_peak, alloc, self._acts * act_bits)
        e_bits = self._prec[design.exit_precision]
        for k, (e, s) in enumerate(zip(design.exits, design.head_sizes, strict=True)):
            hw, ha = self._head_words[(e, s)]
            mem[head_core[k]] += hw * e_bits.weight_bits
            act_peak[head_core[k]] = max(act_peak[head_core[k]], ha * e_bits.act_bits)
        per_exit = []
        for k in range(n + 1):
            per_exit.append({
                "exit": design.exits[k] if k < n else FINAL_EXIT,
                "fraction": float(fr[k]),
                "reach": float(reach_exit[k]),
                "energy_pj": float(upto_eng[k]),
                "latency_cycles": float(upto_cyc[k]),
            })
        return DesignCost(
            accuracy=dist.accuracy,
            exit_fractions=fr,
            energy_pj=energy,
            latency_cycles=latency,
            interval_cycles=float(busy.max()),
            worst_energy_pj=float(upto_eng[-1]),
            worst_latency_cycles=float(upto_cyc[-1]),
            worst_interval_cycles=float(worst_busy.max()),
            exit_energy_pj=exit_energy,
            noc_energy_pj=noc_energy,
            memory_energy_pj=float(load_eng),
            core_busy_cycles=busy,
            memory_bits=mem + act_peak,
            capacity_bits=self._capacity.copy(),
            per_exit=tuple(per_exit),
            delay=self.delay,
        )

    # -- baselines -------------------------------------------------------------
    def static_design(self, precision: str, allocation: Sequence[int]) -> Design:
        """The design without exits at one precision."""
        last = len(self.stats.thresholds) - 1
        return Design((), (), precision, precision if precision in self.exit_precisions else self.exit_precisions[0],
                      last, tuple(int(a) for a in allocation))

    def contiguous_allocations(self, precision: str) -> list[tuple[int, ...]]:
        """For 1..n_cores stages, the contiguous split of the backbone that balances the cores best.

        A stage's work is its layers' cycles (first core type) plus, in ``onchip``
        mode, one hop's NoC transfer of every activation entering it from an earlier
        stage; stages go to the cores in the order that needs the fewest hops.
        """
        net, plat = self.network, self.platform
        cycles = self.layer_costs[precision].cycles[self._core_type[0]]
        cycles = np.where(np.isfinite(cycles), cycles, 0.0)
        prefix = np.concatenate(([0.0], np.cumsum(cycles)))
        cost = prefix[None, :] - prefix[:, None]
        if plat.memory_mode == "onchip" and plat.n_cores > 1:
            bits = self._prec[precision].act_bits
            edges = [(self._layer_index[src], b) for b, layer in enumerate(net.layers) for src in layer.inputs
                     if src != NETWORK_INPUT]
            for a, b in edges:
                t = net.layers[a].out_shape.words * bits / plat.link_bits_per_cycle + plat.hop_latency_cycles
                # the edge enters every stage [i, j) with a < i <= b < j
                cost[a + 1:b + 1, b + 1:] += t
        out = []
        for k in range(1, plat.n_cores + 1):
            split = contiguous_split(cost, k)
            path = _core_path(plat.hops, max(split) + 1)
            alloc = tuple(int(path[s]) for s in split)
            if alloc not in out:
                out.append(alloc)
        return out

    def balanced_allocation(self, design: Design) -> Design:
        """The design with the contiguous allocation that best balances its *expected* work.

        Each layer's cycles are weighted by the fraction of inputs reaching it (exits
        known), a head's by the fraction reaching its exit, transfers as in
        :meth:`contiguous_allocations`; for 1..n_cores stages the linear-partition
        split is evaluated and the lowest-EDP one that fits the memories is returned
        (the design itself when none fits).
        """
        self.check_design(design)
        net, plat = self.network, self.platform
        dist = self.distribution(design)
        positions = np.array([net.exit(e).position for e in design.exits], dtype=np.int64)
        idx = np.arange(len(net.layers))
        reach_layer = dist.reach[np.searchsorted(positions, idx, side="left")]
        cycles = self.layer_costs[design.backbone].cycles[self._core_type[0]]
        work = np.where(np.isfinite(cycles), cycles, 0.0) * reach_layer
        for k, (e, size) in enumerate(zip(design.exits, design.head_sizes, strict=True)):
            hc, _ = self._head_cost[(e, size, design.exit_precision)]
            work[positions[k]] += dist.reach[k] * hc[self._core_type[0]]
        prefix = np.concatenate(([0.0], np.cumsum(work)))
        cost = prefix[None, :] - prefix[:, None]
        if plat.memory_mode == "onchip" and plat.n_cores > 1:
            bits = self._prec[design.backbone].act_bits
            for b, layer in enumerate(net.layers):
                for src in layer.inputs:
                    if src == NETWORK_INPUT:
                        continue
                    a = self._layer_index[src]
                    t = net.layers[a].out_shape.words * bits / plat.link_bits_per_cycle + plat.hop_latency_cycles
                    cost[a + 1:b + 1, b + 1:] += t * reach_layer[b]
        best: tuple[float, Design] | None = None
        for k in range(1, plat.n_cores + 1):
            split = contiguous_split(cost, k)
            path = _core_path(plat.hops, max(split) + 1)
            cand = replace(design, allocation=tuple(int(path[s]) for s in split))
            c = self.evaluate(cand)
            if c.memory_violation > 0:
                continue
            if best is None or c.edp < best[0]:
                best = (c.edp, cand)
        return design if best is None else best[1]

    def static_baseline(self, precision: str) -> tuple[Design, DesignCost]:
        """The best static design (no exits) at ``precision``: lowest EDP over the contiguous splits that fit.

        Raises
        ------
        SearchError
            If no split fits the cores' memories.
        """
        best: tuple[Design, DesignCost] | None = None
        for alloc in self.contiguous_allocations(precision):
            d = self.static_design(precision, alloc)
            c = self.evaluate(d)
            if c.memory_violation > 0:
                continue
            if best is None or c.edp < best[1].edp:
                best = (d, c)
        if best is None:
            raise SearchError(f"no static {precision} deployment of {self.network.name} fits the cores' memories")
        return best

    # -- hand-over to a multi-core simulation ------------------------------------
    def simulation_inputs(self, design: Design, *, n_inputs: int, seed: int = 0, gate: bool = True) -> dict[str, Any]:
        """What a multi-core simulation of a stream needs, as plain data.

        Parameters
        ----------
        design : Design
        n_inputs : int
            Inputs in the stream.
        seed : int
            Seed of the exit decisions.
        gate : bool
            Make the backbone layer after each chosen exit depend on that exit's last
            head layer, so that an input continues only once its exit decision is known
            (the sequential decision the expected-cost model assumes).

        Returns
        -------
        dict
            ``nodes``: list of ``{name, problem, kind, deps, core, cycles, energy_pj,
            word_bits, weight_bits, out_bits}`` -- the backbone layers, then each chosen
            exit's head layers, with this evaluator's mapped cost on the allocated core;
            ``allocation``: node name -> core; ``exits``: for each of ``n_inputs`` inputs,
            the node after which it leaves (its exit's last head layer) or None (it
            reaches the end), drawn from the exit fractions with
            ``numpy.random.default_rng(seed)``; ``exit_nodes``: the last head layer of
            each chosen exit, in order; ``exit_fractions``; ``input_bits``.

        Notes
        -----
        For ``tnx_timeloop.sim.multicore``: build ``TaskNode(name, problem, deps,
        word_bits=...)`` per node and a ``costs`` entry per (node, core) from
        ``cycles``/``energy_pj``, then pass ``allocation`` and ``exits``.
        """
        self.check_design(design)
        net = self.network
        dist = self.distribution(design)
        tab = self.layer_costs[design.backbone]
        b_prec = self._prec[design.backbone]
        e_prec = self._prec[design.exit_precision]
        nodes: list[dict[str, Any]] = []
        alloc: dict[str, int] = {}
        for i, layer in enumerate(net.layers):
            core = int(design.allocation[i])
            t = self._core_type[core]
            nodes.append({"name": layer.name, "problem": self._problems[i], "kind": layer.kind,
                          "deps": tuple(s for s in layer.inputs if s != NETWORK_INPUT), "core": core,
                          "cycles": float(tab.cycles[t, i]), "energy_pj": float(tab.energy[t, i]),
                          "word_bits": b_prec.act_bits, "weight_bits": b_prec.weight_bits,
                          "out_bits": layer.out_shape.words * b_prec.act_bits})
            alloc[layer.name] = core
        exit_nodes: list[str] = []
        for e, s in zip(design.exits, design.head_sizes, strict=True):
            point = net.exit(e)
            core = alloc[point.after]
            t = self._core_type[core]
            last = point.after
            for layer in point.head(s).layers:
                k = self._head_index[layer.name]
                nodes.append({"name": layer.name, "problem": self._head_problems[k], "kind": layer.kind,
                              "deps": tuple(layer.inputs), "core": core,
                              "cycles": float(self._head_layer_cycles[design.exit_precision][t, k]),
                              "energy_pj": float(self._head_layer_energy[design.exit_precision][t, k]),
                              "word_bits": e_prec.act_bits, "weight_bits": e_prec.weight_bits,
                              "out_bits": layer.out_shape.words * e_prec.act_bits})
                alloc[layer.name] = core
                last = layer.name
            exit_nodes.append(last)
            if gate and point.position + 1 < len(net.layers):
                nxt = nodes[point.position + 1]
                nxt["deps"] = (*nxt["deps"], last)
        rng = np.random.default_rng(seed)
        choice = rng.choice(len(dist.fractions), size=int(n_inputs), p=dist.fractions / dist.fractions.sum())
        exits = [exit_nodes[c] if c < len(exit_nodes) else None for c in choice]
        return {"nodes": nodes, "allocation": alloc, "exits": exits, "exit_nodes": exit_nodes,
                "exit_fractions": [float(x) for x in dist.fractions],
                "input_bits": net.input_shape.words * b_prec.act_bits}
