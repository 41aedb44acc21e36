"""``compare`` studies: the published-accelerator comparisons of ``tnx compare``, one task per comparison and seed.

Each task runs :func:`tnx_timeloop.study.compare.run_comparison` (every distinct layer
mapped by the native mapper, through the study's evaluation cache) and records one row
per figure (published value, modelled value, relative error, source, and whether it is
far from the paper with the recorded reasons), plus a ``layers`` table of the modelled
per-layer figures.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.study.config import CompareSpec, StudyConfig
from tnx_timeloop.study.tasks import TaskContext, TaskResult

__all__ = ["ComparisonTask", "expand", "run_comparison_task"]


@dataclass(frozen=True, slots=True)
class ComparisonTask:
    """One comparison at one mapper budget and seed (``data_digest``: the published data's sha256)."""

    name: str
    budget: int
    seed: int
    data_digest: str


def expand(cfg: StudyConfig) -> list[tuple[str, ComparisonTask]]:
    """One task per comparison and seed."""
    body = cfg.body
    if not isinstance(body, CompareSpec):
        raise SpecError(Where(cfg.source), "internal: not a compare study")
    digest = body.data.digest if body.data is not None else ""
    return [(f"{name} [budget {body.budget}, seed {seed}]", ComparisonTask(name, body.budget, seed, digest))
            for name in body.comparisons for seed in cfg.seeds]


def _figure_row(base: dict[str, Any], scope: str, network: str, layer: str, f: Any) -> dict[str, Any]:
    return {**base, "scope": scope, "network": network, "layer": layer, "figure": f.key, "label": f.label,
            "unit": f.unit, "published": f.published, "modelled": f.modelled, "rel_error": f.rel_error,
            "far": f.far, "source": f.source, "why": f.why}


def run_comparison_task(t: ComparisonTask, ctx: TaskContext) -> TaskResult:
    """Run the comparison; rows per figure, a ``layers`` table, and the assumptions and sources as notes."""
    from tnx_timeloop.mapper import search_mappings
    from tnx_timeloop.study.compare import run_comparison

    searcher = functools.partial(search_mappings, cache=ctx.open_cache())
    r = run_comparison(t.name, budget=t.budget, seed=t.seed, searcher=searcher)
    base = {"comparison": t.name, "arch": r.arch, "budget": t.budget, "seed": t.seed}
    rows = [_figure_row(base, "architecture", "", "", f) for f in r.arch_figures]
    layers = []
    for run in r.runs:
        rows.extend(_figure_row(base, "network", run.network, "", f) for f in run.figures)
        for layer in run.layers:
            rows.extend(_figure_row(base, "layer", run.network, layer.name, f) for f in layer.figures)
            layers.append({**base, "network": run.network, "layer": layer.name, "count": layer.count,
                           "macs": layer.macs, "cycles": layer.cycles, "latency_s": layer.latency_s,
                           "energy_pj": layer.energy_pj, "onchip_energy_pj": layer.onchip_energy_pj,
                           "dram_words": layer.dram_words, "active_pes": layer.active_pes,
                           "utilization": layer.utilization, "bound": layer.bound, "valid": layer.valid})
    settings = dict(r.settings)
    meta = {"title": r.title, "assumptions": list(r.assumptions), "sources": dict(r.sources),
            "energy": settings.get("energy"), "energy_detail": settings.get("energy_detail"),
            "objective": settings.get("objective"), "far_threshold": settings.get("far_threshold"),
            "clock_hz": r.clock_hz}
    return TaskResult(tuple(rows), (("layers", tuple(layers)),), meta)
