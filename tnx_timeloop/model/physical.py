"""From access counts to a report: capacity and fan-out checks, energy, bandwidth-limited cycles.

This is the part of ``timeloop-model`` that runs after the nest analysis
(``model/buffer.cpp``, ``model/topology.cpp``), vectorised over a batch:

* a mapping is invalid if a level's kept tiles exceed its effective capacity,
  if it uses more instances than exist, or if its spatial X/Y factors exceed the
  level's X/Y fan-out;
* storage energy per data-space is ``sum over actions of ceil(words / block)
  * energy(action)``, charged once per utilized cluster;
* each level needs ``ceil(compute_cycles / slowdown)`` cycles, where the slowdown
  compares the words it must read and write per compute cycle with its
  bandwidths; the latency is the maximum over levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tnx_timeloop.energy.tables import ArchEnergy
from tnx_timeloop.model.report import Report
from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.problem import Problem

__all__ = ["NestArrays", "finish", "CAPACITY", "MIN_UTILIZATION", "INSTANCES", "FANOUT_X", "FANOUT_Y"]


@dataclass(frozen=True, slots=True)
class NestArrays:
    """Per-instance access counts of ``M`` mappings (levels outermost first).

    Attributes
    ----------
    reads, fills, updates : float64 (M, L, T)
        Words per instance of each level and data-space.
    tile_words : int64 (M, L, T)
        Resident words of kept data-spaces (0 where bypassed).
    partition_words : int64 (M, L, T)
        Timeloop's partition sizes (used for read-write first-read elision).
    utilized_instances : int64 (M, L)
        Instances of each level in use.
    compute_cycles : int64 (M,)
        Temporal iterations of the whole nest (cycles at full bandwidth).
    compute_utilized : int64 (M,)
        MAC units in use.
    spatial_x, spatial_y : int64 (M, L)
        Product of each level's spatial factors on the X and Y axes.
    """

    reads: np.ndarray
    fills: np.ndarray
    updates: np.ndarray
    tile_words: np.ndarray
    partition_words: np.ndarray
    utilized_instances: np.ndarray
    compute_cycles: np.ndarray
    compute_utilized: np.ndarray
    spatial_x: np.ndarray
    spatial_y: np.ndarray


CAPACITY, MIN_UTILIZATION, INSTANCES, FANOUT_X, FANOUT_Y = 1, 2, 4, 8, 16


def _ceil_blocks(words: np.ndarray, block: np.ndarray) -> np.ndarray:
    """``ceil(words / block)`` per level (block (1, L, 1)); levels of block 1 need no division."""
    wide = np.flatnonzero(block[0, :, 0] != 1)
    if len(wide) == 0:
        return words
    if len(wide) == block.shape[1]:
        return -(-words // block)
    out = words.copy()
    out[:, wide] = -(-words[:, wide] // block[:, wide])
    return out


def finish(arch: Architecture, problem: Problem, energy: ArchEnergy, counts: NestArrays) -> Report:
    """Turn access counts into a :class:`Report` (validity, energy in pJ, cycles)."""
    M, L, T = counts.reads.shape
    levels = arch.storage
    eff = np.array([lv.effective_size_words if lv.effective_size_words is not None else -1 for lv in levels], dtype=np.int64)
    inst = np.array([lv.instances for lv in levels], dtype=np.int64)
    fx = np.array([arch.fanout_xy(i)[0] for i in range(L)], dtype=np.int64)
    fy = np.array([arch.fanout_xy(i)[1] for i in range(L)], dtype=np.int64)
    min_util = np.array([lv.min_utilization for lv in levels])

    used = counts.tile_words.sum(axis=2)  # (M, L)
    bounded = eff >= 0
    violations = (
        (bounded[None, :] & (used > eff[None, :])) * CAPACITY
        + (bounded[None, :] & (used < eff[None, :] * min_util[None, :])) * MIN_UTILIZATION
        + (counts.utilized_instances > inst[None, :]) * INSTANCES
        + (counts.spatial_x > fx[None, :]) * FANOUT_X
        + (counts.spatial_y > fy[None, :]) * FANOUT_Y
    ).astype(np.uint8)
    valid = ~violations.any(axis=1)

    # ---- energy ------------------------------------------------------------
    block = np.array([lv.block_size for lv in levels], dtype=np.int64)[None, :, None]
    e_read = np.array([e.read_pj for e in energy.storage])[None, :, None]
    e_fill = np.array([e.fill_pj for e in energy.storage])[None, :, None]
    e_upd = np.array([e.update_pj for e in energy.storage])[None, :, None]
    r = np.floor(counts.reads + 1e-9).astype(np.int64)
    f = np.floor(counts.fills + 1e-9).astype(np.int64)
    u = np.floor(counts.updates + 1e-9).astype(np.int64)
    vec_pj = _ceil_blocks(r, block) * e_read + _ceil_blocks(f, block) * e_fill + _ceil_blocks(u, block) * e_upd  # (M, L, T)
    clusters = np.array([max(1, lv.instances // lv.cluster_size) for lv in levels], dtype=np.int64)
    util = counts.utilized_instances
    utilized_clusters = np.minimum(util, clusters[None, :])  # (M, L)
    energy_ds = vec_pj * utilized_clusters[:, :, None]
    compute_energy = np.full(M, problem.macs * energy.compute_pj, dtype=np.float64)
    total_energy = energy_ds.sum(axis=(1, 2)) + compute_energy

    # ---- cycles (Timeloop's floating-point order, for bit-exact ceilings) --
    cc = counts.compute_cycles.astype(np.float64)
    level_cycles = np.zeros((M, L), dtype=np.int64)
    for lv, level in enumerate(levels):
        read_demand = np.zeros(M)
        write_demand = np.zeros(M)
        for t in range(T):
            read_demand = read_demand + r[:, lv, t] / cc
            write_demand = write_demand + (u[:, lv, t] + f[:, lv, t]) / cc
        slowdown = np.ones(M)
        if level.read_bandwidth is not None:
            lim = level.read_bandwidth < read_demand
            slowdown = np.where(lim, np.minimum(slowdown, level.read_bandwidth / np.where(lim, read_demand, 1.0)), slowdown)
        if level.write_bandwidth is not None:
            lim = level.write_bandwidth < write_demand
            slowdown = np.where(lim, np.minimum(slowdown, level.write_bandwidth / np.where(lim, write_demand, 1.0)), slowdown)
        level_cycles[:, lv] = np.ceil(cc / slowdown).astype(np.int64)
    cycles = np.maximum(level_cycles.max(axis=1), counts.compute_cycles)

    return Report(
        level_names=arch.level_names,
        dataspace_names=problem.dataspace_names,
        compute_name=arch.compute.name,
        instances=tuple(int(x) for x in inst),
        compute_instances=arch.compute.instances,
        macs=problem.macs,
        valid=valid,
        violations=violations,
        capacity_words=eff,
        fanout_x=fx,
        fanout_y=fy,
        min_utilization=min_util,
        spatial_x=counts.spatial_x,
        spatial_y=counts.spatial_y,
        cycles=cycles.astype(np.int64),
        compute_cycles=counts.compute_cycles.astype(np.int64),
        energy_pj=total_energy,
        reads=counts.reads,
        fills=counts.fills,
        updates=counts.updates,
        tile_words=counts.tile_words,
        partition_words=counts.partition_words,
        utilized_instances=counts.utilized_instances,
        level_cycles=level_cycles,
        energy_by_dataspace_pj=energy_ds,
        compute_energy_pj=compute_energy,
        compute_utilized_instances=counts.compute_utilized,
        energy_source=energy.describe(),
    )
