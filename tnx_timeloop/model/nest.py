"""The loop nest of a mapping, as Timeloop builds it.

Loops are listed innermost first (Timeloop's order). For each storage level,
from the innermost, the nest holds that level's spatial loops (its fan-out to the
children) and then its temporal loops; loops of trip count 1 are dropped, and a
level without temporal loops gets one trivial loop so that every storage level
has a tiling boundary (``mapping/parser.cpp``).
"""

from __future__ import annotations

from dataclasses import dataclass

from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.mapping import Mapping

__all__ = ["Loop", "LoopNest", "build_nest"]

TEMPORAL, SPATIAL_X, SPATIAL_Y = "T", "X", "Y"


@dataclass(frozen=True, slots=True)
class Loop:
    """One loop: dimension index, trip count ``end``, last-iteration trip count ``residual``."""

    dim: int
    end: int
    residual: int
    kind: str  # "T", "X" or "Y"

    @property
    def spatial(self) -> bool:
        return self.kind != TEMPORAL


@dataclass(frozen=True, slots=True)
class LoopNest:
    """Loops innermost first, and for each storage level (innermost first) its boundary loop index."""

    loops: tuple[Loop, ...]
    boundaries: tuple[int, ...]
    fanout_x: tuple[int, ...]  # per storage level, innermost first (arch fan-out to children)
    fanout_y: tuple[int, ...]
    keep: tuple[tuple[bool, ...], ...]  # per storage level innermost first, per data-space


def build_nest(arch: Architecture, mapping: Mapping) -> LoopNest:
    """Build Timeloop's loop nest for ``mapping`` on ``arch``."""
    dims = mapping.dimensions
    index = {d: i for i, d in enumerate(dims)}
    loops: list[Loop] = []
    boundaries: list[int] = []
    fx: list[int] = []
    fy: list[int] = []
    keep: list[tuple[bool, ...]] = []
    nlev = len(arch.storage)
    for s in range(nlev - 1, -1, -1):  # innermost storage level first
        level = mapping.levels[s]
        if arch.fanout(s) > 1:
            for pos, d in enumerate(level.spatial_order):
                j = index[d]
                end = level.spatial[j]
                if end > 1:
                    kind = SPATIAL_X if pos < level.split else SPATIAL_Y
                    loops.append(Loop(j, end, level.spatial_residual[j], kind))
        added = 0
        for d in level.temporal_order:
            j = index[d]
            end = level.temporal[j]
            if end > 1:
                loops.append(Loop(j, end, level.temporal_residual[j], TEMPORAL))
                added += 1
        if added == 0:
            loops.append(Loop(len(dims) - 1, 1, 1, TEMPORAL))
        boundaries.append(len(loops) - 1)
        x, y = arch.fanout_xy(s)
        fx.append(x)
        fy.append(y)
        keep.append(level.keep)
    return LoopNest(tuple(loops), tuple(boundaries), tuple(fx), tuple(fy), tuple(keep))
