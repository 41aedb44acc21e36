"""Evaluate mappings: the public entry points of the model room."""

from __future__ import annotations

import numpy as np

from tnx_timeloop.energy.tables import ArchEnergy, resolve_energy
from tnx_timeloop.model.nest import build_nest
from tnx_timeloop.model.physical import NestArrays, finish
from tnx_timeloop.model.reference import analyze_reference
from tnx_timeloop.model.report import Report
from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.mapping import Mapping
from tnx_timeloop.spec.problem import Problem

__all__ = ["evaluate_reference"]


def evaluate_reference(
    arch: Architecture, problem: Problem, mapping: Mapping, energy: ArchEnergy | None = None
) -> Report:
    """Evaluate one mapping with the literal (slow) reference nest analysis.

    Returns a :class:`Report` holding one mapping.
    """
    energy = energy or resolve_energy(arch)
    nest = build_nest(arch, mapping)
    counts = analyze_reference(problem, nest)
    L, T = len(arch.storage), len(problem.dataspaces)
    # reference levels are innermost first; reports are outermost first
    lv = counts.levels[::-1]
    arrays = NestArrays(
        reads=np.array([[c.reads for c in lv]], dtype=np.float64).reshape(1, L, T),
        fills=np.array([[c.fills for c in lv]], dtype=np.float64).reshape(1, L, T),
        updates=np.array([[c.updates for c in lv]], dtype=np.float64).reshape(1, L, T),
        tile_words=np.array([[c.tile_words for c in lv]], dtype=np.int64).reshape(1, L, T),
        partition_words=np.array([[c.partition_words for c in lv]], dtype=np.int64).reshape(1, L, T),
        utilized_instances=np.array([[c.utilized_instances for c in lv]], dtype=np.int64),
        compute_cycles=np.array([counts.compute_cycles], dtype=np.int64),
        compute_utilized=np.array([counts.compute_instances], dtype=np.int64),
        spatial_x=np.array([[mapping.spatial_xy(i)[0] for i in range(L)]], dtype=np.int64),
        spatial_y=np.array([[mapping.spatial_xy(i)[1] for i in range(L)]], dtype=np.int64),
    )
    return finish(arch, problem, energy, arrays)
