"""The space of valid mappings of a problem onto an architecture, sampled in batches.

A mapping is, per dimension, a factorisation of its bound over *slots* (each
level's temporal loop, and its spatial loop where the level fans out), per level
a loop order, per fanning-out level an X/Y split, and per level and data-space a
keep/bypass choice. :class:`MapSpace` draws random mappings, mutates mappings,
and enumerates small spaces -- always as :class:`~tnx_timeloop.model.batch.MappingBatch`
arrays -- and prunes on capacity, fan-out and constraints *before* the model runs.

Factorisations are perfect (the factors multiply to the bound); imperfect
(residual) factors are not searched (see the mapper notes in the README).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from tnx_timeloop.errors import SearchError
from tnx_timeloop.mapper.constraints import REMAINDER, Constraints
from tnx_timeloop.model.batch import MappingBatch
from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.problem import Problem
from tnx_timeloop.testing import prime_factors

__all__ = ["MapSpace", "Pruned"]


@dataclass(frozen=True, slots=True)
class Pruned:
    """Result of cheap validity checks: which candidates survive, and why the others did not."""

    keep: np.ndarray  # bool (M,)
    capacity: np.ndarray  # bool (M,): failed a capacity check
    fanout: np.ndarray  # bool (M,): exceeded a fan-out
    bounds: np.ndarray  # bool (M,): violated a <= / >= factor or utilization constraint


class MapSpace:
    """Mappings of ``problem`` on ``arch`` allowed by ``constraints``.

    Parameters
    ----------
    arch, problem : Architecture, Problem
    constraints : Constraints
        Normalised constraints (:func:`tnx_timeloop.mapper.constraints.parse_constraints`).

    Raises
    ------
    SearchError
        If the constraints leave no mapping (naming the constraint that empties the space).
    """

    def __init__(self, arch: Architecture, problem: Problem, constraints: Constraints) -> None:
        self.arch = arch
        self.problem = problem
        self.constraints = constraints
        L, D = len(arch.storage), len(problem.dimensions)
        T = len(problem.dataspaces)
        self.L, self.D, self.T = L, D, T
        dims = problem.dimensions
        # slots: (level, spatial?) for every temporal loop and every fanning-out level's spatial loop
        slots: list[tuple[int, bool]] = []
        for lv in range(L):
            slots.append((lv, False))
            if arch.fanout(lv) > 1:
                slots.append((lv, True))
        self.slots = slots
        S = len(slots)
        self.S = S
        self.fanout_x = np.array([arch.fanout_xy(i)[0] for i in range(L)], dtype=np.int64)
        self.fanout_y = np.array([arch.fanout_xy(i)[1] for i in range(L)], dtype=np.int64)

        # per dimension: fixed slot values, free slots, bounds
        fixed = np.ones((D, S), dtype=np.int64)
        free = np.zeros((D, S), dtype=bool)
        self.max_factor = np.full((D, S), np.iinfo(np.int64).max, dtype=np.int64)
        self.min_factor = np.ones((D, S), dtype=np.int64)
        remaining = []
        for d, dim in enumerate(dims):
            bound = problem.bounds[d]
            rem_slot = None
            fixed_prod = 1
            for s, (lv, spatial) in enumerate(slots):
                lc = constraints.levels[lv]
                loops = lc.spatial if spatial else lc.temporal
                value = loops.fixed_value(dim)
                if not spatial and arch.storage[lv].is_dummy and value is None:
                    value = 1  # a level that keeps nothing gets no temporal loops
                if value == REMAINDER:
                    if rem_slot is not None:
                        raise SearchError(f"dimension {dim}: factor 0 (the remainder) given at two levels")
                    rem_slot = s
                elif value is not None:
                    fixed[d, s] = value
                    fixed_prod *= value
                else:
                    free[d, s] = True
                mx = loops.max_value(dim)
                if mx is not None:
                    self.max_factor[d, s] = mx
                mn = loops.min_value(dim)
                if mn is not None:
                    self.min_factor[d, s] = mn
            if bound % fixed_prod:
                raise SearchError(
                    f"constraints fix the factors of dimension {dim} to multiply to {fixed_prod}, "
                    f"which does not divide its bound {bound}; relax a factor constraint on {dim}"
                )
            rest = bound // fixed_prod
            if rem_slot is not None:
                fixed[d, rem_slot] = rest
                free[d, :] = False
                rest = 1
            if rest > 1 and not free[d].any():
                raise SearchError(
                    f"constraints fix every factor of dimension {dim} (product {fixed_prod}) "
                    f"but its bound is {bound}; free a level for {dim} or fix its factors to multiply to {bound}"
                )
            remaining.append(rest)
        self.fixed = fixed
        self.free = free
        self.remaining = np.array(remaining, dtype=np.int64)
        self.primes = [prime_factors(int(r)) for r in remaining]
        self._check_nonempty()

        # permutations: baked prefixes (innermost) per level, for temporal and spatial loops
        index = {d: i for i, d in enumerate(dims)}
        self.t_prefix = [tuple(index[x] for x in constraints.levels[lv].temporal.prefix) for lv in range(L)]
        self.s_prefix = [tuple(index[x] for x in constraints.levels[lv].spatial.prefix) for lv in range(L)]
        self.split_fixed = [constraints.levels[lv].spatial.split for lv in range(L)]
        # keep/bypass: +1 keep, -1 bypass, 0 free
        names = problem.dataspace_names
        kb = np.zeros((L, T), dtype=np.int8)
        for lv in range(L):
            lc = constraints.levels[lv]
            for t, ds in enumerate(names):
                if ds in lc.keep:
                    kb[lv, t] = 1
                elif ds in lc.bypass:
                    kb[lv, t] = -1
            if arch.storage[lv].is_dummy:
                kb[lv, :] = -1
        kb[0, :] = np.where(kb[0, :] == -1, -1, 1)  # the outermost level keeps what it is not told to bypass
        self.keep_rule = kb
        self._eff = np.array(
            [lv.effective_size_words if lv.effective_size_words is not None else -1 for lv in arch.storage],
            dtype=np.int64,
        )
        self._spf = _smallest_prime_factor_table(int(max(problem.bounds)) + 1)

    # ------------------------------------------------------------------ size
    def _check_nonempty(self) -> None:
        for d, dim in enumerate(self.problem.dimensions):
            bad = (self.fixed[d] > self.max_factor[d]) & ~self.free[d]
            if bad.any():
                s = int(np.flatnonzero(bad)[0])
                lv, sp = self.slots[s]
                raise SearchError(
                    f"constraints leave no mapping: dimension {dim} is fixed to {self.fixed[d, s]} at "
                    f"{self.arch.storage[lv].name} ({'spatial' if sp else 'temporal'}) but also limited to "
                    f"<= {self.max_factor[d, s]}"
                )
        for lv in range(self.L):
            if self.arch.fanout(lv) == 1:
                continue
            s = self.slots.index((lv, True))
            x = int(np.prod(self.fixed[:, s]))
            if x > self.fanout_x[lv] * self.fanout_y[lv]:
                raise SearchError(
                    f"constraints leave no mapping: fixed spatial factors at {self.arch.storage[lv].name} "
                    f"multiply to {x} but its fan-out is {self.fanout_x[lv] * self.fanout_y[lv]}"
                )

    def factor_options(self) -> list[int]:
        """Number of factorisations of each dimension over its free slots."""
        out = []
        for d in range(self.D):
            k = int(self.free[d].sum())
            n = 1
            for p in set(self.primes[d]):
                e = self.primes[d].count(p)
                n *= math.comb(e + k - 1, k - 1) if k > 0 else 1
            out.append(n)
        return out

    def size(self) -> float:
        """Approximate number of mappings (factorisations x orders x splits x bypass choices)."""
        n = float(np.prod([float(x) for x in self.factor_options()]))
        for lv in range(self.L):
            n *= math.factorial(self.D - len(self.t_prefix[lv]))
        n *= float(2 ** int((self.keep_rule == 0).sum()))
        return n

    # ------------------------------------------------------------------ sampling
    def sample(self, rng: np.random.Generator, n: int) -> MappingBatch:
        """``n`` random mappings (uniform factorisations; valid splits where possible)."""
        factors = np.broadcast_to(self.fixed, (n, self.D, self.S)).copy()
        for d in range(self.D):
            slots = np.flatnonzero(self.free[d])
            if len(slots) == 0:
                continue
            for p in sorted(set(self.primes[d])):
                e = self.primes[d].count(p)
                parts = _compositions(rng, n, e, len(slots))  # (n, k)
                factors[:, d, slots] *= p ** parts
        return self._assemble(rng, factors)

    def sample_visits(self, rng: np.random.Generator, n_factorisations: int, variants: int) -> MappingBatch:
        """Timeloop-style visits: ``n_factorisations`` random factorisations, each with ``variants``
        random loop orders, splits and bypass choices (rows grouped by factorisation)."""
        base = self.sample(rng, n_factorisations)
        factors = np.repeat(self.factors_of(base), variants, axis=0)
        return self._assemble(rng, factors)

    def _assemble(self, rng: np.random.Generator, factors: np.ndarray, keep: np.ndarray | None = None) -> MappingBatch:
        n = factors.shape[0]
        L, D = self.L, self.D
        temporal = np.ones((n, L, D), dtype=np.int64)
        spatial = np.ones((n, L, D), dtype=np.int64)
        for s, (lv, sp) in enumerate(self.slots):
            (spatial if sp else temporal)[:, lv, :] = factors[:, :, s]
        t_order = np.empty((n, L, D), dtype=np.int64)
        s_order = np.empty((n, L, D), dtype=np.int64)
        split = np.zeros((n, L), dtype=np.int64)
        for lv in range(L):
            t_order[:, lv, :] = _orders(rng, n, D, self.t_prefix[lv])
            s_order[:, lv, :] = _orders(rng, n, D, self.s_prefix[lv])
            split[:, lv] = self._splits(rng, spatial[:, lv, :], s_order[:, lv, :], lv)
        if keep is None:
            keep = self.sample_keep(rng, n)
        return MappingBatch(temporal, spatial, t_order, s_order, split, keep, temporal.copy(), spatial.copy())

    def sample_keep(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """bool (n, L, T): fixed keep/bypass choices, free ones at random."""
        rule = self.keep_rule[None, :, :]
        rand = rng.random((n, self.L, self.T)) < 0.5
        return np.where(rule == 0, rand, rule > 0)

    def _splits(self, rng: np.random.Generator, fac: np.ndarray, order: np.ndarray, lv: int) -> np.ndarray:
        """X/Y split per mapping: the constraint's, else a random one that fits the fan-out if any does."""
        n, D = fac.shape
        if self.split_fixed[lv] is not None:
            return np.full(n, min(self.split_fixed[lv], D), dtype=np.int64)
        if self.arch.fanout(lv) == 1:
            return np.full(n, D, dtype=np.int64)
        ordered = np.take_along_axis(fac, order, axis=1)
        cum = np.concatenate([np.ones((n, 1), np.int64), np.cumprod(ordered, axis=1)], axis=1)  # X product at split k
        total = cum[:, -1:]
        ok = (cum <= self.fanout_x[lv]) & (total // cum <= self.fanout_y[lv])  # (n, D+1)
        pick = rng.random((n, D + 1)) * ok
        choice = np.argmax(pick, axis=1)
        fallback = rng.integers(0, D + 1, size=n)
        return np.where(ok.any(axis=1), choice, fallback)

    # ------------------------------------------------------------------ pruning
    def prune(self, batch: MappingBatch) -> Pruned:
        """Cheap checks before the model runs: capacity, fan-out, factor bounds, utilization."""
        from tnx_timeloop.model.batch import _problem_arrays, _tile_sizes

        per_level = batch.temporal * batch.spatial  # (n, L, D), outermost first
        extent = np.cumprod(per_level[:, ::-1, :], axis=1)[:, ::-1, :]  # tile of each level
        _, words = _tile_sizes(extent, _problem_arrays(self.problem))  # (n, L, T)
        used = np.where(batch.keep, words, 0).sum(axis=2)
        bounded = self._eff >= 0
        capacity = (bounded[None, :] & (used > self._eff[None, :])).any(axis=1)
        sx, sy = batch.spatial_xy()
        fanout = ((sx > self.fanout_x[None, :]) | (sy > self.fanout_y[None, :])).any(axis=1)
        factors = self.factors_of(batch)
        bounds = ((factors > self.max_factor[None]) | (factors < self.min_factor[None])).any(axis=(1, 2))
        if self.constraints.min_utilization > 0:
            used_pes = batch.spatial.prod(axis=(1, 2))
            bounds |= used_pes < self.constraints.min_utilization * self.arch.compute.instances
        keep = ~(capacity | fanout | bounds)
        return Pruned(keep, capacity, fanout, bounds)

    def factors_of(self, batch: MappingBatch) -> np.ndarray:
        """int64 (n, D, S): the slot factors of each mapping."""
        out = np.ones((len(batch), self.D, self.S), dtype=np.int64)
        for s, (lv, sp) in enumerate(self.slots):
            out[:, :, s] = (batch.spatial if sp else batch.temporal)[:, lv, :]
        return out

    # ------------------------------------------------------------------ mutation
    def mutate(self, rng: np.random.Generator, batch: MappingBatch, n_moves: int = 1) -> MappingBatch:
        """One child per mapping, ``n_moves`` random moves each.

        Moves: shift a prime factor of one dimension between two free slots (40%),
        swap two free loops of a level's order (30%), re-draw a level's spatial
        order and X/Y split (20%), flip a free keep/bypass choice (10%). The
        parent's orders and splits are kept where they still fit.
        """
        n = len(batch)
        factors = self.factors_of(batch)
        t_order = batch.temporal_order.copy()
        s_order = batch.spatial_order.copy()
        split = batch.split.copy()
        keep = batch.keep.copy()
        resplit = np.zeros((n, self.L), dtype=bool)
        fan_levels = np.array([lv for lv in range(self.L) if self.arch.fanout(lv) > 1], dtype=np.int64)
        for _ in range(n_moves):
            u = rng.random(n)
            self._move_factor(rng, factors, u < 0.4)
            self._swap_order(rng, t_order, (u >= 0.4) & (u < 0.7))
            if len(fan_levels):
                pick = fan_levels[rng.integers(0, len(fan_levels), size=n)]
                sel = (u >= 0.7) & (u < 0.9)
                resplit[np.flatnonzero(sel), pick[sel]] = True
            self._flip_keep(rng, keep, u >= 0.9)
        child = self._assemble(rng, factors, keep)
        for lv in range(self.L):
            fits = self._split_fits(child.spatial[:, lv, :], s_order[:, lv, :], split[:, lv], lv) & ~resplit[:, lv]
            s_order[:, lv, :] = np.where(fits[:, None], s_order[:, lv, :], child.spatial_order[:, lv, :])
            split[:, lv] = np.where(fits, split[:, lv], child.split[:, lv])
        return MappingBatch(child.temporal, child.spatial, t_order, s_order, split, keep,
                            child.temporal.copy(), child.spatial.copy())

    def _split_fits(self, fac: np.ndarray, order: np.ndarray, split: np.ndarray, lv: int) -> np.ndarray:
        if self.arch.fanout(lv) == 1:
            return np.ones(len(fac), dtype=bool)
        ordered = np.take_along_axis(fac, order, axis=1)
        pos = np.arange(self.D)[None, :]
        x = np.where(pos < split[:, None], ordered, 1).prod(axis=1)
        y = np.where(pos < split[:, None], 1, ordered).prod(axis=1)
        return (x <= self.fanout_x[lv]) & (y <= self.fanout_y[lv])

    def _move_factor(self, rng: np.random.Generator, factors: np.ndarray, rows: np.ndarray) -> None:
        idx = np.flatnonzero(rows)
        if len(idx) == 0:
            return
        movable = np.flatnonzero((self.free.sum(axis=1) >= 2) & (self.remaining > 1))
        if len(movable) == 0:
            return
        d = movable[rng.integers(0, len(movable), size=len(idx))]
        free = self.free[d]  # (k, S)
        f = factors[idx, d, :]  # (k, S)
        src_ok = free & (f > 1)
        src = np.argmax(rng.random(f.shape) * src_ok, axis=1)
        has = src_ok.any(axis=1)
        tgt_ok = free & (np.arange(self.S)[None, :] != src[:, None])
        tgt = np.argmax(rng.random(f.shape) * tgt_ok, axis=1)
        p = self._spf[np.take_along_axis(f, src[:, None], axis=1)[:, 0]]
        p = np.where(has, p, 1)
        rows_ = np.arange(len(idx))
        f[rows_, src] //= p
        f[rows_, tgt] *= p
        factors[idx, d, :] = f

    def _swap_order(self, rng: np.random.Generator, order: np.ndarray, rows: np.ndarray) -> None:
        idx = np.flatnonzero(rows)
        if len(idx) == 0:
            return
        lv = rng.integers(0, self.L, size=len(idx))
        lo = np.array([len(self.t_prefix[x]) for x in lv])
        span = self.D - lo
        ok = span >= 2
        a = lo + (rng.random(len(idx)) * np.maximum(span, 1)).astype(np.int64)
        b = lo + (rng.random(len(idx)) * np.maximum(span, 1)).astype(np.int64)
        a, b = np.minimum(a, self.D - 1), np.minimum(b, self.D - 1)
        i, l2 = idx[ok], lv[ok]
        va = order[i, l2, a[ok]].copy()
        order[i, l2, a[ok]] = order[i, l2, b[ok]]
        order[i, l2, b[ok]] = va

    def _flip_keep(self, rng: np.random.Generator, keep: np.ndarray, rows: np.ndarray) -> None:
        idx = np.flatnonzero(rows)
        free = np.argwhere(self.keep_rule == 0)
        if len(idx) == 0 or len(free) == 0:
            return
        pick = free[rng.integers(0, len(free), size=len(idx))]
        keep[idx, pick[:, 0], pick[:, 1]] = ~keep[idx, pick[:, 0], pick[:, 1]]

    # ------------------------------------------------------------------ exhaustive
    def enumerate(self, limit: int, chunk: int = 4096):
        """Yield every mapping as batches (orders of non-trivial loops only), or raise if more than ``limit``."""
        tables = []
        for d in range(self.D):
            slots = np.flatnonzero(self.free[d])
            rows = _all_factorisations(int(self.remaining[d]), len(slots))
            full = np.broadcast_to(self.fixed[d], (len(rows), self.S)).copy()
            if len(slots):
                full[:, slots] *= rows
            ok = ((full <= self.max_factor[d]) & (full >= self.min_factor[d])).all(axis=1)
            tables.append(full[ok])
            if not ok.any():
                raise SearchError(f"constraints leave no factorisation of dimension {self.problem.dimensions[d]}")
        keep_free = np.argwhere(self.keep_rule == 0)
        n_keep = 2 ** len(keep_free)
        total_factor = math.prod(len(t) for t in tables)
        if total_factor * n_keep > limit:
            raise SearchError(f"mapspace too large to enumerate ({total_factor * n_keep:.3g} > {limit})")
        rng = np.random.default_rng(0)
        counts = [len(t) for t in tables]
        produced = 0
        for start in range(0, total_factor, chunk):
            ids = np.arange(start, min(total_factor, start + chunk))
            factors = np.empty((len(ids), self.D, self.S), dtype=np.int64)
            rem = ids.copy()
            for d in range(self.D - 1, -1, -1):
                factors[:, d, :] = tables[d][rem % counts[d]]
                rem //= counts[d]
            for k in range(n_keep):
                keep = np.broadcast_to(self.keep_rule > 0, (len(ids), self.L, self.T)).copy()
                for j, (lv, t) in enumerate(keep_free):
                    keep[:, lv, t] = bool((k >> j) & 1)
                base = self._assemble(rng, factors, keep)
                for batch in self._expand_orders(base):
                    produced += len(batch)
                    if produced > limit:
                        raise SearchError(f"mapspace too large to enumerate (> {limit} mappings)")
                    yield batch

    def _expand_orders(self, base: MappingBatch):
        """Every relative order of each level's free non-trivial temporal loops (and every valid split)."""
        n = len(base)
        nontrivial = base.temporal > 1  # (n, L, D)
        sig = [tuple(map(tuple, row)) for row in nontrivial.reshape(n, -1).reshape(n, self.L, self.D)]
        groups: dict = {}
        for i, s in enumerate(sig):
            groups.setdefault(s, []).append(i)
        for s, rows in groups.items():
            rows_a = np.array(rows)
            per_level = []
            for lv in range(self.L):
                prefix = list(self.t_prefix[lv])
                movers = [d for d in range(self.D) if s[lv][d] and d not in prefix]
                rest = [d for d in range(self.D) if d not in prefix and d not in movers]
                per_level.append([tuple(prefix) + p + tuple(rest) for p in itertools.permutations(movers)])
            for combo in itertools.product(*per_level):
                sub = base.take(rows_a)
                order = np.broadcast_to(np.array(combo, dtype=np.int64), (len(rows_a), self.L, self.D)).copy()
                yield MappingBatch(sub.temporal, sub.spatial, order, sub.spatial_order, sub.split, sub.keep,
                                   sub.temporal_residual, sub.spatial_residual)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _compositions(rng: np.random.Generator, n: int, e: int, k: int) -> np.ndarray:
    """``n`` uniform random compositions of ``e`` identical items into ``k`` ordered parts (n, k)."""
    if k == 1:
        return np.full((n, 1), e, dtype=np.int64)
    positions = np.argsort(rng.random((n, e + k - 1)), axis=1)[:, : k - 1]
    bars = np.sort(positions, axis=1)
    edges = np.concatenate([np.full((n, 1), -1), bars, np.full((n, 1), e + k - 1)], axis=1)
    return np.diff(edges, axis=1) - 1


def _orders(rng: np.random.Generator, n: int, D: int, prefix: tuple[int, ...]) -> np.ndarray:
    """(n, D) loop orders: the baked prefix innermost, the other dimensions in random order."""
    rest = np.array([d for d in range(D) if d not in prefix], dtype=np.int64)
    out = np.empty((n, D), dtype=np.int64)
    out[:, : len(prefix)] = np.array(prefix, dtype=np.int64)
    if len(rest):
        out[:, len(prefix):] = rest[np.argsort(rng.random((n, len(rest))), axis=1)]
    return out


def _all_factorisations(value: int, k: int) -> np.ndarray:
    """Every ordered factorisation of ``value`` into ``k`` factors, int64 (rows, k)."""
    if k == 0:
        return np.ones((1, 0), dtype=np.int64) if value == 1 else np.zeros((0, 0), dtype=np.int64)
    rows = [[]]
    for p in sorted(set(prime_factors(value))):
        e = prime_factors(value).count(p)
        comps = [c for c in itertools.product(range(e + 1), repeat=k) if sum(c) == e]
        rows = [r + [c] for r in rows for c in comps]
    out = np.ones((len(rows), k), dtype=np.int64)
    primes = sorted(set(prime_factors(value)))
    for i, r in enumerate(rows):
        for p, c in zip(primes, r, strict=True):
            out[i] *= np.array([p**x for x in c], dtype=np.int64)
    return out


def _smallest_prime_factor_table(n: int) -> np.ndarray:
    spf = np.arange(n + 1, dtype=np.int64)
    for i in range(2, int(n**0.5) + 1):
        if spf[i] == i:
            block = spf[i * i :: i]
            spf[i * i :: i] = np.where(block == np.arange(i * i, n + 1, i), i, block)
    spf[:2] = 1
    return spf

