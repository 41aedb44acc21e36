"""Reference nest analysis: Timeloop v3's working-set algorithm, one mapping at a time.

This is the slow, literal model against which the vectorised batch model
(:mod:`tnx_timeloop.model.batch`) is checked. It walks the loop nest the way
Timeloop's ``NestAnalysis`` does (``loop-analysis/nest-analysis.cpp``):

* each loop level's tile is the projection of the operation-space box covered
  by the loops below it onto every data-space, as an axis-aligned hyper-rectangle
  (AAHR, ``point-set-aahr.cpp``);
* the data a level must receive is the *delta* between its tile and the tile it
  held at its previous invocation; a delta is kept only while the tile keeps
  sliding in the same direction ("reset on stride change"), and a difference
  that is not a single slab discards all reuse;
* temporal loops are extrapolated: iterations 0 and 1 are simulated and the
  second delta stands for all later iterations (plus the last one when the
  factorisation is imperfect); spatial loops simulate three instances and
  translate the rest;
* spatial deltas that are equal are multicast (counted once at the parent);
  equal deltas between neighbours in the previous step may instead travel over
  links when that saves parent accesses.

Then ``tiling.cpp``'s collapse turns per-loop statistics into per-storage-level
reads, fills and updates (partition sizes, parent access share, bypass masking,
first-read elision for read-write data).

The code is our own; only the semantics follow Timeloop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tnx_timeloop.model.nest import TEMPORAL, LoopNest
from tnx_timeloop.spec.problem import Problem

__all__ = ["LevelCounts", "NestCounts", "analyze_reference"]


# ---------------------------------------------------------------------------
# AAHR point sets
# ---------------------------------------------------------------------------


class _AAHR:
    """Axis-aligned hyper-rectangle [lo, hi) with a sliding gradient (dim, value)."""

    __slots__ = ("lo", "hi", "gdim", "gval")

    def __init__(self, lo: list[int], hi: list[int]) -> None:
        self.lo = lo
        self.hi = hi
        self.gdim = 0
        self.gval = 0

    @classmethod
    def empty(cls, order: int) -> _AAHR:
        return cls([0] * order, [0] * order)

    def copy(self) -> _AAHR:
        c = _AAHR(list(self.lo), list(self.hi))
        c.gdim, c.gval = self.gdim, self.gval
        return c

    def size(self) -> int:
        n = 1
        for a, b in zip(self.lo, self.hi, strict=True):
            n *= b - a
        return n

    def same(self, other: _AAHR) -> bool:
        return self.lo == other.lo and self.hi == other.hi

    def reset(self) -> None:
        self.lo = [0] * len(self.lo)
        self.hi = [0] * len(self.hi)
        self.gdim = 0
        self.gval = 0

    def subtract(self, s: _AAHR) -> tuple[int, int]:
        """In-place set difference when it is a single slab; returns the gradient (dim, value)."""
        if self.size() == 0 or s.size() == 0:
            return (0, 0)
        if self.same(s):
            self.reset()
            return (0, 0)
        order = len(self.lo)
        for d in range(order):
            if s.hi[d] <= self.lo[d] or s.lo[d] >= self.hi[d]:
                return (0, 0)  # disjoint
        lo, hi = list(self.lo), list(self.hi)
        grad = (0, 0)
        found = False
        for d in range(order):
            if self.lo[d] != s.lo[d] or self.hi[d] != s.hi[d]:
                if found:
                    return (0, 0)  # differs along two axes: not an AAHR; keep all
                found = True
                if s.lo[d] <= self.lo[d]:
                    if s.hi[d] <= self.hi[d]:
                        grad = (d, s.hi[d] - self.lo[d])
                        lo[d] = s.hi[d]
                    else:
                        grad = (0, 0)
                        hi[d] = self.lo[d]
                else:
                    if s.hi[d] < self.hi[d]:
                        return (0, 0)  # would fracture
                    grad = (d, s.lo[d] - self.hi[d])
                    hi[d] = s.lo[d]
                if lo[d] == hi[d]:
                    self.reset()
                    return (0, 0)
        self.lo, self.hi = lo, hi
        return grad

    def minus(self, last: _AAHR) -> _AAHR:
        """``self - last`` with Timeloop's reset-on-stride-change; updates ``self``'s gradient."""
        delta = self.copy()
        g = delta.subtract(last)
        sign = (g[1] > 0) - (g[1] < 0)
        last_sign = (last.gval > 0) - (last.gval < 0)
        if last.gval == 0:
            self.gdim, self.gval = g
        elif g[1] == 0 and delta.size() == 0:
            self.gdim, self.gval = g
        elif last.gdim == g[0] and last_sign == sign:
            self.gdim, self.gval = g
        else:
            delta = self.copy()
            self.gdim, self.gval = 0, 0
        delta.gdim, delta.gval = 0, 0
        return delta


class _Space:
    """One AAHR per data-space (Timeloop's OperationSpace)."""

    __slots__ = ("sets",)

    def __init__(self, sets: list[_AAHR]) -> None:
        self.sets = sets

    def sizes(self) -> list[int]:
        return [s.size() for s in self.sets]


# ---------------------------------------------------------------------------
# per-loop-level live state
# ---------------------------------------------------------------------------


@dataclass
class _Element:
    max_size: list[int]
    access: list[dict[tuple[int, int], float]]
    link: list[int]
    last: _Space
    prev_spatial: dict[int, _Space] | None = None


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------


@dataclass
class LevelCounts:
    """Per storage level and data-space: what the level holds and moves (per instance)."""

    tile_words: list[int]
    partition_words: list[int]
    utilized_instances: int
    reads: list[float]
    fills: list[float]
    updates: list[float]
    temporal_reductions: list[float]
    link_transfers: list[int]
    multicast: list[dict[tuple[int, int], float]]  # parent-side access stats (mcast, scatter) -> accesses
    fanout: int


@dataclass
class NestCounts:
    """Result of the reference analysis; levels innermost first (Timeloop's order)."""

    levels: list[LevelCounts]
    compute_cycles: int
    compute_instances: int
    macs: int
    extras: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------
# the walk
# ---------------------------------------------------------------------------


class _Walker:
    def __init__(self, problem: Problem, nest: LoopNest) -> None:
        self.problem = problem
        self.nest = nest
        self.loops = nest.loops
        self.n = len(self.loops)
        self.D = len(problem.dimensions)
        self.proj = problem.projection_arrays()
        self.T = len(self.proj)
        self.boundary = [False] * self.n
        self.arch_level = [0] * self.n
        lvl = 0
        start = 0
        for b in nest.boundaries:
            self.boundary[b] = True
            for i in range(start, b + 1):
                self.arch_level[i] = lvl
            start = b + 1
            lvl += 1
        # master spatial levels and spatial element counts (outermost first walk)
        self.master = [False] * self.n
        self.num_elems = [1] * self.n
        product = 1
        prev_spatial = False
        for i in range(self.n - 1, -1, -1):
            self.num_elems[i] = product
            if self.loops[i].spatial:
                self.master[i] = not prev_spatial
                product *= self.loops[i].end
                prev_spatial = True
            else:
                prev_spatial = False
        self.fanouts = [1] * self.n
        for i in range(self.n - 1, -1, -1):
            if not self.loops[i].spatial:
                self.fanouts[i] = 1
            elif not self.master[i]:
                self.fanouts[i] = 0
            else:
                j = i
                f = 1
                while j >= 0 and self.loops[j].spatial:
                    f *= self.loops[j].end
                    j -= 1
                self.fanouts[i] = f
        # strides and molds
        cur = [1] * self.D
        cur_res = [1] * self.D
        self.stride: list[list[int]] = []
        self.mold_high: list[list[int]] = []
        self.mold_high_res: list[list[int]] = []
        for lp in self.loops:
            self.stride.append(list(cur))
            cur_res[lp.dim] += cur[lp.dim] * (lp.residual - 1)
            cur[lp.dim] *= lp.end
            self.mold_high.append([c - 1 for c in cur])
            self.mold_high_res.append([c - 1 for c in cur_res])
        self.imperfect = any(lp.end != lp.residual for lp in self.loops)
        self.indices = [0] * self.n
        self.transform = [0] * self.D
        self.epochs = 1
        self.space_stamp: list[int] = []
        self.spatial_id = 0
        self.compute_accesses = 0
        self.live: list[dict[tuple[int, ...], _Element]] = [{} for _ in range(self.n)]

    # -- helpers --------------------------------------------------------------
    def _state(self, level: int) -> _Element:
        key = tuple(self.space_stamp[:-1])
        st = self.live[level].get(key)
        if st is None:
            st = _Element(
                max_size=[0] * self.T,
                access=[{} for _ in range(self.T)],
                link=[0] * self.T,
                last=_Space([_AAHR.empty(a.shape[0]) for a in self.proj]),
            )
            self.live[level][key] = st
        return st

    def _project(self, low: list[int], high: list[int]) -> _Space:
        sets = []
        for a in self.proj:
            lo, hi = [], []
            for row in a:
                lsum = hsum = 0
                for d in range(self.D):
                    c = int(row[d])
                    if c >= 0:
                        lsum += c * low[d]
                        hsum += c * high[d]
                    else:
                        lsum += c * high[d]
                        hsum += c * low[d]
                lo.append(lsum)
                hi.append(hsum + 1)
            sets.append(_AAHR(lo, hi))
        return _Space(sets)

    def _is_last(self, level: int, dim: int) -> bool:
        for lv in range(level, self.n):
            lp = self.loops[lv]
            if lp.dim != dim:
                continue
            if self.indices[lv] + 1 < lp.residual:
                return False
        return True

    # -- recursion ------------------------------------------------------------
    def deltas(self, level: int) -> _Space:
        if self.boundary[level]:
            self.space_stamp.append(0)
        state = self._state(level)
        if self.loops[level].spatial:
            self._spatial(level)
        else:
            self._temporal(level, state)
        dim = self.loops[level].dim
        mold = self.mold_high_res[level] if self._is_last(level + 1, dim) else self.mold_high[level]
        low = list(self.transform)
        high = [t + m for t, m in zip(self.transform, mold, strict=True)]
        point_set = self._project(low, high)
        if self.boundary[level] or self.master[level]:
            sizes = point_set.sizes()
            state.max_size = [max(a, b) for a, b in zip(state.max_size, sizes, strict=True)]
        delta = _Space([ps.minus(last) for ps, last in zip(point_set.sets, state.last.sets, strict=True)])
        state.last = point_set
        if self.boundary[level]:
            self.space_stamp.pop()
        return delta

    def _temporal(self, level: int, state: _Element) -> None:
        lp = self.loops[level]
        end = lp.residual if self._is_last(level + 1, lp.dim) else lp.end
        n_iter = end
        if level == 0:
            body = n_iter * self.epochs
            if self.spatial_id == 0:
                self.compute_accesses += body
            for t in range(self.T):
                state.access[t][(1, 1)] = state.access[t].get((1, 1), 0.0) + body
            return
        sizes: list[list[int]] = []
        scales: list[int] = []
        dim = lp.dim
        scale = self.stride[level][dim]
        saved = self.transform[dim]
        run_last = self.imperfect
        self.indices[level] = 0
        if n_iter >= 1:
            sizes.append(self.deltas(level - 1).sizes())
            scales.append(1)
            self.transform[dim] += scale
            self.indices[level] += 1
        if (run_last and n_iter >= 3) or (not run_last and n_iter >= 2):
            virtual = n_iter - 2 if run_last else n_iter - 1
            saved_epochs = self.epochs
            self.epochs *= virtual
            sizes.append(self.deltas(level - 1).sizes())
            self.epochs = saved_epochs
            scales.append(virtual)
            self.transform[dim] += scale * virtual
            self.indices[level] += virtual
        if run_last and n_iter >= 2:
            # Timeloop v3.0.3 keeps the last iteration's own delta (imperfect factors)
            sizes.append(self.deltas(level - 1).sizes())
            scales.append(1)
            self.transform[dim] += scale
            self.indices[level] += 1
        self.transform[dim] = saved
        if self.boundary[level - 1]:
            for t in range(self.T):
                total = sum(s[t] * k for s, k in zip(sizes, scales, strict=True))
                state.access[t][(1, 1)] = state.access[t].get((1, 1), 0.0) + total * self.epochs

    def _spatial(self, level: int) -> None:
        fanout = self.fanouts[level]
        self.spatial_id *= fanout
        deltas: dict[int, _Space] = {}
        self._fill_spatial(level, deltas, 0)
        self.spatial_id //= fanout
        state = self._state(level)
        without = self._multicast(deltas, [set(deltas) for _ in range(self.T)])
        chosen = without
        ax = self.arch_level[level]
        h, v = self.nest.fanout_x[ax], self.nest.fanout_y[ax]
        unaccounted = [set(deltas) for _ in range(self.T)]
        links = self._link_transfers(state, deltas, unaccounted, h, v)
        with_links = self._multicast(deltas, unaccounted)
        chosen = list(without)
        for t in range(self.T):
            if sum(with_links[t].values()) < sum(without[t].values()):
                state.link[t] += links[t]
                chosen[t] = with_links[t]
        for t in range(self.T):
            for key, acc in chosen[t].items():
                state.access[t][key] = state.access[t].get(key, 0.0) + acc

    def _fill_spatial(self, level: int, deltas: dict[int, _Space], base: int) -> None:
        lp = self.loops[level]
        end = lp.residual if self._is_last(level + 1, lp.dim) else lp.end
        base *= end
        if level == 0:
            if base == 0 and self.spatial_id == 0:
                self.compute_accesses += self.epochs
            for i in range(end):
                self.indices[0] = i
                point = self._op_point()
                deltas[base + i] = self._project(point, point)
            return
        dim = lp.dim
        scale = self.stride[level][dim]
        orig_id = self.spatial_id
        saved = self.transform[dim]
        nxt = self.loops[level - 1]
        if nxt.spatial:
            for i in range(end):
                self.indices[level] = i
                self._fill_spatial(level - 1, deltas, base + i)
                self.transform[dim] += scale
        else:
            run = min(end, 3)
            last_key = second_key = None
            for i in range(run):
                self.indices[level] = i
                key = base + i
                self.spatial_id = orig_id + key
                self.space_stamp[-1] = key
                deltas[key] = self.deltas(level - 1)
                self.transform[dim] += scale
                second_key, last_key = last_key, key
            if run < end:
                a, b = deltas[second_key], deltas[last_key]
                shift = [[y - x for x, y in zip(sa.lo, sb.lo, strict=True)] for sa, sb in zip(a.sets, b.sets, strict=True)]
                prev = b
                for i in range(run, end):
                    self.indices[level] = i
                    key = base + i
                    self.spatial_id = orig_id + key
                    sets = []
                    for s, sh in zip(prev.sets, shift, strict=True):
                        c = s.copy()
                        c.lo = [x + y for x, y in zip(c.lo, sh, strict=True)]
                        c.hi = [x + y for x, y in zip(c.hi, sh, strict=True)]
                        sets.append(c)
                    deltas[key] = _Space(sets)
                    prev = deltas[key]
        self.transform[dim] = saved
        self.spatial_id = orig_id

    def _op_point(self) -> list[int]:
        point = [0] * self.D
        for lv in range(self.n):
            lp = self.loops[lv]
            point[lp.dim] += self.stride[lv][lp.dim] * self.indices[lv]
        return point

    def _multicast(self, deltas: dict[int, _Space], unaccounted: list[set[int]]) -> list[dict[tuple[int, int], float]]:
        """Group equal deltas (multicast); returns per data-space ``(multicast, scatter) -> accesses``."""
        result: list[dict[tuple[int, int], float]] = []
        for t in range(self.T):
            groups: dict[tuple, int] = {}
            for k in unaccounted[t]:
                s = deltas[k].sets[t]
                key = (tuple(s.lo), tuple(s.hi))
                groups[key] = groups.get(key, 0) + 1
            accesses: dict[int, float] = {}
            scatter: dict[int, int] = {}
            for (lo, hi), members in groups.items():
                size = 1
                for a, b in zip(lo, hi, strict=True):
                    size *= b - a
                if size <= 0:
                    continue
                accesses[members] = accesses.get(members, 0.0) + size * self.epochs
                scatter[members] = scatter.get(members, 0) + 1
            result.append({(m, scatter[m]): a for m, a in accesses.items()})
        return result

    def _link_transfers(
        self, state: _Element, deltas: dict[int, _Space], unaccounted: list[set[int]], h: int, v: int
    ) -> list[int]:
        prev = state.prev_spatial or {}
        reuse = [[False] * self.T for _ in range(max(h * v, 1))]

        def compare(cur_i: int, prev_i: int) -> None:
            c = deltas.get(cur_i)
            p = prev.get(prev_i)
            if c is None or p is None:
                return
            for t in range(self.T):
                if c.sets[t].size() != 0 and c.sets[t].same(p.sets[t]):
                    reuse[cur_i][t] = True

        if v > 1:
            for x in range(h):
                for y in range(1, v):
                    compare(y * h + x, (y - 1) * h + x)
            for x in range(h):
                for y in range(v - 1):
                    compare(y * h + x, (y + 1) * h + x)
        if h > 1:
            for y in range(v):
                for x in range(1, h):
                    compare(y * h + x, y * h + x - 1)
            for y in range(v):
                for x in range(h - 1):
                    compare(y * h + x, y * h + x + 1)
        links = [0] * self.T
        for k, d in deltas.items():
            if k >= len(reuse):
                continue
            for t in range(self.T):
                if reuse[k][t]:
                    links[t] += d.sets[t].size() * self.epochs
                    unaccounted[t].discard(k)
        state.prev_spatial = deltas
        return links

    # -- collection -----------------------------------------------------------
    def run(self) -> None:
        self.space_stamp = []
        self.deltas(self.n - 1)


def analyze_reference(problem: Problem, nest: LoopNest, word_bits: tuple[int, ...] | None = None) -> NestCounts:
    """Run Timeloop's nest analysis and tile collapse on one mapping.

    Returns per-instance reads/fills/updates per storage level and data-space,
    innermost level first, exactly as ``timeloop-model`` computes them.
    """
    w = _Walker(problem, nest)
    w.run()
    T = w.T
    # condense per valid loop level (temporal or master spatial), averaging live states
    tiles: list[dict] = []
    for i in range(w.n):
        if w.loops[i].spatial and not w.master[i]:
            continue
        states = list(w.live[i].values())
        count = len(states)
        access: list[dict[tuple[int, int], float]] = [{} for _ in range(T)]
        size = [0] * T
        link = [0] * T
        for st in states:
            for t in range(T):
                for k, a in st.access[t].items():
                    access[t][k] = access[t].get(k, 0.0) + a
                size[t] += st.max_size[t]
                link[t] += st.link[t]
        if count:
            for t in range(T):
                access[t] = {k: a / count for k, a in access[t].items()}
                size[t] //= count
                link[t] //= count
        tiles.append({
            "size": size,
            "access": access,
            "link": link,
            "replication": w.num_elems[i],
            "fanout": w.fanouts[i],
            "boundary": w.boundary[i],
            "master": w.master[i],
        })
    compute_instances = tiles[0]["replication"] * tiles[0]["fanout"] if tiles else 1
    # Timeloop's compute cycles: the product of all temporal trip counts (padded when imperfect)
    cycles = 1
    for lp in nest.loops:
        if lp.kind == TEMPORAL:
            cycles *= lp.end
    levels = _collapse(problem, nest, tiles)
    return NestCounts(
        levels=levels,
        compute_cycles=cycles,
        compute_instances=compute_instances,
        macs=problem.macs,
        extras={"compute_accesses": w.compute_accesses},
    )


def _collapse(problem: Problem, nest: LoopNest, tiles: list[dict]) -> list[LevelCounts]:
    """Group loop-level tiles into storage levels and run the shared collapse."""
    import numpy as np

    from tnx_timeloop.model.collapse import CollapseInput, collapse

    T = len(problem.dataspaces)
    S = len(nest.boundaries)
    size = np.zeros((1, S, T), dtype=np.int64)
    content = np.zeros((1, S, T))
    weighted = np.zeros((1, S, T))
    pfd = np.zeros((1, S, T), dtype=np.int64)
    link = np.zeros((1, S, T), dtype=np.int64)
    fanout = np.ones((1, S), dtype=np.int64)
    replication = np.ones((1, S), dtype=np.int64)
    multicast: list[list[dict]] = []
    i = 0
    level = 0
    while i < len(tiles):
        j = i
        while not tiles[j]["boundary"] and j < len(tiles) - 1:
            j += 1
        inner, outer = tiles[i], tiles[j]
        for t in range(T):
            size[0, level, t] = outer["size"][t]
            content[0, level, t] = sum(inner["access"][t].values())
            weighted[0, level, t] = sum(a * mc for (mc, _sc), a in inner["access"][t].items())
            link[0, level, t] = inner["link"][t]
            if level > 0:
                pfd[0, level - 1, t] = inner["size"][t] if inner["master"] else 0
        fanout[0, level] = inner["fanout"]
        replication[0, level] = outer["replication"]
        multicast.append([dict(inner["access"][t]) for t in range(T)])
        level += 1
        i = j + 1
    keep = np.array([[nest.keep[s_][t] for t in range(T)] for s_ in range(S)], dtype=bool)[None]
    out = collapse(
        CollapseInput(
            size=size, content=content, weighted=weighted, fanout=fanout, pfd=pfd, link=link,
            replication=replication, keep=keep,
            read_write=np.array([ds.read_write for ds in problem.dataspaces], dtype=bool),
        )
    )
    levels = []
    for c in range(S):
        levels.append(
            LevelCounts(
                tile_words=[int(v) for v in out.size[0, c]],
                partition_words=[int(v) for v in out.partition[0, c]],
                utilized_instances=int(replication[0, c]),
                reads=[float(v) for v in out.reads[0, c]],
                fills=[float(v) for v in out.fills[0, c]],
                updates=[float(v) for v in out.updates[0, c]],
                temporal_reductions=[float(v) for v in out.temporal_reductions[0, c]],
                link_transfers=[int(v) for v in link[0, c]],
                multicast=multicast[c],
                fanout=int(fanout[0, c]),
            )
        )
    return levels
