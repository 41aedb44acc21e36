"""Single-core simulation of one mapping: tile transfers and compute steps with cycle timestamps.

The analytical model (Timeloop's) counts every access exactly but assumes that transfers overlap
perfectly with compute: a level only slows the run down when its *total* traffic exceeds its
bandwidth times the compute cycles. This simulator keeps the model's counts and adds time. It
walks the loop nest of the mapping tile by tile:

* **Steps.** A step is one tile of the innermost storage level: one iteration of every temporal
  loop above it. The step runs the innermost level's own temporal loops on the MACs (a *block*
  of ``C_blk`` cycles, the product of those loops' trip counts), so ``steps x C_blk`` is
  Timeloop's compute cycles.
* **Transfers.** When a loop above level ``l`` advances, ``l``'s tile of each data-space it keeps
  changes: the new words (the whole tile, or the slab a sliding window uncovers -- Timeloop's
  delta rules) are *filled* from the nearest outer level keeping that data-space, and for
  read-write data (outputs) the leaving partial sums are first *written back* to it. A transfer
  occupies the source's read port and the destination's write port for
  ``ceil(words / bandwidth)`` cycles (``read_bandwidth``/``write_bandwidth`` of the levels, words
  per cycle per instance; none = unlimited) and arrives ``latency_cycles`` later when the source
  is DRAM. A fill waits for the data to be in the source level (tiles are forwarded store-and-
  forward), for its ports, and for buffer space.
* **Buffering.** A level with ``multiple_buffering >= 2``, or whose spare capacity (size minus
  the tiles the mapping keeps there) holds the largest fill of one step, prefetches the next tile
  while the current one is used (depth 2): the fill may start as soon as the tile before the
  current one has been consumed, and it is issued one step ahead, before the previous block's
  own port traffic. Otherwise (depth 1) a fill waits until the current tile has been consumed,
  and outputs must be written back before the next tile overwrites them.
* **Blocks.** A block starts when the previous block has finished and every data-space's tile
  has arrived at its innermost level. The block's own traffic -- the reads the MACs make of the
  levels that feed them and the partial-sum updates they write -- is spread evenly over the
  blocks and books those ports for ``ceil(words / bandwidth)`` cycles; a block ends when both
  its ``C_blk`` compute cycles (plus systolic fill/drain) and that traffic are done.
* **Pipeline registers.** When a block is a single cycle, the levels below every walked loop
  hold a tile for one cycle only (operand registers next to the MACs): their fills and
  write-backs stream with the blocks as part of the blocks' own traffic.
* **Systolic arrays.** A compute level with a ``dataflow`` attribute (``os``, ``ws`` or ``is``)
  is a systolic array of ``rows x cols`` PEs (its ``meshY x meshX``, or the ``rows``/``cols``
  attributes): every *fold* -- one setting of the stationary operand in the PEs -- adds the
  array's fill/drain skew, ``rows + cols - 2`` cycles, plus ``rows`` cycles to shift in the
  stationary operand for ``ws``/``is`` unless a per-PE level holding it is double buffered
  (``multiple_buffering >= 2``). These are SCALE-Sim's per-fold overheads
  (``K + R + C - 2`` rows per os fold, ``2R + C + T - 2`` per ws/is fold). The stationary
  data-space is the ``stationary`` attribute, else the outputs (os), the data-space whose name
  contains ``weight``/``filter`` (ws) or the other input (is). A fold lasts the temporal loops
  inside the innermost temporal loop relevant to the stationary data-space: a mapping that moves
  the stationary operand often pays the skew often.

The counts are the model's (:class:`~tnx_timeloop.model.report.Report`); the volume of each
transfer is the Timeloop delta of that step scaled so that the words moved by all simulated
transfers add up exactly to the model's reads, fills and updates of every level and data-space.

``cycles`` runs from the first transfer to the last write-back: the initial fill before the first
block (``prologue_cycles``), the blocks with everything that delays them (``window_cycles ==
compute_cycles + systolic_cycles + sum(stalls)``) and the final write-back (``epilogue_cycles``).
The window is what SCALE-Sim calls ``Total Cycles`` (it excludes the prefetch and the final
drain). When nothing throttles -- transfers take no time, or never delay a block and the
fill/drain are free -- ``cycles`` equals the analytical model's cycles; bandwidth, latency,
single buffering and systolic fill/drain make it longer.

How it is computed
------------------
Ports serve transfers and block traffic in program order (an in-order machine), so each job's
start is the maximum of its dependencies' completion times and its ports' free times -- the
event recurrence of a discrete-event simulation with in-order servers. Because every port is
work-conserving, no level moves its words faster than its bandwidth: ``cycles`` is never below
the analytical model's. Iterations of a loop after the first see the same jobs; once two
consecutive iterations change the state (port free times, tile arrival and release times) and
the stall counters identically, by a pure time shift of everything they touch, the remaining
iterations are that shift and are applied at once (``extrapolate``; exact, checked against the
full walk in the tests). Simulated steps grow like ``3**K`` at worst for ``K`` non-trivial
temporal loops above the innermost level, and are far fewer in practice (a few thousand on the
oracle cases, against up to 344,064 tiles).

References
----------
.. [1] A. Parashar et al., "Timeloop: A Systematic Approach to DNN Accelerator Evaluation",
   ISPASS 2019 (the nest analysis and the bandwidth model reproduced by :mod:`tnx_timeloop.model`).
.. [2] A. Samajdar et al., "SCALE-Sim: Systolic CNN Accelerator Simulator", arXiv:1811.02883.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tnx_timeloop.energy.tables import ArchEnergy
from tnx_timeloop.errors import MappingError, SpecError, Where
from tnx_timeloop.model.batch import MappingBatch
from tnx_timeloop.model.evaluate import evaluate_batch
from tnx_timeloop.model.report import Report
from tnx_timeloop.spec.arch import Architecture, StorageLevel
from tnx_timeloop.spec.mapping import Mapping
from tnx_timeloop.spec.problem import Problem

__all__ = [
    "SYSTOLIC_DATAFLOWS",
    "SimOptions",
    "SystolicSpec",
    "StepEvent",
    "SingleCoreResult",
    "systolic_spec",
    "simulate_single",
    "chrome_trace_single",
]

SYSTOLIC_DATAFLOWS: tuple[str, ...] = ("os", "ws", "is")
"""Dataflows a compute level may declare with its ``dataflow`` attribute."""

_EPS = 1e-9


# ---------------------------------------------------------------------------------------------
# public records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SimOptions:
    """Settings of :func:`simulate_single`.

    Parameters
    ----------
    dram_latency_cycles : int, optional
        Latency of every transfer out of a DRAM level, in cycles; default: the level's
        ``latency_cycles`` attribute, else 0.
    extrapolate : bool
        Apply periodic loop iterations at once (exact); ``False`` walks every step (slow on
        large layers; used to check the extrapolation).
    max_simulated_steps : int
        Safety budget: past this many simulated steps the remaining iterations of each loop are
        extrapolated from the last one even when it is not yet periodic (the result is then
        flagged ``exact=False``).
    trace_steps : int
        Record the transfers and blocks of the first this many simulated steps as
        :class:`StepEvent` (for Chrome traces).
    systolic : bool
        Add systolic fill/drain when the compute level declares a ``dataflow``.
    """

    dram_latency_cycles: int | None = None
    extrapolate: bool = True
    max_simulated_steps: int = 400_000
    trace_steps: int = 0
    systolic: bool = True


@dataclass(frozen=True, slots=True)
class SystolicSpec:
    """A compute level declared as a systolic array.

    Attributes
    ----------
    dataflow : str
        ``os``, ``ws`` or ``is``.
    rows, cols : int
        Array height and width in PEs.
    stationary : str
        Data-space held in the PEs during a fold.
    overhead_cycles : int
        Cycles added per fold (fill/drain skew, plus the stationary load for ws/is).
    """

    dataflow: str
    rows: int
    cols: int
    stationary: str
    overhead_cycles: int


@dataclass(frozen=True, slots=True)
class StepEvent:
    """One traced transfer or block.

    Attributes
    ----------
    kind : str
        ``fill``, ``write-back`` or ``block``.
    level : str
        Destination level of a fill, source level of a write-back, ``compute`` for a block.
    dataspace : str
        Data-space moved ('' for a block).
    step : int
        Index of the simulated step (extrapolated steps are not traced).
    start_cycle, end_cycle : int
        When it ran, in cycles.
    words : float
        Words per instance moved (destination side); 0 for a block.
    """

    kind: str
    level: str
    dataspace: str
    step: int
    start_cycle: int
    end_cycle: int
    words: float = 0.0


@dataclass(frozen=True, slots=True)
class SingleCoreResult:
    """What :func:`simulate_single` measured.

    Attributes
    ----------
    cycles : int
        From the first transfer to the last write-back:
        ``prologue_cycles + window_cycles + epilogue_cycles``.
    window_cycles : int
        From the start of the first compute block to the end of the last
        (``compute_cycles + systolic_cycles + stall_cycles``).
    prologue_cycles, epilogue_cycles : int
        Initial fill before the first block; write-back after the last block.
    analytical_cycles : int
        The analytical model's cycles for the same mapping.
    compute_cycles : int
        Timeloop's compute cycles (steps x block cycles).
    systolic_cycles : int
        Fill/drain cycles of the systolic array over all folds.
    stall_cycles : int
        ``window_cycles - compute_cycles - systolic_cycles`` (the sum of ``stalls``).
    stalls : dict
        Stall cycles by cause ``(level, dataspace, kind)``: ``kind`` is ``fill`` (a block waited
        for that data-space to arrive in that level), ``write-back`` (for outputs to leave it,
        freeing the buffer) or ``bandwidth`` (a block's own reads/updates of that level took
        longer than its compute).
    read_busy_cycles, write_busy_cycles : ndarray of int64, shape (L,)
        Cycles each level's read / write port was transferring, per instance.
    steps : int
        Steps of the walk (tiles of the innermost level).
    simulated_steps : int
        Steps actually simulated (the rest were extrapolated).
    folds : int
        Folds of the systolic array (0 if not systolic).
    exact : bool
        False if the step budget forced a non-periodic extrapolation.
    depth : tuple of int
        Buffering depth per level (1 = single, 2 = prefetching).
    moved_reads, moved_fills, moved_updates : ndarray of float64, shape (L, T)
        Words per instance carried by the simulated transfers; equal to the model's counts.
    report : Report
        The analytical model's report of the mapping (the access counts).
    events : tuple of StepEvent
        Traced transfers and blocks (see ``SimOptions.trace_steps``).
    systolic : SystolicSpec or None
        The systolic array, if declared.
    """

    cycles: int
    window_cycles: int
    prologue_cycles: int
    epilogue_cycles: int
    analytical_cycles: int
    compute_cycles: int
    systolic_cycles: int
    stall_cycles: int
    stalls: dict[tuple[str, str, str], int]
    read_busy_cycles: np.ndarray
    write_busy_cycles: np.ndarray
    steps: int
    simulated_steps: int
    folds: int
    exact: bool
    depth: tuple[int, ...]
    moved_reads: np.ndarray
    moved_fills: np.ndarray
    moved_updates: np.ndarray
    report: Report
    events: tuple[StepEvent, ...] = field(default=())
    systolic: SystolicSpec | None = None

    @property
    def level_names(self) -> tuple[str, ...]:
        """Storage level names, outermost first."""
        return self.report.level_names

    @property
    def busy_fraction(self) -> np.ndarray:
        """float64 (L,): the busier port of each level, as a fraction of ``cycles``."""
        busy = np.maximum(self.read_busy_cycles, self.write_busy_cycles).astype(np.float64)
        return busy / max(1, self.cycles)

    def stalls_by_level(self) -> dict[tuple[str, str], int]:
        """Stall cycles by ``(level, dataspace)``, summed over kinds."""
        out: dict[tuple[str, str], int] = {}
        for (lv, ds, _kind), v in self.stalls.items():
            out[(lv, ds)] = out.get((lv, ds), 0) + v
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (cycles, stalls, busy fractions and the model's report)."""
        rep = self.report.to_dict(0)
        levels = []
        for i, name in enumerate(self.level_names):
            levels.append({
                "name": name,
                "depth": int(self.depth[i]),
                "read_busy_cycles": int(self.read_busy_cycles[i]),
                "write_busy_cycles": int(self.write_busy_cycles[i]),
                "busy_fraction": float(self.busy_fraction[i]),
            })
        return {
            "cycles": self.cycles,
            "window_cycles": self.window_cycles,
            "prologue_cycles": self.prologue_cycles,
            "epilogue_cycles": self.epilogue_cycles,
            "analytical_cycles": self.analytical_cycles,
            "compute_cycles": self.compute_cycles,
            "systolic_cycles": self.systolic_cycles,
            "stall_cycles": self.stall_cycles,
            "stalls": [
                {"level": lv, "dataspace": ds, "kind": kind, "cycles": v}
                for (lv, ds, kind), v in sorted(self.stalls.items(), key=lambda kv: -kv[1])
            ],
            "steps": self.steps,
            "simulated_steps": self.simulated_steps,
            "folds": self.folds,
            "exact": self.exact,
            "systolic": None if self.systolic is None else {
                "dataflow": self.systolic.dataflow, "rows": self.systolic.rows, "cols": self.systolic.cols,
                "stationary": self.systolic.stationary, "overhead_cycles_per_fold": self.systolic.overhead_cycles,
            },
            "levels": levels,
            "model": rep,
        }


# ---------------------------------------------------------------------------------------------
# systolic declaration
# ---------------------------------------------------------------------------------------------


def _role_dataspaces(problem: Problem) -> tuple[str | None, str | None, str | None]:
    """(weights, inputs, outputs) data-space names by name and read-write flag (None if absent)."""
    outputs = next((ds.name for ds in problem.dataspaces if ds.read_write), None)
    others = [ds.name for ds in problem.dataspaces if not ds.read_write]
    weights = next((n for n in others if "weight" in n.lower() or "filter" in n.lower()), None)
    rest = [n for n in others if n != weights]
    if weights is None and len(others) >= 2:
        weights, rest = others[1], [others[0], *others[2:]]
    inputs = rest[0] if rest else None
    return weights, inputs, outputs


def systolic_spec(
    arch: Architecture, problem: Problem, *, stationary_level: StorageLevel | None = None
) -> SystolicSpec | None:
    """The systolic array a compute level declares, or None.

    A compute level is systolic when it has a ``dataflow`` attribute (``os``, ``ws`` or ``is``).
    Optional attributes: ``rows`` and ``cols`` (default ``meshY`` and ``meshX`` of the compute
    level) and ``stationary`` (a data-space name).

    Parameters
    ----------
    arch, problem
        The architecture and the workload.
    stationary_level : StorageLevel, optional
        The innermost level holding the stationary data-space; when it is a per-PE level (as many
        instances as the compute level) with ``multiple_buffering >= 2``, the ws/is stationary load
        (``rows`` cycles) overlaps the previous fold and is not charged.

    Returns
    -------
    SystolicSpec or None

    Raises
    ------
    SpecError
        For an unknown dataflow or stationary data-space.
    """
    c = arch.compute
    dataflow = c.attribute("dataflow")
    if dataflow is None:
        return None
    where = Where(None, ("architecture", c.name, "attributes"))
    df = str(dataflow).lower()
    if df not in SYSTOLIC_DATAFLOWS:
        raise SpecError(where / "dataflow", f"unknown dataflow {dataflow!r}; choose one of {list(SYSTOLIC_DATAFLOWS)}")
    rows = int(c.attribute("rows", c.mesh_y))
    cols = int(c.attribute("cols", c.mesh_x))
    if rows < 1 or cols < 1:
        raise SpecError(where, f"a systolic array needs rows, cols >= 1, got {rows} x {cols}")
    stationary = c.attribute("stationary")
    weights, inputs, outputs = _role_dataspaces(problem)
    if stationary is None:
        stationary = {"os": outputs, "ws": weights, "is": inputs}[df]
    if stationary not in problem.dataspace_names:
        raise SpecError(
            where / "stationary",
            f"stationary data-space {stationary!r} is not in the problem {list(problem.dataspace_names)}; "
            "set the compute level's 'stationary' attribute",
        )
    overhead = rows + cols - 2
    hidden = (stationary_level is not None and stationary_level.instances == c.instances
              and stationary_level.multiple_buffering >= 2)
    if df in ("ws", "is") and not hidden:
        overhead += rows
    return SystolicSpec(df, rows, cols, str(stationary), overhead)


# ---------------------------------------------------------------------------------------------
# the plan: static per-carry job lists
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Fill:
    level: int
    ds: int
    src_port: int  # state index of the source read port, -1 if none (or unlimited)
    dst_port: int  # state index of the destination write port, -1 if unlimited
    deps: tuple[int, ...]  # state indices whose max is the earliest start (data, space)
    out: int  # state index of this (level, ds) fill end
    parent_out: int  # the parent's fill end slot (-1 if none): blame is inherited from it
    duration: int
    latency: int
    words: float  # destination side (fills)
    src_words: float  # source side (reads of the parent)
    cause: int


@dataclass(frozen=True, slots=True)
class _WriteBack:
    level: int
    ds: int
    src_port: int  # read port of the level (-1 if unlimited)
    dst_port: int  # write port of the parent (-1 if unlimited)
    dep: int  # state index: the child's write-back end or the block end
    out: int
    duration: int
    words: float  # destination side (updates of the parent)
    src_words: float  # source side (reads of the level)


@dataclass(frozen=True, slots=True)
class _Carry:
    """Everything that happens at a step reached by advancing walked loop ``index`` (-1: the first step)."""

    index: int
    boundary_levels: tuple[int, ...]
    prefetch: tuple[_Fill, ...]  # depth-2 fills, served before the previous block's port traffic
    write_backs: tuple[_WriteBack, ...]
    fills: tuple[_Fill, ...]
    block_deps: tuple[int, ...]
    systolic_cycles: int
    folds: int
    touched: frozenset[int]
    port_busy: tuple[tuple[int, int], ...]  # (port slot, busy cycles) of this step's transfers


class _Plan:
    """Static analysis of one (arch, problem, mapping, report): loops, deltas, jobs per carry."""

    def __init__(self, arch: Architecture, problem: Problem, mapping: Mapping, report: Report,
                 options: SimOptions) -> None:
        self.arch = arch
        self.problem = problem
        L = self.L = len(arch.storage)
        T = self.T = len(problem.dataspaces)
        D = len(problem.dimensions)
        index = {d: i for i, d in enumerate(problem.dimensions)}
        reads = report.reads[0]
        fills = report.fills[0]
        updates = report.updates[0]
        tiles = report.tile_words[0]
        util = report.utilized_instances[0]
        self.rw = rw = [ds.read_write for ds in problem.dataspaces]
        A = problem.projection_arrays()
        self.level_names = arch.level_names
        self.ds_names = problem.dataspace_names

        # ---- loops outermost first (temporal, then spatial, per level) and their strides
        loops: list[tuple[int, str, int, int]] = []  # (level, kind, dim, end)
        for lv, level in enumerate(mapping.levels):
            for d in reversed(level.temporal_order):
                loops.append((lv, "T", index[d], level.temporal[index[d]]))
            for d in reversed(level.spatial_order):
                loops.append((lv, "S", index[d], level.spatial[index[d]]))
        stride = [0] * len(loops)
        cur = [1] * D
        for k in range(len(loops) - 1, -1, -1):
            stride[k] = cur[loops[k][2]]
            cur[loops[k][2]] *= loops[k][3]
        extent = np.ones((L, D), dtype=np.int64)  # op-space extent of each level's tile
        for lvl, _kind, d, end in loops:
            extent[: lvl + 1, d] *= end
        self.walked = [(lvl, d, end, stride[k]) for k, (lvl, kind, d, end) in enumerate(loops)
                       if kind == "T" and lvl < L - 1 and end > 1]
        K = self.K = len(self.walked)
        self.block_cycles = int(np.prod([end for lvl, kind, _d, end in loops if kind == "T" and lvl == L - 1],
                                        dtype=np.int64))
        self.steps = int(np.prod([w[2] for w in self.walked], dtype=np.int64))

        # ---- what each level keeps; parent of each (level, ds); innermost kept level per ds
        keep = np.zeros((L, T), dtype=bool)
        for t in range(T):
            first = True
            for lv in range(L):
                if not mapping.levels[lv].keep[t] or arch.storage[lv].is_dummy:
                    continue
                if tiles[lv, t] > 0 or first:  # the outermost keeper holds the data even if unreported
                    keep[lv, t] = True
                    first = False
        self.keep = keep
        parent = np.full((L, T), -1, dtype=np.int64)
        innermost = np.full(T, -1, dtype=np.int64)
        for t in range(T):
            last = -1
            for lv in range(L):
                if keep[lv, t]:
                    parent[lv, t] = last
                    last = lv
            innermost[t] = last
        self.parent = parent
        self.innermost = innermost

        # ---- tile words and Timeloop deltas per (level, ds, carry)
        words = np.zeros((L, T))
        delta = np.zeros((L, T, K))
        for lv in range(L):
            for t in range(T):
                if not keep[lv, t]:
                    continue
                ext = np.abs(A[t]) @ (extent[lv] - 1) + 1
                w = float(np.prod(ext))
                words[lv, t] = w
                for j, (lj, dj, _nj, sj) in enumerate(self.walked):
                    if lj >= lv:
                        continue
                    v = np.zeros(D, dtype=np.int64)
                    v[dj] += sj
                    for i in range(j + 1, K):
                        li, di, ni, si = self.walked[i]
                        if li < lv:
                            v[di] -= (ni - 1) * si
                    shift = A[t] @ v
                    nz = np.flatnonzero(shift)
                    if len(nz) == 0:
                        dw = 0.0
                    elif len(nz) == 1 and abs(int(shift[nz[0]])) < ext[nz[0]]:
                        dw = abs(int(shift[nz[0]])) * w / ext[nz[0]]
                    else:
                        dw = w
                    delta[lv, t, j] = dw
        count = np.zeros(K)  # steps reached by each carry: (n_j - 1) * prod of the loops outside j
        outer = 1.0
        for j, (_, _, nj, _) in enumerate(self.walked):
            count[j] = (nj - 1) * outer
            outer *= nj
        profile = words + (delta * count[None, None, :]).sum(axis=2)  # words over the run, per (l, t)
        self.words, self.delta = words, delta

        # ---- scales: transfer words such that all transfers add up to the model's counts
        up_reads = np.zeros((L, T))
        for lv in range(L):
            for t in range(T):
                p = parent[lv, t]
                if rw[t] and keep[lv, t] and p >= 0:
                    up_reads[lv, t] = min(reads[lv, t], updates[p, t] * util[p] / max(1, util[lv]))
        down_reads = reads - up_reads
        safe = np.where(profile > 0, profile, 1.0)
        fill_scale = np.where(profile > 0, fills / safe, 0.0)
        src_scale = np.zeros((L, T))
        wb_src_scale = np.zeros((L, T))
        wb_dst_scale = np.zeros((L, T))
        for lv in range(L):
            for t in range(T):
                p = parent[lv, t]
                if p >= 0 and keep[lv, t] and profile[lv, t] > 0:
                    src_scale[lv, t] = down_reads[p, t] / profile[lv, t]
                    if rw[t]:
                        wb_src_scale[lv, t] = up_reads[lv, t] / profile[lv, t]
                        wb_dst_scale[lv, t] = updates[p, t] / profile[lv, t]

        # ---- ports, latencies, buffering depth
        self.bw_r = [lv.read_bandwidth for lv in arch.storage]
        self.bw_w = [lv.write_bandwidth for lv in arch.storage]
        for lv, level in enumerate(arch.storage):
            for name, bw in (("read_bandwidth", self.bw_r[lv]), ("write_bandwidth", self.bw_w[lv])):
                if bw is not None and bw <= 0:
                    raise SpecError(Where(None, ("architecture", level.name, name)), f"must be > 0, got {bw}")
        latency = []
        for level in arch.storage:
            lat = level.attribute("latency_cycles", 0)
            if level.is_dram and options.dram_latency_cycles is not None:
                lat = options.dram_latency_cycles
            latency.append(int(lat or 0))
        self.latency = latency
        depth = []
        for lv, level in enumerate(arch.storage):
            kept_words = float(sum(tiles[lv, t] for t in range(T) if keep[lv, t]))
            biggest = max((float(sum(delta[lv, t, j] for t in range(T) if keep[lv, t])) for j in range(K)), default=0.0)
            if level.size_words is None or level.multiple_buffering >= 2:
                depth.append(2)
            elif biggest > 0 and level.size_words - kept_words >= biggest:
                depth.append(2)
            else:
                depth.append(1)
        self.depth = tuple(depth)

        # ---- state layout (a flat list of ints)
        self.R_PORT = 0  # read port of level l is free from cycle st[R_PORT + l]
        self.W_PORT = L
        self.FILL = 2 * L  # fill end of (l, t): FILL + l * T + t
        self.WB = self.FILL + L * T
        self.REL1 = self.WB + L * T  # release (end of the last block) of the current phase's predecessor
        self.REL2 = self.REL1 + L  # ... and of the phase before it
        self.B_END = self.REL2 + L  # end of the last finished block
        self.PB_START = self.B_END + 1  # start of the pending block (its port traffic not checked yet)
        self.PB_END0 = self.B_END + 2  # its compute (and systolic) end
        self.size = self.B_END + 3
        self.n_causes = 3 * L * T  # fill (l, t), write-back (l, t), bandwidth (l, t)
        self.cause_names = [(arch.storage[lv].name, problem.dataspace_names[t], kind)
                            for kind in ("fill", "write-back", "bandwidth") for lv in range(L) for t in range(T)]

        # ---- systolic folds: one setting of the stationary operand in the PEs. It changes when a
        # temporal loop relevant to it advances, so a fold lasts the loops inside the innermost
        # such loop; folds start at carries of that loop or an outer one (or inside blocks).
        self.systolic = None
        self.fold_carry = -2  # walked carries c <= fold_carry start a fold; -2: none walked
        self.folds_per_block = 0  # folds inside every block (innermost relevant loop in the block)
        if options.systolic and arch.compute.attribute("dataflow") is not None:
            probe = systolic_spec(arch, problem)
            assert probe is not None
            st_ds = problem.dataspace_names.index(probe.stationary)
            st_level = int(innermost[st_ds])
            self.systolic = systolic_spec(arch, problem,
                                          stationary_level=arch.storage[st_level] if st_level >= 0 else None)
            relevant = (A[st_ds] != 0).any(axis=0)
            temporal = [(lvl, d, end) for lvl, kind, d, end in loops if kind == "T" and end > 1]
            inner = max((k for k, (_, d, _) in enumerate(temporal) if relevant[d]), default=-1)
            if inner >= 0 and temporal[inner][0] == L - 1:
                self.folds_per_block = int(np.prod([e for (lvl, _, e) in temporal[: inner + 1] if lvl == L - 1]))
            elif inner >= 0:
                lvl_d = temporal[inner]
                self.fold_carry = sum(1 for (lvl, _, _) in temporal[: inner + 1] if lvl < L - 1) - 1
                assert self.walked[self.fold_carry][:3] == (lvl_d[0], lvl_d[1], lvl_d[2])
            else:
                self.fold_carry = -1  # the stationary operand never changes: one fold

        # ---- a block's own traffic. When a block is one cycle, the levels below every walked loop
        # hold a tile for one cycle only: they are pipeline registers, and their fills and
        # write-backs stream with the blocks, as do the reads the MACs make of the levels feeding
        # them and the updates they write back.
        deepest = max((w[0] for w in self.walked), default=-1)
        self.streaming = tuple(lv > deepest and self.block_cycles == 1 for lv in range(L))
        S = float(self.steps)
        block_reads = np.zeros((L, T))
        block_updates = np.zeros((L, T))
        block_fills = np.zeros((L, T))
        for t in range(T):
            for lv in range(L):
                if not keep[lv, t]:
                    continue
                p = int(parent[lv, t])
                if self.streaming[lv] and p >= 0:
                    block_fills[lv, t] += fills[lv, t]
                    block_reads[p, t] += down_reads[p, t]
                    if rw[t]:
                        block_reads[lv, t] += up_reads[lv, t]
                        block_updates[p, t] += updates[p, t]
                if lv == innermost[t]:
                    block_reads[lv, t] += down_reads[lv, t]
                    if rw[t]:
                        block_updates[lv, t] += updates[lv, t]
        ports = []
        for lv in range(L):
            r_words = block_reads[lv] / S
            w_words = (block_fills[lv] + block_updates[lv]) / S
            d_r = self.cycles_for(float(r_words.sum()), self.bw_r[lv])
            if d_r:
                ports.append((self.R_PORT + lv, d_r, 2 * L * T + lv * T + int(np.argmax(r_words))))
            d_w = self.cycles_for(float(w_words.sum()), self.bw_w[lv])
            if d_w:
                ports.append((self.W_PORT + lv, d_w, 2 * L * T + lv * T + int(np.argmax(w_words))))
        self.block_ports = tuple(ports)
        self.block_reads, self.block_updates, self.block_fills = block_reads, block_updates, block_fills
        # a block waits for each data-space's tile in its innermost level that is not streaming
        self.block_source = np.full(T, -1, dtype=np.int64)
        for t in range(T):
            for lv in range(L):
                if keep[lv, t] and not self.streaming[lv]:
                    self.block_source[t] = lv

        # ---- jobs per carry, and the final write-backs
        self.fill_scale, self.src_scale = fill_scale, src_scale
        self.wb_src_scale, self.wb_dst_scale = wb_src_scale, wb_dst_scale
        self.carries = [self._carry(c) for c in [-1, *range(K)]]
        self.final = self._write_backs(None, tuple(lv for lv in range(L) if not self.streaming[lv]))
        touched: set[int] = set()
        self.touched_from: list[frozenset[int]] = [frozenset()] * K
        for j in range(K - 1, -1, -1):
            touched |= self.carries[j + 1].touched
            self.touched_from[j] = frozenset(touched)

    @staticmethod
    def cycles_for(n_words: float, bandwidth: float | None) -> int:
        """Whole cycles to move ``n_words`` at ``bandwidth`` words/cycle (0 when unlimited)."""
        if bandwidth is None or n_words <= _EPS:
            return 0
        return int(math.ceil(n_words / bandwidth - _EPS))

    def _child(self, lv: int, t: int) -> int:
        for inner in range(lv + 1, self.L):
            if self.keep[inner, t]:
                return inner
        return -1

    def _write_backs(self, c: int | None, boundary: tuple[int, ...]) -> tuple[_WriteBack, ...]:
        """Write-backs of the leaving output tiles at carry ``c`` (None: the final ones), innermost first."""
        T = self.T
        out = []
        for lv in sorted(boundary, reverse=True):
            for t in range(T):
                p = int(self.parent[lv, t])
                if not (self.rw[t] and self.keep[lv, t] and p >= 0):
                    continue
                ev = self.words[lv, t] if c is None else self.delta[lv, t, c]
                if ev <= 0:
                    continue
                src_words = ev * self.wb_src_scale[lv, t]
                dst_words = ev * self.wb_dst_scale[lv, t]
                d_src = self.cycles_for(src_words, self.bw_r[lv])
                d_dst = self.cycles_for(dst_words, self.bw_w[p])
                child = self._child(lv, t)
                dep = self.WB + child * T + t if child >= 0 and child in boundary else self.B_END
                out.append(_WriteBack(lv, t, self.R_PORT + lv if d_src else -1, self.W_PORT + p if d_dst else -1,
                                      dep, self.WB + lv * T + t, max(d_src, d_dst), dst_words, src_words))
        return tuple(out)

    def _carry(self, c: int) -> _Carry:
        L, T = self.L, self.T
        lv_c = -1 if c < 0 else self.walked[c][0]
        boundary = tuple(lv for lv in range(L) if lv > lv_c and self.keep[lv].any() and not self.streaming[lv])
        wbs = self._write_backs(c, boundary) if c >= 0 else ()
        wb_levels = {w.level for w in wbs}
        pre: list[_Fill] = []
        post: list[_Fill] = []
        hoisted: set[tuple[int, int]] = set()
        refilled: set[tuple[int, int]] = set()
        for lv in boundary:  # outermost first
            for t in range(T):
                if not self.keep[lv, t]:
                    continue
                dw = self.words[lv, t] if c < 0 else self.delta[lv, t, c]
                p = int(self.parent[lv, t])
                if dw <= 0 or p < 0:
                    continue
                refilled.add((lv, t))
                dst_words = dw * self.fill_scale[lv, t]
                src_words = dw * self.src_scale[lv, t]
                d_dst = self.cycles_for(dst_words, self.bw_w[lv])
                d_src = self.cycles_for(src_words, self.bw_r[p])
                hoist = c >= 0 and self.depth[lv] == 2 and ((p, t) not in refilled or (p, t) in hoisted)
                deps = [self.FILL + p * T + t]
                if c >= 0:
                    if hoist:  # before the release shift: REL1 is still the release of phase k-2
                        deps.append(self.REL1 + lv)
                    else:
                        deps.append((self.REL1 if self.depth[lv] == 1 else self.REL2) + lv)
                        if self.depth[lv] == 1 and lv in wb_levels:
                            deps.extend(w.out for w in wbs if w.level == lv)
                job = _Fill(lv, t, self.R_PORT + p if d_src else -1, self.W_PORT + lv if d_dst else -1, tuple(deps),
                            self.FILL + lv * T + t, self.FILL + p * T + t, max(d_src, d_dst), self.latency[p],
                            dst_words, src_words, lv * T + t)
                if hoist:
                    hoisted.add((lv, t))
                    pre.append(job)
                else:
                    post.append(job)
        block_deps = []
        for t in range(T):
            lv = int(self.block_source[t])
            if lv >= 0:
                block_deps.append(self.FILL + lv * T + t)
                if self.rw[t] and self.depth[lv] == 1 and lv in wb_levels:
                    block_deps.append(self.WB + lv * T + t)
        folds = 0
        if self.systolic is not None:
            folds = self.folds_per_block or int(c <= self.fold_carry)
        sys_cycles = folds * self.systolic.overhead_cycles if self.systolic is not None else 0
        touched = {self.B_END, self.PB_START, self.PB_END0}
        busy: dict[int, int] = {}
        for job in (*pre, *post, *wbs):
            touched.add(job.out)
            for port in (job.src_port, job.dst_port):
                if port >= 0:
                    touched.add(port)
                    busy[port] = busy.get(port, 0) + job.duration
        touched.update(port for port, _dur, _cause in self.block_ports)
        if c >= 0:
            for lv in boundary:
                touched |= {self.REL1 + lv, self.REL2 + lv}
        return _Carry(c, boundary if c >= 0 else (), tuple(pre), wbs, tuple(post), tuple(block_deps), sys_cycles,
                      folds, frozenset(touched), tuple(sorted(busy.items())))


# ---------------------------------------------------------------------------------------------
# the walk
# ---------------------------------------------------------------------------------------------


class _Walk:
    """The step recurrence over the loop nest, with periodic extrapolation."""

    def __init__(self, plan: _Plan, options: SimOptions) -> None:
        self.plan = plan
        self.options = options
        self.st = [0] * plan.size
        self.blame = [-1] * plan.size  # per fill / write-back slot: the cause a waiting block is charged
        self.SYS = plan.n_causes
        self.FOLDS = plan.n_causes + 1
        self.CARRY = plan.n_causes + 2  # steps per carry
        self.n_acc = self.CARRY + len(plan.carries)
        self.acc = [0] * self.n_acc
        self.first_block_start: int | None = None
        self.pending = False
        self.simulated = 0
        self.exact = True
        self.events: list[StepEvent] = []
        self.pending_step = -1

    def _trace(self) -> bool:
        return self.simulated < self.options.trace_steps

    def _fill(self, f: _Fill) -> None:
        st, blame = self.st, self.blame
        ready = 0
        for d in f.deps:
            if st[d] > ready:
                ready = st[d]
        bl = f.cause
        if st[f.parent_out] == ready and ready > 0 and blame[f.parent_out] >= 0:
            bl = blame[f.parent_out]  # waiting for the data upstream: charge the upstream transfer
        start = ready
        if f.src_port >= 0 and st[f.src_port] > start:
            start, bl = st[f.src_port], f.cause
        if f.dst_port >= 0 and st[f.dst_port] > start:
            start, bl = st[f.dst_port], f.cause
        busy_end = start + f.duration
        if f.src_port >= 0:
            self._book(f.src_port, start, busy_end)
        if f.dst_port >= 0:
            self._book(f.dst_port, start, busy_end)
        st[f.out] = busy_end + f.latency
        blame[f.out] = bl
        if self._trace():
            self.events.append(StepEvent("fill", self.plan.level_names[f.level], self.plan.ds_names[f.ds],
                                         self.simulated, start, busy_end + f.latency, f.words))

    def _write_back(self, w: _WriteBack) -> None:
        st = self.st
        start = st[w.dep]
        if w.src_port >= 0 and st[w.src_port] > start:
            start = st[w.src_port]
        if w.dst_port >= 0 and st[w.dst_port] > start:
            start = st[w.dst_port]
        end = start + w.duration
        if w.src_port >= 0:
            self._book(w.src_port, start, end)
        if w.dst_port >= 0:
            self._book(w.dst_port, start, end)
        st[w.out] = end
        self.blame[w.out] = self.plan.L * self.plan.T + w.level * self.plan.T + w.ds
        if self.simulated <= self.options.trace_steps:
            self.events.append(StepEvent("write-back", self.plan.level_names[w.level], self.plan.ds_names[w.ds],
                                         self.simulated, start, end, w.words))

    def _book(self, port: int, start: int, end: int) -> None:
        """Book ``port`` until ``end`` (ports serve in program order)."""
        if end > start:
            self.st[port] = end

    def _finish_block(self) -> None:
        """Book the pending block's own port traffic (after the prefetches of the next step) and set its end."""
        st, p = self.st, self.plan
        start = st[p.PB_START]
        end0 = st[p.PB_END0]
        end = end0
        cause = -1
        for port, dur, pc in p.block_ports:
            rs = st[port] if st[port] > start else start
            re = rs + dur
            st[port] = re
            if re > end:
                end, cause = re, pc
        if cause >= 0:
            self.acc[cause] += end - end0
        st[p.B_END] = end
        self.pending = False
        if self.pending_step >= 0 and self.pending_step < self.options.trace_steps:
            self.events.append(StepEvent("block", "compute", "", self.pending_step, start, end))

    def step(self, carry: _Carry) -> None:
        st, p = self.st, self.plan
        for f in carry.prefetch:
            self._fill(f)
        if self.pending:
            self._finish_block()
        prev_end = st[p.B_END]
        for lv in carry.boundary_levels:
            st[p.REL2 + lv] = st[p.REL1 + lv]
            st[p.REL1 + lv] = prev_end
        for w in carry.write_backs:
            self._write_back(w)
        for f in carry.fills:
            self._fill(f)
        ready = prev_end
        cause = -1
        for d in carry.block_deps:
            if st[d] > ready:
                ready, cause = st[d], self.blame[d]
        if self.first_block_start is None:
            self.first_block_start = ready
        elif ready > prev_end and cause >= 0:
            self.acc[cause] += ready - prev_end
        st[p.PB_START] = ready
        st[p.PB_END0] = ready + p.block_cycles + carry.systolic_cycles
        self.pending = True
        self.pending_step = self.simulated
        self.acc[self.SYS] += carry.systolic_cycles
        self.acc[self.FOLDS] += carry.folds
        self.acc[self.CARRY + carry.index + 1] += 1
        self.simulated += 1

    def walk(self, j: int, carry: _Carry) -> None:
        plan = self.plan
        if j == plan.K:
            self.step(carry)
            return
        n = plan.walked[j][2]
        touched = plan.touched_from[j]
        own = plan.carries[j + 1]
        last_diff: list[int] | None = None
        last_acc: list[int] | None = None
        for i in range(n):
            check = self.options.extrapolate and 1 <= i < n - 1 and self.simulated >= self.options.trace_steps
            if check:
                before = list(self.st)
                acc_before = list(self.acc)
            self.walk(j + 1, carry if i == 0 else own)
            if not check:
                continue
            st, acc = self.st, self.acc
            diff = [a - b for a, b in zip(st, before, strict=True)]
            acc_diff = [a - b for a, b in zip(acc, acc_before, strict=True)]
            shift = diff[plan.B_END]
            # Iterations i-1 and i saw the same jobs; if both moved every state value they touch by
            # the same shift and changed the accumulators alike, iteration i+1 repeats them.
            periodic = (shift > 0 and diff == last_diff and acc_diff == last_acc
                        and all(diff[k] == shift for k in touched))
            forced = not periodic and self.simulated > self.options.max_simulated_steps
            last_diff, last_acc = diff, acc_diff
            if periodic or forced:
                self.exact = self.exact and periodic
                m = n - 1 - i
                for k in range(plan.size):
                    if diff[k]:
                        st[k] += m * diff[k]
                for k in range(self.n_acc):
                    if acc_diff[k]:
                        acc[k] += m * acc_diff[k]
                self.pending_step = -1
                return

    def run(self) -> None:
        self.walk(0, self.plan.carries[0])
        if self.pending:
            self._finish_block()
        for w in self.plan.final:
            self._write_back(w)


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------


def simulate_single(
    arch: Architecture,
    problem: Problem,
    mapping: Mapping,
    *,
    energy: ArchEnergy | None = None,
    options: SimOptions | None = None,
    report: Report | None = None,
) -> SingleCoreResult:
    """Simulate one mapping tile by tile and return cycles, stalls and busy times.

    Parameters
    ----------
    arch, problem, mapping
        What to simulate (a valid mapping).
    energy : ArchEnergy, optional
        Per-action energies for the model's report (default: Timeloop's built-in model).
    options : SimOptions, optional
        Latency, extrapolation, tracing and systolic settings.
    report : Report, optional
        The model's report of this mapping, if already computed (one mapping).

    Returns
    -------
    SingleCoreResult
        Cycles (in total and from the first to the last block), stall cycles by cause, per-level
        busy cycles, and the model's access counts.

    Raises
    ------
    MappingError
        If the mapping is invalid (the model's reason is given).
    SpecError
        For a bad systolic declaration or a non-positive bandwidth.

    Notes
    -----
    Cost: ``O(K**2 * L * T)`` set-up plus, in the common periodic case, about ``2**K`` simulated
    steps of ``O(L * T)`` each, for ``K`` non-trivial temporal loops above the innermost level.
    """
    options = options or SimOptions()
    if report is None:
        report = evaluate_batch(arch, problem, MappingBatch.from_mappings([mapping]), energy)
    if not bool(report.valid[0]):
        raise MappingError(f"the mapping is invalid: {report.reason(0)}")
    plan = _Plan(arch, problem, mapping, report, options)
    walk = _Walk(plan, options)
    walk.run()
    st, acc = walk.st, walk.acc
    first = walk.first_block_start or 0
    last_block_end = st[plan.B_END]
    end = max([last_block_end] + [st[w.out] for w in plan.final])
    window = last_block_end - first
    L = plan.L
    read_busy = np.zeros(L, dtype=np.int64)
    write_busy = np.zeros(L, dtype=np.int64)
    moved_reads = plan.block_reads.copy()
    moved_fills = plan.block_fills.copy()
    moved_updates = plan.block_updates.copy()

    def add_busy(port: int, cycles_: int) -> None:
        if port < plan.W_PORT:
            read_busy[port - plan.R_PORT] += cycles_
        else:
            write_busy[port - plan.W_PORT] += cycles_

    n_blocks = sum(acc[walk.CARRY + ci] for ci in range(len(plan.carries)))
    for port, dur, _cause in plan.block_ports:
        add_busy(port, n_blocks * dur)
    for ci, carry in enumerate(plan.carries):
        n = acc[walk.CARRY + ci]
        if not n:
            continue
        for port, busy in carry.port_busy:
            add_busy(port, n * busy)
        for f in (*carry.prefetch, *carry.fills):
            moved_fills[f.level, f.ds] += n * f.words
            moved_reads[plan.parent[f.level, f.ds], f.ds] += n * f.src_words
        for w in carry.write_backs:
            moved_reads[w.level, w.ds] += n * w.src_words
            moved_updates[plan.parent[w.level, w.ds], w.ds] += n * w.words
    for w in plan.final:
        for port in (w.src_port, w.dst_port):
            if port >= 0:
                add_busy(port, w.duration)
        moved_reads[w.level, w.ds] += w.src_words
        moved_updates[plan.parent[w.level, w.ds], w.ds] += w.words
    stalls = {plan.cause_names[k]: int(v) for k, v in enumerate(acc[: plan.n_causes]) if v}
    compute_cycles = plan.steps * plan.block_cycles
    systolic_cycles = acc[walk.SYS]
    return SingleCoreResult(
        cycles=int(end),
        window_cycles=int(window),
        prologue_cycles=int(first),
        epilogue_cycles=int(end - last_block_end),
        analytical_cycles=int(report.cycles[0]),
        compute_cycles=int(compute_cycles),
        systolic_cycles=int(systolic_cycles),
        stall_cycles=int(window - compute_cycles - systolic_cycles),
        stalls=stalls,
        read_busy_cycles=read_busy,
        write_busy_cycles=write_busy,
        steps=int(plan.steps),
        simulated_steps=int(walk.simulated),
        folds=int(acc[walk.FOLDS]),
        exact=walk.exact,
        depth=plan.depth,
        moved_reads=moved_reads,
        moved_fills=moved_fills,
        moved_updates=moved_updates,
        report=report,
        events=tuple(walk.events),
        systolic=plan.systolic,
    )


def chrome_trace_single(result: SingleCoreResult) -> dict[str, Any]:
    """The traced steps of ``result`` as a Chrome/Perfetto trace object.

    One track for the compute blocks and one per level for the transfers into (fills) and out of
    (write-backs) it; ``ts``/``dur`` are cycles (shown as microseconds).
    """
    tracks: dict[str, int] = {"compute": 0}
    events: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": 0, "tid": 0, "args": {"name": "single core"}},
        {"name": "thread_name", "ph": "M", "pid": 0, "tid": 0, "args": {"name": "compute"}},
    ]
    for e in result.events:
        track = "compute" if e.kind == "block" else f"{e.level} {e.kind}s"
        if track not in tracks:
            tracks[track] = len(tracks)
            events.append({"name": "thread_name", "ph": "M", "pid": 0, "tid": tracks[track], "args": {"name": track}})
        name = f"step {e.step}" if e.kind == "block" else f"{e.dataspace}"
        events.append({"name": name, "cat": e.kind, "ph": "X", "ts": int(e.start_cycle),
                       "dur": int(max(0, e.end_cycle - e.start_cycle)), "pid": 0, "tid": tracks[track],
                       "args": {"step": int(e.step), "words": float(e.words)}})
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"time_unit": "cycles (shown as microseconds)", "cycles": int(result.cycles)}}
