"""Tile collapse: per-level working sets -> reads, fills and updates (``tiling.cpp``).

Input, per storage level (innermost first, Timeloop's order) and data-space, for
``M`` mappings at once:

* ``size``: words of the level's tile;
* ``content``: accesses the level serves to its children per instance (a
  multicast word counted once);
* ``weighted``: the same with each multicast counted per receiver
  (``sum(accesses * multicast)``);
* ``fanout``: the level's spatial fan-out to its children (1 if none);
* ``pfd``: Timeloop's partition-fraction denominator for the *child* level
  (the size of the union of the children's tiles when the level fans out);
* ``link``: words its children exchange over neighbour links.

The steps mirror Timeloop: partition sizes, each child's share of its parent's
accesses, bypass masking (a bypassed level's children are served by the next
kept level, scaling that level's access counts), link (peer) accesses, and
finally reads/updates/fills with first-read elision for read-write data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CollapseInput", "CollapseOutput", "collapse"]


@dataclass(frozen=True, slots=True)
class CollapseInput:
    """Arrays of shape (M, S, T): M mappings, S storage levels innermost first, T data-spaces."""

    size: np.ndarray  # int64
    content: np.ndarray  # float64
    weighted: np.ndarray  # float64
    fanout: np.ndarray  # int64 (M, S)
    pfd: np.ndarray  # int64, 0 = use the child's own size
    link: np.ndarray  # int64
    replication: np.ndarray  # int64 (M, S)
    keep: np.ndarray  # bool (M, S, T)
    read_write: np.ndarray  # bool (T,)


@dataclass(frozen=True, slots=True)
class CollapseOutput:
    """Per-instance counts, shape (M, S, T), innermost level first."""

    size: np.ndarray
    partition: np.ndarray
    reads: np.ndarray
    fills: np.ndarray
    updates: np.ndarray
    temporal_reductions: np.ndarray
    replication: np.ndarray  # (M, S)


def collapse(x: CollapseInput) -> CollapseOutput:
    """Run Timeloop's tile collapse on a batch (vectorised over mappings and data-spaces)."""
    M, S, T = x.size.shape
    size = x.size.astype(np.int64).copy()
    content = x.content.astype(np.float64).copy()
    weighted = x.weighted.astype(np.float64).copy()
    link = x.link.astype(np.int64).copy()
    fanout = np.broadcast_to(x.fanout[:, :, None], (M, S, T)).astype(np.float64)

    # partition sizes, from the outermost level inward
    partition = np.zeros((M, S, T), dtype=np.int64)
    part = size[:, S - 1, :].copy()
    partition[:, S - 1, :] = part
    for c in range(S - 2, -1, -1):
        pfd = x.pfd[:, c, :]
        use = pfd != 0
        part = np.where(use, (part * size[:, c, :]) // np.where(use, pfd, 1), part)
        partition[:, c, :] = part

    # each level's share of its parent's accesses (before masking)
    share = np.zeros((M, S, T))
    share[:, : S - 1, :] = weighted[:, 1:, :] / fanout[:, 1:, :]

    # bypass masking: a bypassed level's children are served by the next kept level
    keep = x.keep
    for c in range(S):
        masked = ~keep[:, c, :] & (size[:, c, :] != 0)
        if not masked.any():
            continue
        # the next outer level with a nonzero size (levels above c are not masked yet)
        outer_idx = np.full((M, T), -1, dtype=np.int64)
        for o in range(S - 1, c, -1):
            outer_idx = np.where(size[:, o, :] != 0, o, outer_idx)
        has_outer = masked & (outer_idx >= 0)
        if has_outer.any():
            m_i, t_i = np.nonzero(has_outer)
            o_i = outer_idx[m_i, t_i]
            children = content[m_i, c, t_i] * fanout[m_i, o_i, t_i]
            w = weighted[m_i, o_i, t_i]
            factor = np.where(w != 0, children / np.where(w != 0, w, 1.0), 0.0)
            content[m_i, o_i, t_i] *= factor
            weighted[m_i, o_i, t_i] *= factor
            link[m_i, o_i, t_i] = 0
        size[:, c, :] = np.where(masked, 0, size[:, c, :])
        partition[:, c, :] = np.where(masked, 0, partition[:, c, :])
        content[:, c, :] = np.where(masked, 0.0, content[:, c, :])
        share[:, c, :] = np.where(masked, 0.0, share[:, c, :])
        if (masked & (outer_idx < 0)).any():
            # an outermost level that is bypassed: nothing above it; stop (as Timeloop does)
            pass

    # outermost masked levels lose all stats; the first kept level from the top gets no share
    top_done = np.zeros((M, T), dtype=bool)
    for c in range(S - 1, -1, -1):
        kept = keep[:, c, :]
        clear = ~top_done & ~kept
        size[:, c, :] = np.where(clear, 0, size[:, c, :])
        partition[:, c, :] = np.where(clear, 0, partition[:, c, :])
        content[:, c, :] = np.where(clear, 0.0, content[:, c, :])
        link[:, c, :] = np.where(clear, 0, link[:, c, :])
        first_kept = ~top_done & kept
        share[:, c, :] = np.where(first_kept, 0.0, share[:, c, :])
        top_done |= kept

    # peer accesses from link transfers
    peer = np.zeros((M, S, T))
    for c in range(S - 1, 0, -1):
        spatial = np.broadcast_to(x.replication[:, c - 1][:, None], (M, T))
        has = link[:, c, :] != 0
        per = np.where(has & (spatial > 0), link[:, c, :] // np.where(spatial > 0, spatial, 1), 0)
        peer[:, c - 1, :] += per

    # reads / updates / fills
    alive = size != 0
    outermost = np.zeros((M, S, T), dtype=bool)
    above_alive = np.zeros((M, T), dtype=bool)
    for c in range(S - 1, -1, -1):
        outermost[:, c, :] = ~above_alive
        above_alive |= alive[:, c, :]
    rw = np.broadcast_to(x.read_write[None, None, :], (M, S, T))
    rw_reads = np.round(content + peer - partition)
    rw_fills = np.where(outermost, np.round(share + peer), np.round(share + peer - partition))
    reads = np.where(rw, rw_reads, np.round(content + peer))
    updates = np.where(rw, np.round(content), 0.0)
    fills = np.where(rw, rw_fills, share + peer)
    reductions = np.where(rw, rw_reads, 0.0)
    zero = ~alive
    reads = np.where(zero, 0.0, reads)
    updates = np.where(zero, 0.0, updates)
    fills = np.where(zero, 0.0, fills)
    reductions = np.where(zero, 0.0, reductions)
    return CollapseOutput(
        size=size,
        partition=partition,
        reads=reads,
        fills=fills,
        updates=updates,
        temporal_reductions=reductions,
        replication=x.replication.astype(np.int64),
    )
