"""The batched model: Timeloop's nest analysis in closed form over ``M`` mappings at once.

Timeloop walks the loop nest (see :mod:`tnx_timeloop.model.reference`). Because
it extrapolates every temporal loop from its first two iterations, the walk over
the loops above a storage level visits the corners ``{0, 1}^K`` of the K
non-trivial loops, and the data that must be filled into the level is a sum
over *transition types*: the step of loop ``j`` (with the loops inside it going
back from index 1 to 0) has total weight ``(n_j - 1) * prod_{m > j} n_m``, and
moves the level's tile by a fixed vector in each data-space. A move is

* empty (the tile stays) -- no data;
* a slide along one data rank by less than the tile -- the uncovered slab;
* anything else -- the whole tile.

Timeloop forgets a slide when the tile changes direction; in the corner walk
every step of an outer loop follows a step of the innermost loop, so the rule
reduces to: if the innermost moving loop slides, a slide of another loop in
another direction costs the whole tile. Equal tiles among spatial children are
multicast (counted once at the parent). The collapse into reads/fills/updates
is shared with the reference (:mod:`tnx_timeloop.model.collapse`).

Mappings this closed form does not cover exactly -- imperfect factors, and
spatial fan-outs where neighbour link transfers can occur -- are flagged and
evaluated by the reference, so every result is Timeloop's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tnx_timeloop.model.collapse import CollapseInput, collapse
from tnx_timeloop.model.physical import NestArrays
from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.mapping import LevelMapping, Mapping
from tnx_timeloop.spec.problem import Problem

__all__ = ["MappingBatch", "analyze_batch"]


@dataclass(frozen=True, slots=True)
class MappingBatch:
    """``M`` mappings over ``L`` storage levels (outermost first) and ``D`` problem dimensions.

    Attributes
    ----------
    temporal, spatial : int64 (M, L, D)
        Loop trip counts per level and dimension (1 = no loop).
    temporal_order, spatial_order : int64 (M, L, D)
        Dimension index at each loop position, innermost first.
    split : int64 (M, L)
        Number of leading spatial positions mapped to the X axis.
    keep : bool (M, L, T)
        Whether each level stores each data-space.
    temporal_residual, spatial_residual : int64 (M, L, D)
        Last-iteration trip counts (equal to the factors when perfect).
    """

    temporal: np.ndarray
    spatial: np.ndarray
    temporal_order: np.ndarray
    spatial_order: np.ndarray
    split: np.ndarray
    keep: np.ndarray
    temporal_residual: np.ndarray
    spatial_residual: np.ndarray

    def __post_init__(self) -> None:
        M, L, D = self.temporal.shape
        for name in ("spatial", "temporal_order", "spatial_order", "temporal_residual", "spatial_residual"):
            arr = getattr(self, name)
            if arr.shape != (M, L, D):
                raise ValueError(f"MappingBatch.{name} has shape {arr.shape}, expected {(M, L, D)}")
        if self.split.shape != (M, L):
            raise ValueError(f"MappingBatch.split has shape {self.split.shape}, expected {(M, L)}")
        if self.keep.shape[:2] != (M, L):
            raise ValueError(f"MappingBatch.keep has shape {self.keep.shape}, expected ({M}, {L}, T)")

    def __len__(self) -> int:
        return int(self.temporal.shape[0])

    @property
    def imperfect(self) -> np.ndarray:
        """bool (M,): mappings with an imperfect (residual) factor."""
        return ((self.temporal != self.temporal_residual) | (self.spatial != self.spatial_residual)).any(axis=(1, 2))

    def take(self, index: np.ndarray | Sequence[int]) -> MappingBatch:
        """The selected mappings as a new batch."""
        idx = np.asarray(index)
        return MappingBatch(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))

    @classmethod
    def concatenate(cls, batches: Sequence[MappingBatch]) -> MappingBatch:
        return cls(*(np.concatenate([getattr(b, f) for b in batches]) for f in cls.__dataclass_fields__))

    @classmethod
    def from_mappings(cls, mappings: Sequence[Mapping]) -> MappingBatch:
        """Pack :class:`Mapping` objects (same problem and architecture) into arrays."""
        if not mappings:
            raise ValueError("from_mappings needs at least one mapping")
        dims = mappings[0].dimensions
        index = {d: i for i, d in enumerate(dims)}

        def level_rows(lv: LevelMapping) -> tuple:
            return (
                lv.temporal,
                lv.spatial,
                [index[d] for d in lv.temporal_order],
                [index[d] for d in lv.spatial_order],
                lv.split,
                lv.keep,
                lv.temporal_residual,
                lv.spatial_residual,
            )

        rows = [[level_rows(lv) for lv in m.levels] for m in mappings]
        fields = list(zip(*[list(zip(*r, strict=True)) for r in rows], strict=True))
        return cls(
            temporal=np.asarray(fields[0], dtype=np.int64),
            spatial=np.asarray(fields[1], dtype=np.int64),
            temporal_order=np.asarray(fields[2], dtype=np.int64),
            spatial_order=np.asarray(fields[3], dtype=np.int64),
            split=np.asarray(fields[4], dtype=np.int64),
            keep=np.asarray(fields[5], dtype=bool),
            temporal_residual=np.asarray(fields[6], dtype=np.int64),
            spatial_residual=np.asarray(fields[7], dtype=np.int64),
        )

    def mapping(self, i: int, dimensions: Sequence[str], dataspaces: Sequence[str]) -> Mapping:
        """Mapping ``i`` as a :class:`Mapping`."""
        dims = tuple(dimensions)
        levels = []
        for lv in range(self.temporal.shape[1]):
            levels.append(
                LevelMapping(
                    temporal=tuple(int(x) for x in self.temporal[i, lv]),
                    temporal_residual=tuple(int(x) for x in self.temporal_residual[i, lv]),
                    temporal_order=tuple(dims[int(x)] for x in self.temporal_order[i, lv]),
                    spatial=tuple(int(x) for x in self.spatial[i, lv]),
                    spatial_residual=tuple(int(x) for x in self.spatial_residual[i, lv]),
                    spatial_order=tuple(dims[int(x)] for x in self.spatial_order[i, lv]),
                    split=int(self.split[i, lv]),
                    keep=tuple(bool(x) for x in self.keep[i, lv]),
                )
            )
        return Mapping(tuple(levels), dims, tuple(dataspaces))

    def spatial_xy(self) -> tuple[np.ndarray, np.ndarray]:
        """int64 (M, L) pair: product of spatial factors on the X and on the Y axis."""
        M, L, D = self.spatial.shape
        # levels without a spatial factor in any mapping have X = Y = 1
        return self._spatial_xy(np.flatnonzero((self.spatial.reshape(M, L * D) > 1).any(axis=0).reshape(L, D).any(axis=1)))

    def _spatial_xy(self, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`spatial_xy`, computing only ``levels`` (the others have no spatial factor)."""
        M, L, D = self.spatial.shape
        x = np.ones((M, L), dtype=np.int64)
        y = np.ones((M, L), dtype=np.int64)
        for lv in levels:
            factor_at_pos = np.take_along_axis(self.spatial[:, lv], self.spatial_order[:, lv], axis=1)  # (M, D)
            is_x = np.arange(D)[None, :] < self.split[:, lv, None]
            x[:, lv] = np.where(is_x, factor_at_pos, 1).prod(axis=1)
            y[:, lv] = np.where(is_x, 1, factor_at_pos).prod(axis=1)
        return x, y


@dataclass(frozen=True, slots=True)
class _ProblemArrays:
    A: np.ndarray  # int64 (R, D): all data-space ranks stacked
    rank_ds: np.ndarray  # int64 (R,): data-space of each rank
    ranks: tuple[np.ndarray, ...]  # per data-space, its rank indices
    starts: np.ndarray  # int64 (T,): first rank of each data-space
    read_write: np.ndarray  # bool (T,)
    terms: tuple[tuple[tuple[int, int], ...], ...]  # per rank, its (dimension, |coefficient|) pairs


_PA_CACHE: dict[int, tuple[Problem, _ProblemArrays]] = {}


def _problem_arrays(problem: Problem) -> _ProblemArrays:
    """Projection matrices stacked by data-space, each padded to the same number of ranks.

    A padding rank has no coefficients: it never moves and has extent 1, so it
    changes no tile size, but it lets per-data-space sums be plain reshapes.
    (Cached per problem object: the mapper evaluates many batches of one problem.)
    """
    hit = _PA_CACHE.get(id(problem))
    if hit is not None and hit[0] is problem:
        return hit[1]
    mats = problem.projection_arrays()
    rmax = max(m.shape[0] for m in mats)
    D = len(problem.dimensions)
    padded = [np.vstack([m, np.zeros((rmax - m.shape[0], D), dtype=np.int64)]) for m in mats]
    A = np.concatenate(padded, axis=0)
    rank_ds = np.repeat(np.arange(len(mats)), rmax)
    ranks = tuple(np.arange(t * rmax, (t + 1) * rmax) for t in range(len(mats)))
    rw = np.array([ds.read_write for ds in problem.dataspaces], dtype=bool)
    starts = np.array([r[0] for r in ranks], dtype=np.int64)
    terms = tuple(tuple((d, int(abs(A[r, d]))) for d in range(D) if A[r, d] != 0) for r in range(A.shape[0]))
    pa = _ProblemArrays(A, rank_ds, ranks, starts, rw, terms)
    if len(_PA_CACHE) > 64:
        _PA_CACHE.clear()
    _PA_CACHE[id(problem)] = (problem, pa)
    return pa


def _rank_extents(extent_d: np.ndarray, pa: _ProblemArrays) -> np.ndarray:
    """Per-rank extents, rank-major (R, ...), of boxes with dimension-major ``extent_d`` (D, ...).

    The same integers as ``(extent - 1) @ |A|.T + 1``, summing only the nonzero coefficients.
    """
    out = np.empty((len(pa.terms),) + extent_d.shape[1:], dtype=np.int64)
    for r, terms in enumerate(pa.terms):
        if not terms:
            out[r] = 1
            continue
        acc = None
        for d, a in terms:
            v = extent_d[d] - 1 if a == 1 else (extent_d[d] - 1) * a
            acc = v if acc is None else acc + v
        acc += 1
        out[r] = acc
    return out


def _words_of(rank_ext: np.ndarray, pa: _ProblemArrays) -> np.ndarray:
    """Per-data-space words (..., T) from rank-major per-rank extents (R, ...)."""
    words = []
    for rk in pa.ranks:
        w = rank_ext[rk[0]].copy()
        for r in rk[1:]:
            if pa.terms[r]:
                w *= rank_ext[r]
        words.append(w)
    return np.stack(words, axis=-1)


def _tile_sizes(extent: np.ndarray, pa: _ProblemArrays) -> tuple[np.ndarray, np.ndarray]:
    """Per-rank extents (M, X, R) and per-data-space words (M, X, T) of boxes with ``extent`` (M, X, D)."""
    rank_ext = _rank_extents(np.moveaxis(extent, -1, 0), pa)
    return np.moveaxis(rank_ext, 0, -1), _words_of(rank_ext, pa)


def analyze_batch(
    arch: Architecture, problem: Problem, batch: MappingBatch
) -> tuple[NestArrays, np.ndarray]:
    """Per-instance access counts of every mapping in ``batch``.

    Returns
    -------
    counts : NestArrays
        Counts for all mappings (levels outermost first).
    needs_reference : bool (M,)
        Mappings the closed form does not cover exactly (imperfect factors,
        possible neighbour link transfers); their counts here are not final and
        must come from :func:`tnx_timeloop.model.reference.analyze_reference`.
    """
    pa = _problem_arrays(problem)
    M, L, D = batch.temporal.shape
    T = len(pa.ranks)

    # ---- the nest, innermost block first. Within a block every dimension has one spatial
    # and one temporal loop, so strides and tile extents do not depend on loop order.
    sp = batch.spatial[:, ::-1, :]  # (M, L, D)
    tt = batch.temporal[:, ::-1, :]
    per_block = sp * tt
    tile_ext = np.cumprod(per_block, axis=1)  # (M, L, D): tile of each storage level
    below = tile_ext // per_block  # extent of everything under a block
    union_ext = below * sp  # union of a block's spatial children
    sigma_t = union_ext  # stride of a block's temporal loop of each dimension
    tile_rank = _rank_extents(np.moveaxis(tile_ext, 2, 0), pa)  # (R, M, L), rank-major
    tile_words = _words_of(tile_rank, pa)  # (M, L, T)
    union_words = _words_of(_rank_extents(np.moveaxis(union_ext, 2, 0), pa), pa)

    fanout = sp.prod(axis=2)  # (M, L)
    compute_cycles = tt.prod(axis=(1, 2))
    compute_utilized = fanout.prod(axis=1)
    rev_cum = np.cumprod(fanout[:, ::-1], axis=1)[:, ::-1]
    replication = np.ones((M, L), dtype=np.int64)
    replication[:, :-1] = rev_cum[:, 1:]

    # temporal loops in nest order (innermost first), compacted to the non-trivial ones
    t_order = batch.temporal_order[:, ::-1, :]
    t_end = np.take_along_axis(tt, t_order, axis=2).reshape(M, L * D)
    t_sigma = np.take_along_axis(sigma_t, t_order, axis=2).reshape(M, L * D)
    t_dim = t_order.reshape(M, L * D)
    nontrivial = t_end >= 2
    K = max(1, int(nontrivial.sum(axis=1).max()))
    sel = np.argsort(~nontrivial, axis=1, kind="stable")[:, :K]
    k_valid = np.take_along_axis(nontrivial, sel, axis=1)  # (M, K)
    k_end = np.where(k_valid, np.take_along_axis(t_end, sel, axis=1), 1)
    k_block = sel // D
    k_a = pa.A.T[np.take_along_axis(t_dim, sel, axis=1)] * np.where(k_valid, np.take_along_axis(t_sigma, sel, axis=1), 0)[:, :, None]  # (M, K, R)
    suffix = np.ones((M, K), dtype=np.int64)
    if K > 1:
        suffix[:, :-1] = np.cumprod(k_end[:, ::-1], axis=1)[:, ::-1][:, 1:]
    weight = (k_end - 1) * suffix  # total weight of each transition type
    sp_order = batch.spatial_order[:, ::-1, :]

    needs_reference = batch.imperfect.copy()

    # ---- per child level c (-1 = the MACs): how its tile moves at each transition type,
    # the data filled into one instance of c, and what block c+1's spatial fan-out reads for it
    content = np.zeros((M, L, T))
    weighted = np.zeros((M, L, T))
    link = np.zeros((M, L, T), dtype=np.int64)
    # all storage levels at once: the tile move of each transition type, and what it brings in
    lv = np.arange(L)
    above_all = k_valid[:, None, :] & (k_block[:, None, :] > lv[None, :, None])  # (M, L, K)
    # ranks first, int32: (R, M, L, K) planes make the per-data-space sums cheap
    ka_r = np.ascontiguousarray(np.moveaxis(k_a, 2, 0), dtype=np.int32)  # (R, M, K)
    cum_r = np.zeros((ka_r.shape[0], M, K + 1), dtype=np.int32)  # inclusive sums, 0 first
    np.cumsum(ka_r, axis=2, out=cum_r[:, :, 1:])
    # the loops below level c are the first n_below[c] (nest order; invalid ones last, zero moves)
    n_below = (k_valid[:, None, :] & (k_block[:, None, :] <= lv[None, :, None])).sum(axis=2)  # (M, L)
    pre_r = np.take_along_axis(cum_r, np.broadcast_to(n_below[None], (ka_r.shape[0], M, L)), axis=2)[:, :, :, None]
    base_r = (ka_r - cum_r[:, :, :-1])[:, :, None, :]  # (R, M, 1, K); level c's tile move is base + prefix[c]
    first_all = np.argmax(above_all, axis=2)  # (M, L): the innermost moving loop above each level
    # a level's fills of a data-space it bypasses cancel out in the collapse: skip them
    keep_in = batch.keep[:, ::-1, :]
    needed = keep_in.any(axis=0)  # (L, T)
    trans_t = _transitions(base_r, pre_r, first_all, tile_rank, tile_words, pa.starts, needed)
    w_above = np.where(above_all, weight[:, None, :], 0)  # (M, L, K)
    # (a skipped pair only scales the next kept level, in ratio: any positive stand-in works)
    delta_total = np.ones((M, L, T), dtype=np.int64)
    slot = np.zeros((L, T), dtype=np.int64)  # position of each needed level in trans_t[t]
    for t, tr_t in enumerate(trans_t):
        if tr_t is None:
            continue
        lv_t, words_t = tr_t[0], tr_t[1]
        slot[lv_t, t] = np.arange(len(lv_t))
        w_sel = w_above if len(lv_t) == L else w_above[:, lv_t]
        delta_total[:, lv_t, t] = tile_words[:, lv_t, t] + np.einsum("mlk,mlk->ml", w_sel, words_t)
    ones = np.ones((M, K), dtype=np.int64)
    mac_transitions = _Transitions(ones, np.zeros((M, K), bool), ones, np.ones(M, dtype=np.int64))

    for c in range(-1, L):
        b = c + 1  # the block whose spatial loops fan out to c's instances
        if b >= L:
            continue
        child_total = np.broadcast_to(compute_cycles[:, None], (M, T)).astype(np.float64) if c < 0 else delta_total[:, c, :]
        e = sp[:, b, :]  # (M, D) spatial trip counts, by dimension
        active = e > 1
        active_d = active.any(axis=0)
        if not active_d.any():
            content[:, b, :] = child_total
            weighted[:, b, :] = child_total
            continue
        if c >= 0:
            above, first = above_all[:, c], first_all[:, c]
        else:  # the MACs get one fresh point per operand every cycle
            above, first = k_valid, np.argmax(k_valid, axis=1)
        below_b = below[:, b, :]  # (M, D): data offset of one step of each spatial loop is A.T * below_b
        F = fanout[:, b]
        hx, vy = arch.fanout_xy(L - 1 - b)
        for t, rk in enumerate(pa.ranks):
            # which (dimension, rank) pairs a spatial loop moves: A[r, d] != 0 and the loop is active
            terms = [[(d, a) for d, a in pa.terms[r] if active_d[d]] for r in rk]
            simple = np.ones(M, dtype=bool)
            for tr_ in terms:
                if len(tr_) > 1:
                    simple &= sum(active[:, d].view(np.int8) for d, _ in tr_) <= 1
            dims_t = sorted({d for tr_ in terms for d, _ in tr_})
            groups = np.ones(M, dtype=np.int64)
            for d in dims_t:
                groups *= e[:, d]
            hard = np.flatnonzero(~simple & (F <= max(1, hx * vy)))
            if len(hard):
                step_h = pa.A.T[None, :, rk] * below_b[hard][:, :, None]
                off, ok = _instance_offsets(e[hard], step_h, min(hx * vy, int(F[hard].max())))
                groups[hard] = _distinct(off, ok)[0]
            content[:, b, t] = child_total[:, t] * groups
            weighted[:, b, t] = child_total[:, t] * F
            if c >= 0 and not needed[c, t]:
                continue  # no mapping keeps this data-space at the child: its links would be discarded
            # neighbour links need a tile move equal to two children's offset difference:
            # zero outside the ranks these spatial loops index and within their reach
            if c >= 0:
                i_ = slot[c, t]
                tr = _Transitions(trans_t[t][1][:, i_], trans_t[t][2][:, i_], trans_t[t][3][:, i_], tile_words[:, c, t])
            else:
                tr = mac_transitions
            reachable = None
            moving = None
            sh_r = []
            for r, tr_ in zip(rk, terms, strict=True):
                sh = base_r[r, :, 0, :] + pre_r[r, :, c] if c >= 0 else base_r[r, :, 0, :]  # (M, K)
                sh_r.append(sh)
                reach = np.zeros(M, dtype=np.int64)  # largest offset difference along rank r
                spatial_rank = np.zeros(M, dtype=bool)
                for d, a in tr_:
                    reach += a * (below_b[:, d] * (e[:, d] - 1))
                    spatial_rank |= active[:, d]
                ok_r = ((sh == 0) | spatial_rank[:, None]) & (np.abs(sh) <= reach[:, None])
                reachable = ok_r if reachable is None else reachable & ok_r
                if c >= 0:
                    moving = (sh != 0) if moving is None else moving | (sh != 0)
            if c < 0:
                moving = np.ones((M, K), bool)
            candidate = (above & (tr.words > 0) & moving & reachable).any(axis=1) & (F > 1)
            if c < 0:
                candidate |= (groups < F) & above.any(axis=1)
            candidate &= F <= hx * vy
            rows = np.flatnonzero(candidate)
            if len(rows):
                order = sp_order[rows, b]  # spatial loops innermost first: the linear instance order
                step_rows = pa.A.T[None, :, rk] * below_b[rows][:, :, None]  # (C, D, Rt)
                sh_rows = np.stack([sh[rows] for sh in sh_r], axis=2)  # (C, K, Rt)
                c_, w_, l_ = _links(
                    np.take_along_axis(e[rows], order, axis=1),
                    np.take_along_axis(step_rows, order[:, :, None], axis=1),
                    hx, vy, tr, rows, above[rows], weight[rows], sh_rows, first[rows],
                    k_end[rows, first[rows]],
                )
                content[rows, b, t], weighted[rows, b, t], link[rows, b, t] = c_, w_, l_

    # ---- collapse (innermost first)
    pfd = np.zeros((M, L, T), dtype=np.int64)
    pfd[:, :-1, :] = np.where(fanout[:, 1:, None] > 1, union_words[:, 1:, :], 0)
    out = collapse(
        CollapseInput(
            size=tile_words,
            content=content,
            weighted=weighted,
            fanout=fanout,
            pfd=pfd,
            link=link,
            replication=replication,
            keep=batch.keep[:, ::-1, :],
            read_write=pa.read_write,
        )
    )
    sx, sy = batch._spatial_xy(L - 1 - np.flatnonzero((fanout > 1).any(axis=0))[::-1])
    counts = NestArrays(
        reads=out.reads[:, ::-1, :],
        fills=out.fills[:, ::-1, :],
        updates=out.updates[:, ::-1, :],
        tile_words=out.size[:, ::-1, :],
        partition_words=out.partition[:, ::-1, :],
        utilized_instances=replication[:, ::-1],
        compute_cycles=compute_cycles,
        compute_utilized=compute_utilized,
        spatial_x=sx,
        spatial_y=sy,
    )
    return counts, needs_reference


@dataclass(frozen=True, slots=True)
class _Transitions:
    """How a level's tile changes at each transition type, for one data-space.

    ``words`` (M, K): words the step brings in (0: tile unchanged; the whole tile
    after a jump or a direction change); ``slide`` (M, K): the step slid by less
    than the tile; ``magnitude`` (M, K), int32: slide distance along the moving rank;
    ``initial`` (M,): words of the first (full) tile.
    """

    words: np.ndarray
    slide: np.ndarray
    magnitude: np.ndarray
    initial: np.ndarray


def _transitions(
    base: np.ndarray,
    prefix: np.ndarray,
    first: np.ndarray,
    rank_size: np.ndarray,
    words: np.ndarray,
    starts: np.ndarray,
    needed: np.ndarray,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None]:
    """Classify every transition type of every level for every data-space.

    Parameters
    ----------
    base, prefix : int32 (R, M, 1, K), (R, M, L, 1)
        Tile move of each transition type at level ``c``, per data rank (ranks
        first), is ``base + prefix[:, :, c]``: the loop's step, minus the resets
        of the loops inside it, plus back those below the level.
    first : int64 (M, L)
        The innermost moving loop above each level.
    rank_size : int64 (R, M, L)
        Each level's tile per rank (ranks first).
    words : int64 (M, L, T)
        Each level's tile in words.
    starts : int64 (T,)
        First rank of each data-space (ranks are stacked by data-space, padded to equal counts).
    needed : bool (L, T)
        The (level, data-space) pairs to classify; a level that bypasses a
        data-space never needs its fills.

    Returns
    -------
    Per data-space, None if no level needs it, else ``(levels, words_in, slide, magnitude)``
    for the needed levels ``levels`` (Lt,):

    words_in : int64 (M, Lt, K)
        Words the step brings in: 0 if the tile stays, the slab if it slides by
        less than the tile along one rank, else the whole tile (also after a
        change of slide direction, which makes Timeloop forget the overlap).
    slide : bool (M, Lt, K)
        Whether the step is a (kept) slide.
    magnitude : int32 (M, Lt, K)
        Distance moved along the moving rank.
    """
    R, M, _, K = base.shape
    L = prefix.shape[2]
    T = len(starts)
    per = R // T
    # ranks that no loop moves (all-zero planes) never change a tile: leave them out
    moves = (base != 0).any(axis=(1, 2, 3)) | (prefix != 0).any(axis=(1, 2, 3))
    result: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None] = []
    for t in range(T):
        lv = np.flatnonzero(needed[:, t])
        if len(lv) == 0:
            result.append(None)
            continue
        every = len(lv) == L
        Lt = len(lv)
        tile = words[:, :, t] if every else words[:, lv, t]  # (M, Lt)
        moving = [j for j in range(per) if moves[t * per + j]]
        if not moving:  # the tile never moves: nothing comes in
            zero = np.zeros((M, Lt, K), dtype=np.int64)
            result.append((lv, zero, np.zeros((M, Lt, K), dtype=bool), np.zeros((M, Lt, K), dtype=np.int32)))
            continue
        # per (mapping, level), the size of each moving rank and the tile's words across it,
        # indexed by code = 1 + position among the moving ranks (0: none)
        ext_tab = np.zeros((M, Lt, len(moving) + 1), dtype=np.int64)
        rest_tab = np.zeros((M, Lt, len(moving) + 1), dtype=np.int64)
        n_nz = moved = code = None
        for i, j in enumerate(moving):
            r = t * per + j
            plane = base[r] + (prefix[r] if every else prefix[r][:, lv, :])  # (M, Lt, K) int32
            size = rank_size[r] if every else rank_size[r][:, lv]  # (M, Lt)
            ext_tab[:, :, i + 1] = size
            rest_tab[:, :, i + 1] = tile // np.maximum(size, 1)
            nz = plane != 0
            if n_nz is None:
                n_nz = nz.view(np.int8).copy()
                moved = plane
                code = nz.view(np.int8) * np.int8(i + 1)
            else:
                n_nz += nz
                moved = moved + plane
                np.copyto(code, np.int8(i + 1), where=nz)
        # the moving rank's size and the rest of the tile (meaningful where exactly one rank moves)
        flat = code + (np.arange(M * Lt, dtype=np.int64) * (len(moving) + 1)).reshape(M, Lt, 1)
        ext = np.take(ext_tab.reshape(-1), flat)
        rest = np.take(rest_tab.reshape(-1), flat)
        mag = np.abs(moved)
        # a slide: exactly one rank moves, by less than the tile; it brings in the slab
        slide = (n_nz == 1) & (mag < ext)
        # the slide's direction: +-code (0 if no slide)
        np.negative(code, out=code, where=moved < 0)
        direction = code * slide
        d1 = np.take_along_axis(direction, (first if every else first[:, lv])[:, :, None], axis=2)
        # a slide in another direction than the innermost moving loop's forgets the overlap
        kept = slide & ((d1 == 0) | (direction == d1))
        words_in = np.where(kept, mag * rest, np.where(n_nz == 0, 0, tile[:, :, None]))
        result.append((lv, words_in, kept, mag))
    return result


def _instance_offsets(ends: np.ndarray, step: np.ndarray, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Data offsets of every spatial child, by linear instance id (innermost loop fastest).

    ``ends`` (C, J) and ``step`` (C, J, Rt) describe the spatial loops; returns
    offsets int32 rank-major (C, Rt, capacity) and which ids exist, bool (C, capacity).
    """
    ids = np.arange(capacity, dtype=np.int32)
    # loops of extent 1 change nothing: keep only the active ones, in order
    keep = np.argsort(ends <= 1, axis=1, kind="stable")[:, : max(1, int((ends > 1).sum(axis=1).max()))]
    ends = np.take_along_axis(ends, keep, axis=1).astype(np.int64)
    step = np.take_along_axis(step, keep[:, :, None], axis=1).astype(np.int32)
    radix = np.cumprod(np.concatenate([np.ones((len(ends), 1), np.int64), ends[:, :-1]], axis=1), axis=1)  # (C, J)
    # few distinct (radix, extent) pairs occur: divide once per pair, then gather
    pairs, inverse = np.unique(radix * (capacity + 1) + ends, return_inverse=True)
    patterns = (ids[None, :] // (pairs // (capacity + 1))[:, None]) % (pairs % (capacity + 1))[:, None]
    digits = patterns.astype(np.int32)[inverse.reshape(ends.shape)]  # (C, J, F)
    offsets = np.zeros((len(ends), step.shape[2], capacity), dtype=np.int32)
    for j in range(ends.shape[1]):
        offsets += digits[:, None, j, :] * step[:, j, :, None]
    exists = ids[None, :] < ends.prod(axis=1)[:, None]
    return offsets, exists


def _distinct(offsets: np.ndarray, exists: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Count distinct offset vectors per row; also return the sort order and group bounds.

    ``offsets`` is rank-major (C, Rt, F). Returns ``(count (C,), order (C, F), first (C, F),
    last (C, F))``: ``order`` sorts the ids by offset (missing ids last); ``first``/``last``
    mark the first and last id of each distinct offset in that order.
    """
    lo = offsets.min(axis=2)
    span = offsets.max(axis=2).astype(np.int64) - lo + 1
    key = np.zeros((offsets.shape[0], offsets.shape[2]), dtype=np.int64)
    for r in range(offsets.shape[1]):
        key = key * span[:, r, None] + (offsets[:, r, :] - lo[:, r, None])
    key = np.where(exists, key, np.iinfo(np.int64).max)
    order = np.argsort(key, axis=1, kind="stable")
    ks = np.take_along_axis(key, order, axis=1)
    ex = np.take_along_axis(exists, order, axis=1)
    change = ks[:, 1:] != ks[:, :-1]
    new_group = np.ones_like(ex)
    new_group[:, 1:] = change
    new_group &= ex
    last = np.ones_like(ex)
    last[:, :-1] = change
    last &= ex
    return new_group.sum(axis=1), order, new_group, last


def _links(
    ends: np.ndarray,
    step: np.ndarray,
    h_size: int,
    v_size: int,
    tr: _Transitions,
    rows: np.ndarray,
    above: np.ndarray,
    weight: np.ndarray,
    shift: np.ndarray,
    first: np.ndarray,
    first_end: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parent accesses with Timeloop's neighbour link transfers, for C candidate mappings.

    At each step of the corner walk, a child whose new data equals what a
    physical neighbour (left, right, up, down in the X-by-Y grid) received at the
    previous step may take it over a link; Timeloop uses the links when that
    lowers the parent's accesses. ``ends``/``step`` (C, J[, Rt]) are the spatial
    loops innermost first, ``shift`` (C, K, Rt) the tile move of each transition
    type. Returns ``(content, weighted, link_words)``, each (C,).
    """
    C, K = above.shape
    # ids at or beyond the largest fan-out exist in no row: leave them out
    F = min(h_size * v_size, int(ends.prod(axis=1).max()))
    off, exists = _instance_offsets(ends, step, F)
    n_inst = exists.sum(axis=1)
    groups_all, order, new_group, last_of_group = _distinct(off, exists)

    # physical neighbours: child f may receive from its left/right/up/down neighbour
    # one integer key per offset difference (mixed radix over the ranks the spatial loops
    # move), so that each direction needs a single (C, K, F) comparison; a tile move
    # beyond the children's span, or along a rank they do not span, matches no pair
    reach = (off.max(axis=2) - off.min(axis=2)).astype(np.int64)  # (C, Rt)
    spanned = np.flatnonzero(reach.any(axis=0))
    weight_r = np.ones((C, len(spanned)), dtype=np.int64)
    for i in range(len(spanned) - 2, -1, -1):
        weight_r[:, i] = weight_r[:, i + 1] * (2 * reach[:, spanned[i + 1]] + 1)
    fits = (shift[:, :, reach.sum(axis=0) == 0] == 0).all(axis=2)
    shift_key = np.zeros((C, K), dtype=np.int64)
    for i, r in enumerate(spanned):
        fits &= np.abs(shift[:, :, r]) <= reach[:, None, r]
        shift_key += (shift[:, :, r] + reach[:, None, r]) * weight_r[:, i, None]
    shift_key = np.where(fits, shift_key, -1)
    centre = (reach[:, spanned] * weight_r).sum(axis=1)[:, None]  # the key of a zero difference

    # neighbours: f + d receives from f (forward) and f from f + d (backward), d = 1 along
    # X (within a row of the grid) and d = h_size along Y
    lin = np.arange(F)
    linked = np.zeros((C, K, F), dtype=bool)
    for d, along_x in ((1, True), (h_size, False)):
        if d >= F or (along_x and h_size == 1):
            continue
        ok = (lin[:-d] % h_size < h_size - 1) if along_x else np.ones(F - d, dtype=bool)
        ok = ok[None, :] & exists[:, :-d] & exists[:, d:]  # (C, F - d)
        moved = np.zeros((C, F - d), dtype=np.int64)
        for i, r in enumerate(spanned):
            moved += (off[:, r, d:] - off[:, r, :-d]).astype(np.int64) * weight_r[:, i, None]
        # the child at f takes from f + d when f's new data is what f + d held: key(+moved)
        linked[:, :, :-d] |= np.where(ok, centre + moved, -2)[:, None, :] == shift_key[:, :, None]
        linked[:, :, d:] |= np.where(ok, centre - moved, -2)[:, None, :] == shift_key[:, :, None]
    n_link = linked.sum(axis=2)

    # distinct offsets among the children without a link, per transition type
    unlinked = np.take_along_axis(exists[:, None, :] & ~linked, order[:, None, :], axis=2)
    cs = np.cumsum(unlinked, axis=2, dtype=np.int32)
    # a group (a run of equal offsets in sorted order) counts when the running count of
    # unlinked children grows across it: compare cs at consecutive group ends
    n_groups = last_of_group.sum(axis=1)
    end_pos = np.argsort(~last_of_group, axis=1, kind="stable")[:, : max(1, int(n_groups.max()))]  # (C, G)
    real = np.arange(end_pos.shape[1])[None, :] < n_groups[:, None]
    cs_end = np.take_along_axis(cs, end_pos[:, None, :], axis=2)  # (C, K, G)
    grew = np.empty(cs_end.shape, dtype=bool)
    grew[:, :, 0] = cs_end[:, :, 0] > 0
    np.greater(cs_end[:, :, 1:], cs_end[:, :, :-1], out=grew[:, :, 1:])
    groups_rest = (grew & real[:, None, :]).sum(axis=2)  # (C, K)

    words = tr.words[rows].astype(np.float64)
    slide = tr.slide[rows]
    mag = tr.magnitude[rows]
    take = np.arange(C)
    w_f, s_f, m_f = words[take, first], slide[take, first], mag[take, first]
    same_shape = (slide == s_f[:, None]) & (~slide | (mag == m_f[:, None]))
    same_first = (words > 0) & same_shape  # a step of the innermost loop after a step of loop k
    same_prev_first = (w_f[:, None] > 0) & same_shape  # a step of loop k after one of the innermost loop
    better = groups_rest < groups_all[:, None]  # (C, K): links lower the parent's accesses

    def cost(k_words: np.ndarray, same: np.ndarray, g_rest: np.ndarray, nl: np.ndarray, use: np.ndarray):
        chosen = same & use
        return (
            k_words * np.where(chosen, g_rest, groups_all[:, None] if k_words.ndim == 2 else groups_all),
            k_words * np.where(chosen, n_inst[:, None] - nl if k_words.ndim == 2 else n_inst - nl, n_inst[:, None] if k_words.ndim == 2 else n_inst),
            k_words * np.where(chosen, nl, 0),
        )

    initial = tr.initial[rows].astype(np.float64)
    content = initial * groups_all
    weighted = initial * n_inst
    link = np.zeros(C)
    g1, n1, b1 = groups_rest[take, first], n_link[take, first], better[take, first]
    w1 = (first_end - 1).astype(np.float64)
    # the innermost moving loop's steps after the first tile
    c_, w_, l_ = cost(w_f, ~s_f & (w_f > 0), g1, n1, b1)
    content += w1 * c_
    weighted += w1 * w_
    link += w1 * l_
    others = above & (np.arange(K)[None, :] != first[:, None])
    # ... after a step of an outer loop k
    c_, w_, l_ = cost(np.broadcast_to(w_f[:, None], (C, K)), same_first, g1[:, None], n1[:, None], b1[:, None])
    scale = np.where(others, w1[:, None] * weight, 0.0)
    content += (scale * c_).sum(axis=1)
    weighted += (scale * w_).sum(axis=1)
    link += (scale * l_).sum(axis=1)
    # and every step of an outer loop follows a step of the innermost moving loop
    c_, w_, l_ = cost(words, same_prev_first, groups_rest, n_link, better)
    scale = np.where(others, weight, 0).astype(np.float64)
    content += (scale * c_).sum(axis=1)
    weighted += (scale * w_).sum(axis=1)
    link += (scale * l_).sum(axis=1)
    return content, weighted, np.rint(link).astype(np.int64)
