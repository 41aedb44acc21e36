"""``sweep`` and ``native-vs-timeloop`` studies: layers x architecture points x mapper settings x energy x seeds.

Each task is one grid point: one layer on one architecture (a template rendered with
one set of variables), mapped by the native mapper with one setting and seed, then
evaluated by each of the study's *evaluators*:

* ``native`` -- the native model's report of the best mapping;
* ``timeloop-model``, ``pytimeloop``, ``accelforge`` -- the same mapping evaluated by that tool;
* ``timeloop-mapper`` -- Timeloop's own search (``timeloop-mapper``) and model.

An evaluator whose tool is not installed gives a row with ``status = unavailable`` and
the reason (the report says so); a layer with no valid mapping gives ``status = error``.
Rows carry the totals (cycles, pJ, EDP, utilization, DRAM words) and the roofline
coordinates; the ``breakdown`` table has energy and accesses per storage level and
data-space (totals over instances, pJ and words).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tnx_timeloop.errors import SpecError, TnxError, Where
from tnx_timeloop.study.config import ArchRef, StudyConfig, SweepSpec, WorkloadRef
from tnx_timeloop.study.tasks import TaskContext, TaskResult

__all__ = ["SweepPoint", "expand", "run_point", "arch_points", "workload_layers", "report_row", "breakdown_rows"]


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """The parameters of one sweep task (parsed specs included: workers read no files).

    Attributes
    ----------
    workload, layer : str
        Workload label and layer name.
    count : int
        Times the layer runs per pass of its network.
    problem : Problem
    arch_label : str
    variables : tuple of (str, Any)
        Template variables of this architecture point.
    arch : Architecture
    constraints : tuple
        Raw constraint sources for the mapper (``(file, (key, data))``).
    objective, algorithm, energy : str
    budget, seed : int
    victory : int or None
    pad : bool
    evaluators : tuple of str
    clock_hz : float or None
    """

    workload: str
    layer: str
    count: int
    problem: Any
    arch_label: str
    variables: tuple[tuple[str, Any], ...]
    arch: Any
    constraints: tuple[Any, ...]
    objective: str
    budget: int
    algorithm: str
    victory: int | None
    pad: bool
    energy: str
    seed: int
    evaluators: tuple[str, ...]
    clock_hz: float | None


# ---------------------------------------------------------------------------
# expansion
# ---------------------------------------------------------------------------


def arch_points(ref: ArchRef, where: Where) -> list[tuple[tuple[tuple[str, Any], ...], Any, tuple[Any, ...]]]:
    """Every point of an architecture entry: ``(variables, Architecture, constraint sources)``.

    Raises
    ------
    SpecError
        When the architecture or a constraints file cannot be parsed (located in those files).
    """
    from tnx_timeloop.spec.arch import parse_architecture
    from tnx_timeloop.spec.yaml_io import load_yaml_file

    constraints: list[Any] = []
    for c in ref.constraints:
        doc = load_yaml_file(c.path)
        found = False
        for key in ("architecture_constraints", "mapspace_constraints", "constraints", "mapspace"):
            if isinstance(doc, Mapping) and key in doc:
                constraints.append((str(c.path), (key, doc[key])))
                found = True
        if not found:
            raise SpecError(where / "constraints", f"{c.path} holds no architecture_constraints or mapspace_constraints")
    names = [k for k, _ in ref.grid]
    out = []
    for values in itertools.product(*[v for _, v in ref.grid]):
        variables = (*ref.fixed, *zip(names, values, strict=True))
        doc = load_yaml_file(ref.file.path, variables=dict(variables))
        if not isinstance(doc, Mapping) or "architecture" not in doc:
            raise SpecError(Where(ref.file.path), "expected a top-level 'architecture' key (a single-core architecture)")
        arch = parse_architecture(doc["architecture"], where=Where(ref.file.path, ("architecture",)))
        out.append((tuple(variables), arch, tuple(constraints)))
    return out


def workload_layers(ref: WorkloadRef, where: Where) -> list[tuple[str, int, Any]]:
    """``(layer name, count, Problem)`` of a layer file or a network (``layers`` filter applied).

    Raises
    ------
    SpecError
        For an unreadable file, or a ``layers`` name the network does not have.
    """
    from tnx_timeloop.library import load_network, with_batch
    from tnx_timeloop.spec.problem import parse_problem
    from tnx_timeloop.spec.yaml_io import load_yaml_file

    path = ref.file.path
    is_network = path.is_dir()
    doc = None
    if not is_network:
        doc = load_yaml_file(path)
        is_network = isinstance(doc, Mapping) and "network" in doc
    if is_network:
        net = load_network(path, batch=ref.batch)
        layers = [(x.name, x.count, x.problem) for x in net.layers]
    else:
        if not isinstance(doc, Mapping) or "problem" not in doc:
            raise SpecError(Where(path), "expected a top-level 'problem' (a layer) or 'network' key")
        prob = parse_problem(doc["problem"], where=Where(path, ("problem",)))
        if ref.batch is not None:
            prob = with_batch(prob, ref.batch, where / "batch")
        layers = [(path.stem, 1, prob)]
    if ref.layers:
        names = [n for n, _, _ in layers]
        unknown = [n for n in ref.layers if n not in names]
        if unknown:
            raise SpecError(where / "layers", f"unknown layer(s) {unknown}; {ref.label} has {names}")
        layers = [x for x in layers if x[0] in ref.layers]
    return layers


def expand(cfg: StudyConfig) -> list[tuple[str, SweepPoint]]:
    """The tasks of a sweep, in order: workload, layer, architecture point, mapper setting, energy, seed."""
    from tnx_timeloop.library import clock_hz_of

    body = cfg.body
    if not isinstance(body, SweepSpec):
        raise SpecError(Where(cfg.source), "internal: not a sweep")
    src = Where(cfg.source)
    layers = [(w, workload_layers(w, src / "workloads" / i)) for i, w in enumerate(body.workloads)]
    archs = [(a, arch_points(a, src / "architectures" / i)) for i, a in enumerate(body.architectures)]
    m = body.mapper
    out: list[tuple[str, SweepPoint]] = []
    for w, wl in layers:
        for layer, count, problem in wl:
            for a, points in archs:
                for variables, arch, cons in points:
                    for objective, budget, algorithm, energy, seed in itertools.product(
                            m.objectives, m.budgets, m.algorithms, body.energies, cfg.seeds):
                        point = SweepPoint(
                            workload=w.label, layer=layer, count=count, problem=problem, arch_label=a.label,
                            variables=variables, arch=arch, constraints=cons, objective=objective, budget=budget,
                            algorithm=algorithm, victory=m.victory, pad=m.pad, energy=energy, seed=seed,
                            evaluators=body.evaluators, clock_hz=clock_hz_of(arch))
                        vars_text = " ".join(f"{k}={v}" for k, v in variables)
                        label = f"{w.label}/{layer} @ {a.label}{' ' + vars_text if vars_text else ''} " \
                                f"[{objective}, {budget}, {energy}, seed {seed}]"
                        out.append((label, point))
    return out


# ---------------------------------------------------------------------------
# running one point
# ---------------------------------------------------------------------------


def _base_row(p: SweepPoint) -> dict[str, Any]:
    row: dict[str, Any] = {"workload": p.workload, "layer": p.layer, "count": p.count, "arch": p.arch_label}
    for k, v in p.variables:
        row[f"arch.{k}"] = v
    row.update({"objective": p.objective, "budget": p.budget, "algorithm": p.algorithm, "energy": p.energy,
                "seed": p.seed})
    return row


def report_row(report: Any, arch: Any, clock_hz: float | None) -> dict[str, Any]:
    """Totals of mapping 0 of a report: cycles, pJ, EDP, utilization, DRAM words and roofline coordinates."""
    import numpy as np

    util0 = report.utilized_instances[0, 0]
    dram_words = float(((report.reads[0, 0] + report.fills[0, 0] + report.updates[0, 0]) * util0).sum())
    cycles = int(report.cycles[0])
    energy = float(report.energy_pj[0])
    level_cycles = report.level_cycles[0]
    compute_cycles = int(report.compute_cycles[0])
    lv = int(np.argmax(level_cycles)) if len(level_cycles) else 0
    bound = "compute" if compute_cycles >= int(level_cycles[lv]) else report.level_names[lv]
    top = arch.storage[0]
    bws = [b for b in (top.read_bandwidth, top.write_bandwidth) if b is not None]
    bw = sum(bws) if bws else None  # read + write: dram_words counts reads, fills and updates
    macs = int(report.macs)
    return {
        "valid": bool(report.valid[0]),
        "cycles": cycles,
        "energy_pj": energy,
        "edp": energy * cycles,
        "utilization": float(report.utilization[0]),
        "macs": macs,
        "latency_s": None if not clock_hz else cycles / clock_hz,
        "compute_energy_pj": float(report.compute_energy_pj[0]),
        "dram_energy_pj": float(report.energy_by_level_pj[0, 0]),
        "dram_words": dram_words,
        "bound": bound,
        "macs_per_cycle": macs / cycles if cycles else None,
        "macs_per_dram_word": macs / dram_words if dram_words else None,
        "peak_macs_per_cycle": int(report.compute_instances),
        "dram_words_per_cycle": None if bw is None else float(bw),
        "energy_source": report.energy_source,
    }


def breakdown_rows(report: Any) -> list[dict[str, Any]]:
    """Energy (pJ), accesses (words, totals over instances) and the level's cycles per level and data-space, then compute."""
    out = []
    for lv, level in enumerate(report.level_names):
        util = float(report.utilized_instances[0, lv])
        for t, ds in enumerate(report.dataspace_names):
            out.append({"level": level, "dataspace": ds, "level_cycles": int(report.level_cycles[0, lv]),
                        "energy_pj": float(report.energy_by_dataspace_pj[0, lv, t]),
                        "reads": float(report.reads[0, lv, t] * util), "fills": float(report.fills[0, lv, t] * util),
                        "updates": float(report.updates[0, lv, t] * util),
                        "tile_words": int(report.tile_words[0, lv, t])})
    out.append({"level": report.compute_name, "dataspace": "compute", "level_cycles": int(report.compute_cycles[0]),
                "energy_pj": float(report.compute_energy_pj[0]), "reads": None, "fills": None, "updates": None,
                "tile_words": None})
    return out


def run_point(p: SweepPoint, ctx: TaskContext) -> TaskResult:
    """Map the layer with the native mapper, then evaluate the best mapping with every evaluator."""
    from tnx_timeloop.energy.tables import select_energy
    from tnx_timeloop.mapper import search_mappings
    from tnx_timeloop.spec.mapping import mapping_to_list
    from tnx_timeloop.spec.yaml_io import dump_yaml

    base = _base_row(p)
    rows: list[dict[str, Any]] = []
    breakdown: list[dict[str, Any]] = []
    artifacts: list[tuple[str, str]] = []
    meta: dict[str, Any] = {"unavailable": {}}
    try:
        energy = select_energy(p.arch, p.energy, None)
    except TnxError as err:
        for ev in p.evaluators:
            rows.append({**base, "evaluator": ev, "status": "error", "reason": str(err)})
        return TaskResult(tuple(rows), (("breakdown", ()),), meta)
    result = None
    search_error = ""
    if any(ev != "timeloop-mapper" for ev in p.evaluators):
        try:
            result = search_mappings(p.arch, p.problem, p.constraints, objective=p.objective, budget=p.budget,
                                     seed=p.seed, algorithm=p.algorithm, energy=energy, victory=p.victory, jobs=1,
                                     cache=ctx.open_cache(), pad=p.pad)
            if result.best_mapping is None:
                search_error = "the mapper found no valid mapping"
        except TnxError as err:
            search_error = str(err)
    problem = (result.problem if result is not None and result.problem is not None else p.problem)
    if result is not None and result.best_mapping is not None:
        artifacts.append(("mapping.yaml", dump_yaml({"mapping": mapping_to_list(result.best_mapping, p.arch)})))
    for ev in p.evaluators:
        row = {**base, "evaluator": ev}
        try:
            report, extra = _evaluate(ev, p, problem, result, energy, search_error)
        except TnxError as err:
            status = "unavailable" if "not available" in str(err) or "not on PATH" in str(err) else "error"
            if status == "unavailable":
                meta["unavailable"][ev] = str(err)
            rows.append({**row, "status": status, "reason": str(err).splitlines()[0]})
            continue
        rows.append({**row, "status": "ok", "reason": "", **report_row(report, p.arch, p.clock_hz), **extra})
        breakdown.extend({**base, "evaluator": ev, **b} for b in breakdown_rows(report))
    return TaskResult(tuple(rows), (("breakdown", tuple(breakdown)),), meta, tuple(artifacts))


def _evaluate(ev: str, p: SweepPoint, problem: Any, result: Any, energy: Any, search_error: str) -> tuple[Any, dict]:
    from tnx_timeloop.backends import get_backend
    from tnx_timeloop.errors import SearchError

    if ev == "timeloop-mapper":
        from tnx_timeloop.backends.timeloop_cli import TimeloopBackend

        backend = TimeloopBackend()
        if not backend.available():
            from tnx_timeloop.errors import BackendError

            raise BackendError(f"backend 'timeloop' is not available here: {backend.why_unavailable()}")
        _, report = backend.search(p.arch, p.problem, p.constraints, energy=energy)
        return report, {"mapper_evaluated": None, "mapper_optimal": None}
    backend = None if ev == "native" else get_backend({"timeloop-model": "timeloop"}.get(ev, ev))  # availability first
    if result is None or result.best_mapping is None:
        raise SearchError(search_error or "no mapping")
    extra = {"mapper_evaluated": int(result.evaluated), "mapper_optimal": bool(result.optimal),
             "padding": " ".join(f"{d}:{a}->{b}" for d, (a, b) in sorted(result.padding.items()))}
    if backend is None:
        return result.best_report, extra
    return backend.evaluate(p.arch, problem, result.best_mapping, energy=energy), extra

