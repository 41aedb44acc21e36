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


def _level_major(a: np.ndarray, dtype: type) -> np.ndarray:
    """A fresh C-contiguous (S, M, ...) copy of an (M, S, ...) array: each level's slice is contiguous."""
    return np.array(np.swapaxes(a, 0, 1), dtype=dtype, order="C")


def collapse(x: CollapseInput) -> CollapseOutput:
    """Run Timeloop's tile collapse on a batch (vectorised over mappings and data-spaces).

    Internally level-major (S, M, T), so that every per-level step works on contiguous memory.
    """
    M, S, T = x.size.shape
    size = _level_major(x.size, np.int64)
    content = _level_major(x.content, np.float64)
    weighted = _level_major(x.weighted, np.float64)
    link = _level_major(x.link, np.int64)
    fanout = _level_major(x.fanout, np.float64)[:, :, None]  # (S, M, 1)
    keep = _level_major(x.keep, bool)
    pfd_all = np.swapaxes(x.pfd, 0, 1)

    # partition sizes, from the outermost level inward
    partition = np.empty((S, M, T), dtype=np.int64)
    part = size[S - 1].copy()
    partition[S - 1] = part
    for c in range(S - 2, -1, -1):
        pfd = pfd_all[c]
        use = pfd != 0
        if use.any():
            part = np.where(use, (part * size[c]) // np.where(use, pfd, 1), part)
        partition[c] = part

    # each level's share of its parent's accesses (before masking)
    share = np.zeros((S, M, T))
    share[: S - 1] = weighted[1:] / fanout[1:]

    # bypass masking: a bypassed level's children are served by the next kept level
    for c in range(S):
        masked = ~keep[c] & (size[c] != 0)
        if not masked.any():
            continue
        # the next outer level with a nonzero size (levels above c are not masked yet)
        outer_idx = np.full((M, T), -1, dtype=np.int64)
        for o in range(S - 1, c, -1):
            outer_idx[size[o] != 0] = o
        has_outer = masked & (outer_idx >= 0)
        for o in range(c + 1, S):
            sel = has_outer & (outer_idx == o)
            if not sel.any():
                continue
            children = content[c] * fanout[o]
            w = weighted[o]
            factor = np.where(w != 0, children / np.where(w != 0, w, 1.0), 0.0)
            np.multiply(content[o], factor, out=content[o], where=sel)
            np.multiply(weighted[o], factor, out=weighted[o], where=sel)
            link[o][sel] = 0
        size[c][masked] = 0
        partition[c][masked] = 0
        content[c][masked] = 0.0
        share[c][masked] = 0.0

    # outermost masked levels lose all stats; the first kept level from the top gets no share
    top_done = np.zeros((M, T), dtype=bool)
    for c in range(S - 1, -1, -1):
        kept = keep[c]
        clear = ~top_done & ~kept
        if clear.any():
            size[c][clear] = 0
            partition[c][clear] = 0
            content[c][clear] = 0.0
            link[c][clear] = 0
        first_kept = ~top_done & kept
        share[c][first_kept] = 0.0
        top_done |= kept

    # peer accesses from link transfers
    peer = np.zeros((S, M, T))
    for c in range(S - 1, 0, -1):
        has = link[c] != 0
        if not has.any():
            continue
        spatial = x.replication[:, c - 1][:, None]
        per = np.where(has & (spatial > 0), link[c] // np.where(spatial > 0, spatial, 1), 0)
        peer[c - 1] += per

    # reads / updates / fills
    alive = size != 0
    outermost = np.zeros((S, M, T), dtype=bool)
    above_alive = np.zeros((M, T), dtype=bool)
    for c in range(S - 1, -1, -1):
        outermost[c] = ~above_alive
        above_alive |= alive[c]
    rw = x.read_write[None, None, :]
    rw_reads = np.round(content + peer - partition)
    rw_fills = np.where(outermost, np.round(share + peer), np.round(share + peer - partition))
    reads = np.where(rw, rw_reads, np.round(content + peer))
    updates = np.where(rw, np.round(content), 0.0)
    fills = np.where(rw, rw_fills, share + peer)
    reductions = np.where(rw, rw_reads, 0.0)
    zero = ~alive
    reads[zero] = 0.0
    updates[zero] = 0.0
    fills[zero] = 0.0
    reductions[zero] = 0.0
    return CollapseOutput(
        size=np.swapaxes(size, 0, 1),
        partition=np.swapaxes(partition, 0, 1),
        reads=np.swapaxes(reads, 0, 1),
        fills=np.swapaxes(fills, 0, 1),
        updates=np.swapaxes(updates, 0, 1),
        temporal_reductions=np.swapaxes(reductions, 0, 1),
        replication=x.replication.astype(np.int64),
    )
