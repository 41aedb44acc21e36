"""The ``accelforge`` backend: AccelForge 1.0.467 as a second opinion, in its own Python >= 3.12.

AccelForge needs Python >= 3.12 and installs packages that clash with ours, so it runs in its
own interpreter through :mod:`tnx_timeloop.backends._accelforge_worker` (JSON on stdin, one
JSON line on stdout). The interpreter is, in order: ``$TNX_ACCELFORGE_PYTHON``,
``/work/venvs/af312/bin/python``, ``python3.12`` on ``PATH`` — the first that can import
``accelforge`` (see docs/accelforge.md for the install).

The problem becomes one einsum and the architecture a chain of ``Memory`` nodes and a
``Compute`` node with the caller's energies (:mod:`~tnx_timeloop.backends.accelforge_translate`);
a fixed mapping becomes an AccelForge mapping tree
(:func:`~tnx_timeloop.backends._accelforge_mapping.mapping_to_tree`).

What the :class:`Report` holds, and how far it is AccelForge's own figure:

* ``cycles`` (latency x clock), ``energy_pj`` and ``energy_by_dataspace_pj`` (per memory and
  tensor), ``compute_energy_pj``: AccelForge's. Energies per word are the caller's
  per-vector energies divided by ``block_size x cluster_size`` (AccelForge charges every word
  access, Timeloop one per block and cluster), so they differ from Timeloop's by rounding
  up partial blocks; the write energy is the fill energy (AccelForge has one write action).
* ``reads``: AccelForge's reads / utilized instances. ``fills`` and ``updates``: its writes /
  utilized instances, all counted as ``updates`` for the output tensor and as ``fills`` for
  the others (AccelForge does not separate partial-sum reloads from updates).
* ``level_cycles``/``compute_cycles``: AccelForge's per-component latency (0 for a memory of
  unlimited bandwidth, not Timeloop's max with the compute cycles).
* ``tile_words``, ``partition_words``, ``utilized_instances``, ``spatial_x``/``spatial_y``,
  ``compute_utilized_instances``: derived from the mapping tree (exact for the mapping).
* ``valid`` True, ``violations`` zero: AccelForge accepted the mapping; it knows no
  multiple buffering (capacities passed are Timeloop's effective sizes) and no minimum
  utilization.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tnx_timeloop._external import PythonFinding, find_python, run_tool, tail
from tnx_timeloop.backends import accelforge_translate as translate
from tnx_timeloop.backends._accelforge_mapping import mapping_to_tree, tree_facts, tree_to_mapping
from tnx_timeloop.energy.tables import ArchEnergy
from tnx_timeloop.errors import BackendError, MappingError, SpecError
from tnx_timeloop.model.report import Report
from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.mapping import Mapping
from tnx_timeloop.spec.problem import Problem, problem_to_dict

__all__ = ["AccelForgeBackend", "AccelForgeRun", "ENV_VAR", "WORKER", "find_accelforge_python"]

ENV_VAR = "TNX_ACCELFORGE_PYTHON"
"""Environment variable naming the AccelForge interpreter."""

WORKER = Path(__file__).with_name("_accelforge_worker.py")
"""The worker script, run by file path in the AccelForge interpreter."""

CANDIDATES: tuple[str, ...] = (
    "/work/venvs/af312/bin/python",
    "python3.12",
    "/root/.pyenv/versions/3.12.1/bin/python3.12",
)


def find_accelforge_python() -> PythonFinding:
    """The interpreter that runs AccelForge (``$TNX_ACCELFORGE_PYTHON``, the venv, ``python3.12``)."""
    return find_python("accelforge", env_vars=(ENV_VAR,), candidates=CANDIDATES)


@dataclass(frozen=True, slots=True)
class AccelForgeRun:
    """One worker run: the Report and AccelForge's raw view of it.

    Attributes
    ----------
    report : Report
        In our units and names (see the module notes for what is approximate).
    mapping : Mapping or None
        The mapping as ours, or None when Timeloop cannot express AccelForge's tree.
    mapping_note : str
        Why ``mapping`` is None ('' otherwise).
    tree : dict
        AccelForge's mapping tree (``{"nodes": [...]}``).
    seconds : dict of str to float
        The worker's timings (``load``, ``map``/``evaluate``, ``total``).
    raw : dict
        The worker's JSON result.
    """

    report: Report
    mapping: Mapping | None
    mapping_note: str
    tree: dict[str, Any]
    seconds: dict[str, float]
    raw: dict[str, Any]


class AccelForgeBackend:
    """Evaluate and search with AccelForge (FFM mapper) through its worker process.

    Parameters
    ----------
    python : str, optional
        Interpreter with AccelForge; default: :func:`find_accelforge_python`.
    timeout_s : float
        Seconds before a worker run is killed (a conv search takes 10-60 s here).
    clock_hz : float
        Clock used for throughputs; cycles do not depend on it.
    options : mapping, optional
        Default worker ``options`` (``objective``, ``ffm``, ``n_jobs``, ``max_mappings``).
    keep_workdir : bool
        Keep the worker's YAML inputs even after a successful run.
    """

    name = "accelforge"

    def __init__(
        self,
        *,
        python: str | None = None,
        timeout_s: float = 1800.0,
        clock_hz: float = 1e9,
        options: MappingABC[str, Any] | None = None,
        keep_workdir: bool = False,
    ) -> None:
        self._python = python
        self.timeout_s = timeout_s
        self.clock_hz = clock_hz
        self.options = dict(options or {})
        self.keep_workdir = keep_workdir

    # -- availability ------------------------------------------------------------
    def _finding(self) -> PythonFinding:
        if self._python is not None:
            return find_python("accelforge", env_vars=(), candidates=(self._python,))
        return find_accelforge_python()

    def available(self) -> bool:
        """Whether an interpreter with AccelForge was found."""
        return self._finding().python is not None

    def why_unavailable(self) -> str:
        """What is missing and how to install it ('' if available)."""
        finding = self._finding()
        if finding.python:
            return ""
        return (
            f"AccelForge needs its own Python >= 3.12 environment ({finding.why}). Install with: "
            "python3.12 -m venv /work/venvs/af312 && /work/venvs/af312/bin/pip install accelforge==1.0.467 "
            f"(then rebuild CACTI, see docs/accelforge.md), or set {ENV_VAR}"
        )

    def python(self) -> str:
        """The interpreter path; raises BackendError when there is none."""
        finding = self._finding()
        if finding.python is None:
            raise BackendError(f"backend 'accelforge' is not available: {self.why_unavailable()}")
        return finding.python

    # -- translation ---------------------------------------------------------------
    def translate(
        self, arch: Architecture, problem: Problem, energy: ArchEnergy
    ) -> tuple[translate.WorkloadTranslation, translate.ArchTranslation]:
        """AccelForge workload and arch documents for our specs and energies.

        ``inter_*_spatial`` levels are dropped (their fan-out goes to the next level); sizes
        are Timeloop's effective sizes; bits per value are the outermost level's word bits.

        Raises
        ------
        SpecError
            When the problem or architecture cannot be expressed (see docs/accelforge.md).
        """
        workload = translate.translate_problem(
            problem_to_dict(problem), bits_per_value=arch.storage[0].word_bits, einsum_name=None
        )
        levels: list[dict[str, Any]] = []
        for s, e in zip(arch.storage, energy.storage, strict=True):
            if s.is_dummy:
                continue
            words = s.block_size * s.cluster_size
            level: dict[str, Any] = {
                "name": s.name,
                "class": "DRAM" if s.is_dram else "SRAM",
                "word_bits": s.word_bits,
                "instances": s.instances,
                "meshX": s.mesh_x,
                "energy_pj": {"read": e.read_pj / words, "write": e.fill_pj / words},
                "area_um2": e.area_um2 or 0.0,
            }
            if s.effective_size_words is not None:
                level["size_words"] = s.effective_size_words
            if s.read_bandwidth is not None:
                level["read_bandwidth"] = s.read_bandwidth
            if s.write_bandwidth is not None:
                level["write_bandwidth"] = s.write_bandwidth
            levels.append(level)
        c = arch.compute
        levels.append({
            "name": c.name,
            "class": "intmac",
            "word_bits": c.word_bits,
            "instances": c.instances,
            "meshX": c.mesh_x,
            "energy_pj": {"compute": energy.compute_pj},
            "area_um2": energy.compute_area_um2 or 0.0,
        })
        arch_t = translate.translate_arch(levels, clock_hz=self.clock_hz, tensor_names=workload.tensor_names)
        return workload, arch_t

    # -- worker ------------------------------------------------------------------------
    def run_worker(self, request: MappingABC[str, Any]) -> dict[str, Any]:
        """Send one request to the worker; its JSON result (``ok`` is True).

        Raises
        ------
        BackendError
            When the interpreter is missing, the worker crashes, times out, prints no JSON
            or reports an error (its message, hint and traceback tail are included).
        """
        python = self.python()
        workdir = Path(tempfile.mkdtemp(prefix="tnx_accelforge_"))
        body = dict(request)
        body["workdir"] = str(workdir / "accelforge")
        argv = [python, str(WORKER)]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        proc = run_tool(
            argv, cwd=workdir, timeout_s=self.timeout_s, input_text=json.dumps(body), env=env, what="AccelForge worker"
        )
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        try:
            result = json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError:
            result = None
        if not isinstance(result, dict):
            (workdir / "worker.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
            raise BackendError(
                "the AccelForge worker printed no JSON result",
                command=" ".join(argv),
                returncode=proc.returncode,
                log_tail=tail(proc.stderr) or tail(proc.stdout),
                workdir=str(workdir),
            )
        if not result.get("ok"):
            (workdir / "worker.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
            message = str(result.get("message", "unknown error"))
            hint = str(result.get("hint") or "")
            raise BackendError(
                f"AccelForge failed: {result.get('error_type', 'Error')}: {message}" + (f"\nhint: {hint}" if hint else ""),
                command=" ".join(argv),
                returncode=proc.returncode,
                log_tail=tail(str(result.get("traceback", ""))) or tail(proc.stderr),
                workdir=str(workdir),
            )
        if not self.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        return result

    def probe(self) -> dict[str, Any]:
        """Versions, Graphviz and CACTI status of the AccelForge environment (the worker's probe)."""
        return self.run_worker({"mode": "probe"})

    # -- the protocol ------------------------------------------------------------------------
    def evaluate(
        self, arch: Architecture, problem: Problem, mapping: Mapping, *, energy: ArchEnergy, method: str = "batch"
    ) -> Report:
        """Evaluate ``mapping`` with AccelForge's model; a one-mapping :class:`Report`.

        ``method`` is accepted for protocol compatibility and ignored.

        Raises
        ------
        BackendError
            When AccelForge is unavailable or fails, or the mapping cannot be translated
            (imperfect factors, unsupported problem).
        """
        del method
        return self.evaluate_run(arch, problem, mapping, energy=energy).report

    def evaluate_run(self, arch: Architecture, problem: Problem, mapping: Mapping, *, energy: ArchEnergy) -> AccelForgeRun:
        """:meth:`evaluate`, keeping AccelForge's raw result and timings."""
        workload, arch_t = self._translate(arch, problem, energy)
        try:
            tree = mapping_to_tree(
                mapping, arch, problem, rank_variables=workload.rank_variables,
                tensor_names=workload.tensor_names, einsum=workload.einsum_name,
            )
        except MappingError as err:
            raise BackendError(f"backend 'accelforge': {err}") from err
        request = {"mode": "evaluate", "arch": arch_t.arch, "workload": workload.workload, "mapping": tree,
                   "options": self._options(None)}
        raw = self.run_worker(request)
        return self._run_result(raw, arch, problem, energy, workload, tree, mapping)

    def search(
        self,
        arch: Architecture,
        problem: Problem,
        constraints: Sequence[tuple[str, Any]] = (),
        mapper_config: MappingABC[str, Any] | None = None,
        *,
        energy: ArchEnergy,
    ) -> tuple[Mapping | None, Report]:
        """Map with AccelForge's FFM mapper; its best mapping (ours, or None) and report.

        Parameters
        ----------
        arch, problem : Architecture, Problem
            The specs.
        constraints : sequence
            Must be empty: AccelForge's mapper takes no Timeloop constraints.
        mapper_config : mapping, optional
            Worker options: ``objective`` (``"energy"``, ``"latency"``, ``"edp"`` or a list
            for a Pareto set), ``ffm`` (FFM fields such as ``explore_loop_orders``),
            ``n_jobs``; merged over the backend's ``options``.
        energy : ArchEnergy
            Energies given to AccelForge.

        Returns
        -------
        mapping : Mapping or None
            AccelForge's mapping as ours; None when it places the tensors of one memory
            at different loop depths (see :meth:`search_run` for the reason and the tree).
        report : Report

        Raises
        ------
        BackendError
            When AccelForge is unavailable, fails or finds no mapping, or constraints are given.
        """
        run = self.search_run(arch, problem, constraints, mapper_config, energy=energy)
        return run.mapping, run.report

    def search_run(
        self,
        arch: Architecture,
        problem: Problem,
        constraints: Sequence[tuple[str, Any]] = (),
        mapper_config: MappingABC[str, Any] | None = None,
        *,
        energy: ArchEnergy,
    ) -> AccelForgeRun:
        """:meth:`search`, keeping the tree, the raw result and timings."""
        if constraints or arch.constraints:
            raise BackendError(
                "backend 'accelforge' takes no Timeloop mapspace constraints (its FFM mapper has its own); "
                "drop the constraints or search with backend 'timeloop' or the native mapper"
            )
        workload, arch_t = self._translate(arch, problem, energy)
        request = {"mode": "map", "arch": arch_t.arch, "workload": workload.workload,
                   "options": self._options(mapper_config)}
        raw = self.run_worker(request)
        return self._run_result(raw, arch, problem, energy, workload, None, None)

    # -- helpers ---------------------------------------------------------------------------------
    def _translate(
        self, arch: Architecture, problem: Problem, energy: ArchEnergy
    ) -> tuple[translate.WorkloadTranslation, translate.ArchTranslation]:
        try:
            return self.translate(arch, problem, energy)
        except SpecError as err:
            raise BackendError(f"backend 'accelforge' cannot express these specs: {err}") from err

    def _options(self, extra: MappingABC[str, Any] | None) -> dict[str, Any]:
        options = dict(self.options)
        if extra:
            for key, value in extra.items():
                if key == "ffm" and isinstance(value, MappingABC):
                    options["ffm"] = {**options.get("ffm", {}), **value}
                else:
                    options[key] = value
        return options

    def _run_result(
        self,
        raw: dict[str, Any],
        arch: Architecture,
        problem: Problem,
        energy: ArchEnergy,
        workload: translate.WorkloadTranslation,
        tree: dict[str, Any] | None,
        mapping: Mapping | None,
    ) -> AccelForgeRun:
        mappings = raw.get("mappings") or []
        if not mappings:
            raise BackendError("AccelForge returned no mapping")
        tree = tree if tree is not None else mappings[0].get("mapping") or {}
        if "error" in tree:
            raise BackendError(f"AccelForge's mapping could not be serialised: {tree['error']}")
        note = ""
        if mapping is None:
            mapping, note = tree_to_mapping(
                tree, arch, problem, rank_variables=workload.rank_variables, tensor_names=workload.tensor_names
            )
        report = self._report(raw, arch, problem, energy, workload, tree)
        seconds = {k: float(v) for k, v in (raw.get("seconds") or {}).items()}
        return AccelForgeRun(report, mapping, note, tree, seconds, raw)

    def _report(
        self,
        raw: dict[str, Any],
        arch: Architecture,
        problem: Problem,
        energy: ArchEnergy,
        workload: translate.WorkloadTranslation,
        tree: MappingABC[str, Any],
    ) -> Report:
        figures = translate.figures_from_result(raw, clock_hz=self.clock_hz, tensor_names=workload.tensor_names)
        facts = tree_facts(
            tree, arch, problem, rank_variables=workload.rank_variables, tensor_names=workload.tensor_names
        )
        L, T = len(arch.storage), len(problem.dataspaces)
        names = arch.level_names
        outputs = {ds.name for ds in problem.dataspaces if ds.read_write}
        reads, fills, updates = np.zeros((1, L, T)), np.zeros((1, L, T)), np.zeros((1, L, T))
        by_ds = np.zeros((1, L, T))
        for lv, name in enumerate(names):
            util = max(1, int(facts.utilized_instances[lv]))
            for t, ds in enumerate(problem.dataspace_names):
                acts = figures.accesses_words.get(name, {}).get(ds, {})
                reads[0, lv, t] = acts.get("read", 0.0) / util
                target = updates if ds in outputs else fills
                target[0, lv, t] = acts.get("write", 0.0) / util
        back = {v: k for k, v in workload.tensor_names.items()}
        compute_pj = 0.0
        for row in raw["mappings"][0]["energy"]:
            pj = float(row["energy_j"]) * 1e12
            comp, tensor = row["component"], row.get("tensor")
            if comp == arch.compute.name:
                compute_pj += pj
            elif comp in names and tensor not in (None, "None"):
                by_ds[0, names.index(comp), problem.dataspace_names.index(back.get(tensor, tensor))] += pj
        level_cycles = np.array(
            [[round(figures.latency_by_component_cycles.get(n, 0.0)) for n in names]], dtype=np.int64
        )
        capacity = np.array(
            [s.effective_size_words if s.effective_size_words is not None else -1 for s in arch.storage], dtype=np.int64
        )
        fanout = [arch.fanout_xy(i) for i in range(L)]
        compute_cycles = figures.latency_by_component_cycles.get(arch.compute.name, float(facts.temporal_iterations))
        if figures.macs != problem.macs:
            raise BackendError(f"AccelForge computed {figures.macs} MACs, the problem has {problem.macs}")
        return Report(
            level_names=names,
            dataspace_names=problem.dataspace_names,
            compute_name=arch.compute.name,
            instances=tuple(s.instances for s in arch.storage),
            compute_instances=arch.compute.instances,
            macs=problem.macs,
            valid=np.ones(1, dtype=bool),
            violations=np.zeros((1, L), dtype=np.uint8),
            cycles=np.array([figures.latency_cycles], dtype=np.int64),
            compute_cycles=np.array([round(compute_cycles)], dtype=np.int64),
            energy_pj=np.array([figures.energy_pj]),
            reads=reads,
            fills=fills,
            updates=updates,
            tile_words=facts.tile_words[None],
            partition_words=facts.partition_words[None],
            utilized_instances=facts.utilized_instances[None],
            level_cycles=level_cycles,
            energy_by_dataspace_pj=by_ds,
            compute_energy_pj=np.array([compute_pj]),
            compute_utilized_instances=np.array([facts.compute_utilized], dtype=np.int64),
            capacity_words=capacity,
            fanout_x=np.array([f[0] for f in fanout], dtype=np.int64),
            fanout_y=np.array([f[1] for f in fanout], dtype=np.int64),
            min_utilization=np.array([s.min_utilization for s in arch.storage]),
            spatial_x=facts.spatial_x[None],
            spatial_y=facts.spatial_y[None],
            energy_source=f"{energy.describe()} via AccelForge {raw.get('versions', {}).get('accelforge', '?')} (per word)",
        )

