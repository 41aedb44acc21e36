"""Seeded generators of random mappings, for tests and benchmarks (as ``opt_einsum.testing``)."""

from __future__ import annotations

import numpy as np

from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.mapping import LevelMapping, Mapping
from tnx_timeloop.spec.problem import Problem

__all__ = ["prime_factors", "random_mapping", "random_mappings"]


def prime_factors(n: int) -> list[int]:
    """Prime factors of ``n`` with multiplicity, ascending."""
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return out


def random_mapping(
    arch: Architecture,
    problem: Problem,
    rng: np.random.Generator,
    *,
    bypass_probability: float = 0.3,
    respect_fanout: bool = True,
) -> Mapping:
    """A random perfect-factor mapping of ``problem`` onto ``arch``.

    Every prime factor of every dimension goes to a random temporal or spatial
    slot; spatial factors are kept within each level's X/Y fan-out when
    ``respect_fanout``; permutations and X/Y splits are random; each data-space
    is bypassed at an inner level with ``bypass_probability`` (the outermost
    level keeps everything). Capacity is not checked.
    """
    L = len(arch.storage)
    dims = problem.dimensions
    D = len(dims)
    temporal = np.ones((L, D), dtype=np.int64)
    spatial = np.ones((L, D), dtype=np.int64)
    fan = [arch.fanout_xy(i) for i in range(L)]
    split = [int(rng.integers(0, D + 1)) for _ in range(L)]
    s_order = [list(rng.permutation(D)) for _ in range(L)]
    for d in range(D):
        for p in prime_factors(problem.bounds[d]):
            placed = False
            if rng.random() < 0.4:
                lv = int(rng.integers(0, L))
                if fan[lv][0] * fan[lv][1] > 1:
                    pos = s_order[lv].index(d)
                    axis = 0 if pos < split[lv] else 1
                    cur = 1
                    for q, dd in enumerate(s_order[lv]):
                        if (q < split[lv]) == (axis == 0):
                            cur *= spatial[lv, dd]
                    if not respect_fanout or cur * p <= fan[lv][axis]:
                        spatial[lv, d] *= p
                        placed = True
            if not placed:
                temporal[int(rng.integers(0, L)), d] *= p
    levels = []
    for lv in range(L):
        t_order = tuple(dims[i] for i in rng.permutation(D))
        keep = tuple(
            (lv == 0) or (not arch.storage[lv].is_dummy and rng.random() >= bypass_probability)
            for _ in problem.dataspaces
        )
        levels.append(
            LevelMapping(
                temporal=tuple(int(x) for x in temporal[lv]),
                temporal_residual=tuple(int(x) for x in temporal[lv]),
                temporal_order=t_order,
                spatial=tuple(int(x) for x in spatial[lv]),
                spatial_residual=tuple(int(x) for x in spatial[lv]),
                spatial_order=tuple(dims[i] for i in s_order[lv]),
                split=split[lv],
                keep=keep,
            )
        )
    return Mapping(tuple(levels), dims, problem.dataspace_names)


def random_mappings(arch: Architecture, problem: Problem, n: int, seed: int = 0, **kwargs: object) -> list[Mapping]:
    """``n`` random mappings from a seeded generator (see :func:`random_mapping`)."""
    rng = np.random.default_rng(seed)
    return [random_mapping(arch, problem, rng, **kwargs) for _ in range(n)]  # type: ignore[arg-type]
