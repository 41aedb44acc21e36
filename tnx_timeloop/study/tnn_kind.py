"""``tnn-dse`` studies: the joint path x mapping x hardware search, tensorized model versus its dense baseline.

One task per model, mode (inference or training) and seed runs
:func:`tnx_timeloop.search.joint.compare_dense` on the hardware template's grid under
the resource limits. Rows: every configuration the branch and bound evaluated, for the
tensorized model (``variant = tensorized``), for the dense baseline (``dense``) and the
dense model on the tensorized model's best configuration (``dense-on-tensorized-config``),
with the template variables as ``hw.NAME`` columns and ``best`` marking each winner.
The ``layers`` table gives each layer's path, engines, cycles and energy on the best
configurations.

Tasks read the model and template files by path (a Dask cluster needs them at the same
place on every worker).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.study.config import StudyConfig, TnnSpec
from tnx_timeloop.study.tasks import TaskContext, TaskResult

__all__ = ["TnnTask", "expand", "run_tnn_task"]


@dataclass(frozen=True, slots=True)
class TnnTask:
    """Parameters of one joint-search comparison (file digests make the key follow file contents)."""

    model: str
    model_path: str
    model_digest: str
    variables: tuple[tuple[str, Any], ...]
    dense_path: str | None
    dense_digest: str | None
    layers: tuple[str, ...]
    mode: str
    seed: int
    template: str
    template_digest: str
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    fixed: tuple[tuple[str, Any], ...]
    engines: tuple[str, ...]
    energy: str
    max_pes: int | None
    max_on_chip_kib: float | None
    max_area_mm2: float | None
    objective: str
    method: str
    mapper_budget: int
    tolerance: float
    exhaustive: bool
    max_configs: int | None
    jobs: int
    restarts: int = 3


def _check_model(m: Any, where: Where) -> None:
    """Load the model (and its dense file, layers) once, so a bad file fails before the run starts."""
    from tnx_timeloop.frontends.tnmodel import load_tn_model

    model = load_tn_model(m.file.path, dict(m.variables))
    names = [x.name for x in model.layers]
    unknown = [n for n in m.layers if n not in names]
    if unknown:
        raise SpecError(where / "layers", f"unknown layer(s) {unknown}; {m.label} has {names}")
    if m.dense is not None:
        load_tn_model(m.dense.path, dict(m.variables))


def expand(cfg: StudyConfig) -> list[tuple[str, TnnTask]]:
    """One task per model, mode and seed."""
    b = cfg.body
    if not isinstance(b, TnnSpec):
        raise SpecError(Where(cfg.source), "internal: not a tnn-dse study")
    out = []
    for i, m in enumerate(b.models):
        _check_model(m, Where(cfg.source, ("models", i)))
        for mode in b.modes:
            for seed in cfg.seeds:
                t = TnnTask(
                    model=m.label, model_path=str(m.file.path), model_digest=m.file.digest, variables=m.variables,
                    dense_path=None if m.dense is None else str(m.dense.path),
                    dense_digest=None if m.dense is None else m.dense.digest, layers=m.layers, mode=mode, seed=seed,
                    template=str(b.template.path), template_digest=b.template.digest, grid=b.grid, fixed=b.fixed,
                    engines=b.engines, energy=b.energy, max_pes=b.max_pes, max_on_chip_kib=b.max_on_chip_kib,
                    max_area_mm2=b.max_area_mm2, objective=b.objective, method=b.method,
                    mapper_budget=b.mapper_budget, tolerance=b.tolerance, exhaustive=b.exhaustive,
                    max_configs=b.max_configs, jobs=b.jobs, restarts=b.restarts)
                out.append((f"{m.label} {mode} [seed {seed}]", t))
    return out


def _load(path: str, variables: tuple[tuple[str, Any], ...], layers: tuple[str, ...]) -> Any:
    from tnx_timeloop.frontends.tnmodel import TnModel, load_tn_model

    model = load_tn_model(path, dict(variables))
    if layers:
        model = TnModel(model.name, tuple(model.layer(n) for n in layers), model.source)
    return model


def _config_rows(base: dict[str, Any], variant: str, results: Any, best: Any) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        c = r.config
        row = {**base, "variant": variant}
        for k, v in c.variables:
            row[f"hw.{k}"] = v
        row.update({"pes": c.pes, "on_chip_kib": c.on_chip_kib, "area_mm2": c.area_mm2, "cycles": int(r.cycles),
                    "energy_pj": float(r.energy_pj), "edp": float(r.cycles) * float(r.energy_pj),
                    "latency_s": r.latency_s, "lower_bound_cycles": float(r.lower_bound[0]),
                    "lower_bound_energy_pj": float(r.lower_bound[1]), "best": r.config == best.config})
        rows.append(row)
    return rows


def _layer_rows(base: dict[str, Any], variant: str, r: Any) -> list[dict[str, Any]]:
    out = []
    for x in r.layers:
        p = x.path
        out.append({**base, "variant": variant, "config": r.config.label(), "layer": x.name, "count": x.count,
                    "cycles": int(p.cycles), "energy_pj": float(p.energy_pj), "macs": int(p.macs),
                    "utilization": float(p.utilization), "share": x.count * p.cycles / max(1, r.cycles),
                    "engines": ",".join(sorted({s.cost.engine for s in p.steps})), "steps": len(p.steps),
                    "path": str(p.tree)})
    return out


def run_tnn_task(t: TnnTask, ctx: TaskContext) -> TaskResult:
    """Run :func:`~tnx_timeloop.search.joint.compare_dense` for one model and mode."""
    from tnx_timeloop.search.joint import HardwareSpace, ResourceBudget, compare_dense

    model = _load(t.model_path, t.variables, t.layers)
    dense = _load(t.dense_path, t.variables, t.layers) if t.dense_path else None
    space = HardwareSpace(t.template, t.grid, t.fixed, t.engines, energy=t.energy)
    budget = ResourceBudget(t.max_pes, t.max_on_chip_kib, t.max_area_mm2)
    c = compare_dense(model, space, budget, dense=dense, objective=t.objective, mode=t.mode, method=t.method,
                      mapper_budget=t.mapper_budget, restarts=t.restarts, seed=t.seed, cache=ctx.open_cache(), jobs=t.jobs,
                      exhaustive=t.exhaustive, max_configs=t.max_configs, tolerance=t.tolerance)
    base = {"model": t.model, "mode": t.mode, "seed": t.seed, "objective": t.objective}
    rows = (_config_rows(base, "tensorized", c.tensorized.evaluated, c.tensorized.best)
            + _config_rows(base, "dense", c.dense.evaluated, c.dense.best)
            + _config_rows(base, "dense-on-tensorized-config", [c.dense_on_tensorized_config],
                           c.dense_on_tensorized_config))
    layers = (_layer_rows(base, "tensorized", c.tensorized.best) + _layer_rows(base, "dense", c.dense.best)
              + _layer_rows(base, "dense-on-tensorized-config", c.dense_on_tensorized_config))
    summary = {**base, "tensorized_model": c.tensorized.model, "dense_model": c.dense.model,
               "tensorized_cycles": int(c.tensorized.best.cycles), "dense_cycles": int(c.dense.best.cycles),
               "dense_on_tensorized_config_cycles": int(c.dense_on_tensorized_config.cycles),
               "speedup": c.speedup, "speedup_same_config": c.speedup_same_config, "energy_ratio": c.energy_ratio,
               "tensorized_parameters": c.tensorized.parameters, "dense_parameters": c.dense.parameters,
               "compression": c.compression, "tensorized_config": c.tensorized.best.config.label(),
               "dense_config": c.dense.best.config.label(), "candidates": c.tensorized.candidates,
               "tensorized_evaluated": len(c.tensorized.evaluated), "tensorized_pruned": c.tensorized.pruned,
               "dense_evaluated": len(c.dense.evaluated), "dense_pruned": c.dense.pruned,
               "budget": c.tensorized.budget.describe()}
    meta = {"notes": list(c.tensorized.notes) + list(c.dense.notes)}
    return TaskResult(tuple(rows), (("layers", tuple(layers)), ("summary", (summary,))), meta)
