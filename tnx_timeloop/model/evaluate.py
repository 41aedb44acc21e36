"""Evaluate mappings: the public entry points of the model room."""

from __future__ import annotations

import numpy as np

from tnx_timeloop.energy.tables import ArchEnergy, resolve_energy
from tnx_timeloop.model.batch import MappingBatch, analyze_batch
from tnx_timeloop.model.nest import build_nest
from tnx_timeloop.model.physical import NestArrays, finish
from tnx_timeloop.model.reference import analyze_reference
from tnx_timeloop.model.report import Report
from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.mapping import Mapping
from tnx_timeloop.spec.problem import Problem

__all__ = ["evaluate_reference", "evaluate_batch"]


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


def evaluate_batch(
    arch: Architecture,
    problem: Problem,
    batch: MappingBatch,
    energy: ArchEnergy | None = None,
) -> Report:
    """Evaluate every mapping of ``batch`` (vectorised); returns one :class:`Report` of ``len(batch)``.

    Mappings the closed form does not cover (imperfect factors) are evaluated by
    the reference analysis, so every figure is Timeloop's.
    """
    energy = energy or resolve_energy(arch)
    counts, needs_reference = analyze_batch(arch, problem, batch)
    if needs_reference.any():
        counts = _patch_with_reference(arch, problem, batch, counts, np.flatnonzero(needs_reference))
    return finish(arch, problem, energy, counts)


def _patch_with_reference(
    arch: Architecture, problem: Problem, batch: MappingBatch, counts: NestArrays, rows: np.ndarray
) -> NestArrays:
    """Replace the counts of ``rows`` with the reference analysis' (a Python loop over few mappings)."""
    fields = {f: getattr(counts, f).copy() for f in counts.__dataclass_fields__}
    for m in rows:
        mapping = batch.mapping(int(m), problem.dimensions, problem.dataspace_names)
        ref = analyze_reference(problem, build_nest(arch, mapping))
        lv = ref.levels[::-1]
        fields["reads"][m] = [c.reads for c in lv]
        fields["fills"][m] = [c.fills for c in lv]
        fields["updates"][m] = [c.updates for c in lv]
        fields["tile_words"][m] = [c.tile_words for c in lv]
        fields["partition_words"][m] = [c.partition_words for c in lv]
        fields["utilized_instances"][m] = [c.utilized_instances for c in lv]
        fields["compute_cycles"][m] = ref.compute_cycles
        fields["compute_utilized"][m] = ref.compute_instances
    return NestArrays(**fields)
