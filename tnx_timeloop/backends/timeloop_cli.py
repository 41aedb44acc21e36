"""The ``timeloop`` backend: run the real ``timeloop-model`` / ``timeloop-mapper`` v3 and read their stats.

Each run gets its own temporary directory holding the inputs written by
:mod:`tnx_timeloop.backends.timeloop_io` (architecture, problem, mapping, and an ERT/ART with
the caller's energies), the tool's log and its ``*.stats.txt`` / ``*.map.txt``
(/``*.map.yaml``). The directory is removed after a successful run and kept on failure.

:func:`report_from_stats` turns a parsed ``stats.txt`` into the same :class:`Report` the
native model returns: every count, tile size, instance count and cycle figure is Timeloop's
own. Timeloop prints energies rounded to 0.01 pJ, so when the per-action energies it was
given are known the energies are recomputed exactly from its counts (with the model's
energy formula) and checked against every printed figure; a disagreement beyond the
printed precision is an error, never a silently different number.
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
import shutil
import tempfile
import time
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tnx_timeloop._external import run_tool, tail
from tnx_timeloop.backends.timeloop_io import (
    TimeloopNames,
    read_map_yaml,
    timeloop_names,
    write_timeloop_inputs,
)
from tnx_timeloop.backends.timeloop_stats import LevelStats, TimeloopStats, parse_stats_file
from tnx_timeloop.energy.tables import ArchEnergy, LevelEnergy
from tnx_timeloop.errors import BackendError, TnxError
from tnx_timeloop.model.physical import NestArrays, finish
from tnx_timeloop.model.report import Report
from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.mapping import Mapping
from tnx_timeloop.spec.problem import Problem

__all__ = ["TimeloopBackend", "report_from_stats", "ENERGY_TOLERANCE_PJ"]

log = logging.getLogger(__name__)

ENERGY_TOLERANCE_PJ = 0.005
"""Half the last printed decimal of Timeloop's pJ figures: the allowed print rounding."""


# --------------------------------------------------------------------------- stats -> Report


def _storage_stats(stats: TimeloopStats, arch: Architecture) -> list[LevelStats]:
    """Timeloop's storage levels in our order (outermost first), matched by name."""
    storage = {lv.name: lv for lv in stats.levels if lv.kind == "storage"}
    missing = [s.name for s in arch.storage if s.name not in storage]
    if missing or len(storage) != len(arch.storage):
        raise BackendError(
            f"{stats.source}: storage levels {sorted(storage)} do not match the architecture's "
            f"{list(arch.level_names)} (missing {missing})"
        )
    return [storage[s.name] for s in arch.storage]


def _arithmetic_stats(stats: TimeloopStats) -> LevelStats:
    found = [lv for lv in stats.levels if lv.kind == "arithmetic"]
    if len(found) != 1:
        raise BackendError(f"{stats.source}: expected one arithmetic level, found {len(found)}")
    return found[0]


def _zero_energy(arch: Architecture) -> ArchEnergy:
    return ArchEnergy(tuple(LevelEnergy(0.0, 0.0, 0.0) for _ in arch.storage), 0.0)


def report_from_stats(
    stats: TimeloopStats,
    arch: Architecture,
    problem: Problem,
    *,
    energy: ArchEnergy | None = None,
    names: TimeloopNames | None = None,
) -> Report:
    """Convert a parsed Timeloop ``stats.txt`` into a one-mapping :class:`Report`.

    Parameters
    ----------
    stats : TimeloopStats
        From :func:`~tnx_timeloop.backends.timeloop_stats.parse_stats_file`.
    arch, problem : Architecture, Problem
        The specs of the run, in our names.
    energy : ArchEnergy, optional
        The per-action energies Timeloop was given (the ERT written with the inputs, or
        :func:`~tnx_timeloop.energy.tables.timeloop_builtin_energy` for a run without ERT).
        When given, energies are recomputed exactly from Timeloop's counts and checked
        against the printed ones; otherwise the printed (0.01 pJ) figures are used.
    names : TimeloopNames, optional
        The renaming used for the inputs (default: :func:`timeloop_names` of ``problem``).

    Returns
    -------
    Report
        Fields as the native model's: ``reads``/``fills``/``updates`` per instance,
        ``tile_words`` = Timeloop's utilized capacity, ``partition_words`` = its partition
        size, ``utilized_instances`` per level, ``level_cycles`` and ``cycles`` as printed,
        ``compute_cycles`` = the arithmetic level's cycles, ``spatial_x``/``spatial_y`` from
        the printed loop nest; ``valid`` is True and ``violations`` zero (Timeloop prints
        stats only for mappings it accepts). Network energy, zero for the architectures
        written by :mod:`~tnx_timeloop.backends.timeloop_io`, is added to ``energy_pj`` only.

    Raises
    ------
    BackendError
        When levels, data-spaces or the MAC count do not match the specs, or a recomputed
        energy differs from Timeloop's printed one by more than the print rounding
        (0.005 pJ per printed figure); the message lists every disagreement.
    """
    names = names or timeloop_names(problem)
    levels = _storage_stats(stats, arch)
    arith = _arithmetic_stats(stats)
    if stats.macs != problem.macs:
        raise BackendError(f"{stats.source}: Timeloop computed {stats.macs} MACs, the problem has {problem.macs}")
    L, T = len(arch.storage), len(problem.dataspaces)
    ds_index = {names.ds(d): t for t, d in enumerate(problem.dataspace_names)}
    shape = (1, L, T)
    reads, fills, updates = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    tile = np.zeros(shape, dtype=np.int64)
    partition = np.zeros(shape, dtype=np.int64)
    printed = np.zeros(shape)
    utilized = np.ones((1, L), dtype=np.int64)
    spatial_x = np.ones((1, L), dtype=np.int64)
    spatial_y = np.ones((1, L), dtype=np.int64)
    replication = 1
    for lv, level in enumerate(levels):
        per_level: set[int] = set()
        for ds in level.dataspaces:
            if ds.name not in ds_index:
                raise BackendError(
                    f"{stats.source}: level {level.name!r} reports data-space {ds.name!r}; "
                    f"the problem has {sorted(ds_index)}"
                )
            t = ds_index[ds.name]
            reads[0, lv, t] = ds.reads_per_instance
            fills[0, lv, t] = ds.fills_per_instance
            updates[0, lv, t] = ds.updates_per_instance
            tile[0, lv, t] = ds.utilized_capacity
            partition[0, lv, t] = ds.partition_size
            printed[0, lv, t] = ds.energy_pj
            per_level.add(round(ds.utilized_instances))
        # a level keeping nothing prints no data-space: its instances in use are those fed
        # by the spatial loops above it
        utilized[0, lv] = max(per_level) if per_level else replication
        for loop in level.loop_nest:
            if loop.spatial == "X":
                spatial_x[0, lv] *= loop.bound
            elif loop.spatial == "Y":
                spatial_y[0, lv] *= loop.bound
        replication = int(utilized[0, lv]) * int(spatial_x[0, lv]) * int(spatial_y[0, lv])
    arrays = NestArrays(
        reads=reads,
        fills=fills,
        updates=updates,
        tile_words=tile,
        partition_words=partition,
        utilized_instances=utilized,
        compute_cycles=np.array([arith.cycles or 0], dtype=np.int64),
        compute_utilized=np.array([round(arith.utilized_instances or 0)], dtype=np.int64),
        spatial_x=spatial_x,
        spatial_y=spatial_y,
    )
    report = finish(arch, problem, energy if energy is not None else _zero_energy(arch), arrays)
    network_pj = sum(net.energy_pj for net in stats.networks)
    if energy is not None:
        _check_energies(stats, report, printed, arith, network_pj)
        by_ds, compute_pj, source = report.energy_by_dataspace_pj, report.compute_energy_pj, energy.describe()
    else:
        by_ds = printed
        compute_pj = np.array([arith.energy_pj])
        source = "timeloop stats.txt (printed, 0.01 pJ)"
    level_cycles = np.array([[lv.cycles if lv.cycles is not None else stats.cycles for lv in levels]], dtype=np.int64)
    return dataclasses.replace(
        report,
        valid=np.ones(1, dtype=bool),
        violations=np.zeros((1, L), dtype=np.uint8),
        cycles=np.array([stats.cycles], dtype=np.int64),
        level_cycles=level_cycles,
        energy_by_dataspace_pj=by_ds,
        compute_energy_pj=compute_pj,
        energy_pj=by_ds.sum(axis=(1, 2)) + compute_pj + network_pj,
        energy_source=source,
    )


def _check_energies(
    stats: TimeloopStats, report: Report, printed: np.ndarray, arith: LevelStats, network_pj: float
) -> None:
    """Raise unless every recomputed energy matches Timeloop's printed figure within its rounding."""
    problems = []

    def close(ours: float, theirs: float) -> bool:
        return abs(ours - theirs) <= ENERGY_TOLERANCE_PJ + 1e-9 * max(abs(ours), abs(theirs))

    for lv, name in enumerate(report.level_names):
        for t, ds in enumerate(report.dataspace_names):
            ours, theirs = float(report.energy_by_dataspace_pj[0, lv, t]), float(printed[0, lv, t])
            if not close(ours, theirs):
                problems.append(f"{name}.{ds}: {ours:.4f} pJ from the counts, Timeloop printed {theirs:.2f} pJ")
    if not close(float(report.compute_energy_pj[0]), arith.energy_pj):
        problems.append(
            f"{arith.name}: {float(report.compute_energy_pj[0]):.4f} pJ from the counts, "
            f"Timeloop printed {arith.energy_pj:.2f} pJ"
        )
    total = float(report.energy_pj[0]) + network_pj
    if abs(total - stats.energy_pj) > stats.energy_rounding_bound_pj + 1e-9 * abs(total):
        problems.append(
            f"total: {total:.4f} pJ from the counts, Timeloop's is {stats.energy_pj:.4f} "
            f"+- {stats.energy_rounding_bound_pj:.4f} pJ"
        )
    if problems:
        raise BackendError(
            f"{stats.source}: Timeloop's energies disagree with the per-action energies it was given "
            "(wrong ERT picked up, or energy semantics the model does not reproduce):\n  "
            + "\n  ".join(problems)
        )


# --------------------------------------------------------------------------- the backend


class TimeloopBackend:
    """Evaluate and search with the real Timeloop v3 (``timeloop-model``, ``timeloop-mapper``).

    Parameters
    ----------
    model_command, mapper_command : str
        Programs to run (looked up on ``PATH``).
    timeout_s : float
        Seconds before a run is killed.
    keep_workdir : bool
        Keep the run directory even after a successful run.

    Notes
    -----
    One ``timeloop-model`` run takes about 0.025 s plus Python start-up of the parsers;
    ``timeloop-mapper`` has no seed option (its generator uses a fixed default seed).
    """

    name = "timeloop"

    def __init__(
        self,
        *,
        model_command: str = "timeloop-model",
        mapper_command: str = "timeloop-mapper",
        timeout_s: float = 600.0,
        keep_workdir: bool = False,
    ) -> None:
        self.model_command = model_command
        self.mapper_command = mapper_command
        self.timeout_s = timeout_s
        self.keep_workdir = keep_workdir

    def available(self) -> bool:
        """Whether ``timeloop-model`` is on ``PATH``."""
        return shutil.which(self.model_command) is not None

    def why_unavailable(self) -> str:
        """What is missing and how to get it ('' if available)."""
        if self.available():
            return ""
        return (
            f"{self.model_command!r} is not on PATH; Timeloop v3 is not on any package registry: build "
            "NVlabs/timeloop (tag v3.0.3) from source and put its bin/ on PATH, or use backend 'native' "
            "(the same numbers) or 'pytimeloop'"
        )

    # -- runs ------------------------------------------------------------------
    def _workdir(self, prefix: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"tnx_{prefix}_"))

    def _run(self, argv: list[str], workdir: Path, what: str, outputs: Sequence[str]) -> None:
        """Run ``argv`` in ``workdir``; raise BackendError (keeping the directory) unless it wrote ``outputs``."""
        started = time.perf_counter()
        proc = run_tool(argv, cwd=workdir, timeout_s=self.timeout_s, what=what)
        (workdir / f"{what}.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
        log.debug("%s finished in %.3f s with status %d", what, time.perf_counter() - started, proc.returncode)
        missing = [o for o in outputs if not (workdir / o).is_file()]
        if proc.returncode != 0 or missing:
            why = f"{what} failed" if proc.returncode != 0 else f"{what} wrote no {', '.join(missing)}"
            raise BackendError(
                why,
                command=shlex.join(argv),
                returncode=proc.returncode,
                log_tail=tail(proc.stderr) or tail(proc.stdout),
                workdir=str(workdir),
            )

    def _done(self, workdir: Path) -> None:
        if not self.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    def evaluate(
        self, arch: Architecture, problem: Problem, mapping: Mapping, *, energy: ArchEnergy, method: str = "batch"
    ) -> Report:
        """Evaluate ``mapping`` with ``timeloop-model``; a one-mapping :class:`Report`.

        ``method`` is accepted for protocol compatibility and ignored (Timeloop has one model).

        Raises
        ------
        BackendError
            When the program is missing, fails, times out or prints stats that cannot be
            read or disagree with the inputs; the message has the command, the exit
            status, the log tail and the kept working directory.
        """
        del method
        workdir = self._workdir("timeloop_model")
        argv = [self.model_command]
        try:
            inputs = write_timeloop_inputs(workdir, arch, problem, mapping, energy=energy)
            argv += [p.name for p in inputs.files]
            self._run(argv, workdir, "timeloop-model", ["timeloop-model.stats.txt"])
            report = self._report(workdir / "timeloop-model.stats.txt", arch, problem, energy, inputs.names)
        except TnxError as err:
            raise _with_workdir(err, workdir, argv) from None
        self._done(workdir)
        return report

    def search(
        self,
        arch: Architecture,
        problem: Problem,
        constraints: Sequence[tuple[str, Any]] = (),
        mapper_config: MappingABC[str, Any] | None = None,
        *,
        energy: ArchEnergy,
    ) -> tuple[Mapping, Report]:
        """Search mappings with ``timeloop-mapper``; the best mapping (from its ``map.yaml``) and its report.

        Parameters
        ----------
        arch, problem : Architecture, Problem
            The specs (our names; dimensions are renamed for Timeloop and back).
        constraints : sequence
            ``Spec.constraints`` (``architecture_constraints``/``mapspace_constraints``).
        mapper_config : mapping, optional
            Timeloop's ``mapper`` section (default
            :data:`~tnx_timeloop.backends.timeloop_io.DEFAULT_MAPPER`).
        energy : ArchEnergy
            Energies given to Timeloop as an ERT.

        Raises
        ------
        BackendError
            As :meth:`evaluate`; also when the mapper finds no valid mapping.
        """
        if not shutil.which(self.mapper_command):
            raise BackendError(f"{self.mapper_command!r} is not on PATH; {self.why_unavailable()}")
        workdir = self._workdir("timeloop_mapper")
        argv = [self.mapper_command]
        try:
            inputs = write_timeloop_inputs(
                workdir, arch, problem, None, energy=energy, constraints=constraints, mapper=mapper_config
            )
            argv += [p.name for p in inputs.files]
            self._run(argv, workdir, "timeloop-mapper", ["timeloop-mapper.stats.txt", "timeloop-mapper.map.yaml"])
            mapping = read_map_yaml(workdir / "timeloop-mapper.map.yaml", arch, problem, inputs.names)
            report = self._report(workdir / "timeloop-mapper.stats.txt", arch, problem, energy, inputs.names)
        except TnxError as err:
            raise _with_workdir(err, workdir, argv) from None
        self._done(workdir)
        return mapping, report

    @staticmethod
    def _report(
        path: Path, arch: Architecture, problem: Problem, energy: ArchEnergy, names: TimeloopNames
    ) -> Report:
        return report_from_stats(parse_stats_file(path), arch, problem, energy=energy, names=names)


def _with_workdir(err: TnxError, workdir: Path, argv: list[str]) -> TnxError:
    """The error to raise: a BackendError naming the command, its log tail and the kept directory."""
    if isinstance(err, BackendError) and err.workdir:
        return err
    message = str(err) if isinstance(err, BackendError) else f"{type(err).__name__}: {err}"
    return BackendError(
        message,
        command=shlex.join(argv),
        returncode=getattr(err, "returncode", None),
        log_tail=_log_tail(workdir),
        workdir=str(workdir),
    )


def _log_tail(workdir: Path) -> str | None:
    for name in ("timeloop-model.log", "timeloop-mapper.log"):
        path = workdir / name
        if path.is_file():
            return tail(path.read_text(encoding="utf-8", errors="replace"))
    return None

