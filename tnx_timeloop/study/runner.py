"""Run a study into a results folder: resumable, executor-independent, written as results finish.

``run_study(cfg, DIR)``:

1. expands the study into tasks (:func:`~tnx_timeloop.study.tasks.expand_tasks`);
2. creates ``DIR`` (refusing a folder that already holds a study unless ``resume``) and
   writes the study file, the resolved configuration, the manifest (config hash, tasks)
   and the provenance; on ``resume`` it checks that the configuration hash is the one the
   folder was started with and refuses otherwise, naming what changed;
3. runs every task not yet in the journal on the executor, appending each result to the
   journal (fsync'ed) as it finishes, so an interrupted run loses at most the tasks that
   were running;
4. writes the results tables (CSV and Parquet, rows in task order) and renders the report.

Results never depend on the executor or on ``jobs``: tasks are pure functions of their
parameters and rows are ordered by task index, so the same configuration and seeds give
byte-identical CSV files.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tnx_timeloop.errors import SpecError, TnxError, Where
from tnx_timeloop.search.executors import Executor, LocalExecutor
from tnx_timeloop.study import store
from tnx_timeloop.study.config import StudyConfig
from tnx_timeloop.study.provenance import collect_provenance, utc_now
from tnx_timeloop.study.tasks import Task, TaskContext, expand_tasks, run_task

__all__ = ["Progress", "RunSummary", "StudyInterrupted", "run_study", "finalize_results", "read_manifest",
           "describe_config_change"]


@dataclass(frozen=True, slots=True)
class Progress:
    """One finished task, for progress displays.

    Attributes
    ----------
    done, total : int
        Finished tasks (including those of earlier runs) and all tasks.
    computed : int
        Tasks computed by this run so far.
    label : str
        The task just finished.
    seconds : float
        Its wall time, s.
    eta_s : float or None
        Estimated seconds left (wall time of this run per finished task x tasks left); None
        before the first task finishes (the first call, with ``computed == 0``, announces the total).
    """

    done: int
    total: int
    computed: int
    label: str
    seconds: float
    eta_s: float | None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a run did.

    Attributes
    ----------
    out_dir : Path
    config_hash : str
    total : int
        Tasks of the study.
    reused : int
        Tasks already finished by earlier runs (not recomputed).
    computed : int
        Tasks computed by this run.
    run : int
        1 for the first run of the folder, 2 for the first resume, ...
    seconds : float
        Wall time of this run, s.
    files : tuple of Path
        Results, tables, plots and report written.
    """

    out_dir: Path
    config_hash: str
    total: int
    reused: int
    computed: int
    run: int
    seconds: float
    files: tuple[Path, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON view."""
        return {"out_dir": str(self.out_dir), "config_hash": self.config_hash, "tasks": self.total,
                "reused": self.reused, "computed": self.computed, "run": self.run,
                "seconds": round(self.seconds, 3), "files": [str(p) for p in self.files]}


class StudyInterrupted(TnxError):
    """A run stopped by Ctrl-C (or a signal turned into KeyboardInterrupt); finished tasks are kept."""

    def __init__(self, out_dir: Path, done: int, total: int) -> None:
        super().__init__(f"interrupted: {done} of {total} tasks are finished and saved in {out_dir}; "
                         f"continue with: tnx study run STUDY.yaml --out {out_dir} --resume")
        self.out_dir, self.done, self.total = out_dir, done, total


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when it holds none."""
    path = Path(out_dir) / store.MANIFEST
    if not path.exists():
        return None
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as err:
        raise SpecError(Where(path), f"unreadable manifest: {err}") from None


def describe_config_change(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Key paths (``architectures[1].grid.rows``) whose values differ between two plain configurations."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old:
                out.append(f"{path} (added)")
            elif key not in new:
                out.append(f"{path} (removed)")
            else:
                out += describe_config_change(old[key], new[key], path)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out += describe_config_change(a, b, f"{prefix}[{i}]")
        return out
    if old != new:
        if prefix.endswith("sha256"):
            return [f"{prefix.removesuffix('.sha256')} (file contents)"]
        return [prefix or "<root>"]
    return []


def _prepare(cfg: StudyConfig, out: Path, tasks: Sequence[Task], resume: bool) -> dict[str, Any]:
    manifest = read_manifest(out) if out.exists() else None
    if manifest is not None:
        if not resume:
            raise SpecError(Where(out), f"the folder already holds the study {manifest.get('name')!r}; pass --resume "
                                        "to continue it, or choose a new --out folder")
        if manifest.get("config_hash") != cfg.config_hash:
            old_cfg = {}
            try:
                old_cfg = json.loads((out / store.CONFIG).read_text(encoding="utf-8")).get("portable", {})
            except (OSError, ValueError):
                pass
            changed = describe_config_change(old_cfg, cfg.to_dict(portable=True)) if old_cfg else []
            what = f"; changed: {', '.join(changed[:8])}" if changed else \
                " (an input file, the package version or the configuration changed)"
            raise SpecError(Where(out), f"the configuration differs from the one this folder was started with "
                                        f"(hash {str(manifest.get('config_hash'))[:12]} vs {cfg.config_hash[:12]}){what}; "
                                        "results of different configurations are never mixed: run into a new --out folder")
        return manifest
    leftovers = [p for p in out.iterdir() if p.name not in ("study.yaml", store.CONFIG)] if out.exists() else []
    if leftovers:  # (only study.yaml/config.json: a start killed before its manifest; start again)
        raise SpecError(Where(out), "the folder exists, is not empty and holds no study (no manifest.json); "
                                    "choose a new --out folder")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cfg.source, out / "study.yaml")
    store.atomic_write_text(out / store.CONFIG, json.dumps(
        {"config_hash": cfg.config_hash, "resolved": cfg.to_dict(), "portable": cfg.to_dict(portable=True)},
        indent=2, default=str))  # key order kept: grids keep the order of the study file
    manifest = {"name": cfg.name, "kind": cfg.kind, "config_hash": cfg.config_hash, "created_utc": utc_now(),
                "tasks": [{"index": t.index, "key": t.key, "label": t.label} for t in tasks]}
    store.atomic_write_text(out / store.MANIFEST, json.dumps(manifest, indent=2))
    return manifest


def _record_run(out: Path, entry: dict[str, Any], provenance: dict[str, Any] | None = None) -> int:
    """Add or update this run's entry in provenance.json; the run number."""
    path = out / store.PROVENANCE
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
    runs = list(data.get("runs", []))
    if provenance is not None:
        data.update({k: v for k, v in provenance.items() if k not in ("runs",)})
        runs.append(entry)
    else:
        runs[-1] = {**runs[-1], **entry}
    data["runs"] = runs
    store.atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str))
    return len(runs)


def _write_artifacts(out: Path, task: Task, artifacts: Sequence[tuple[str, str]]) -> None:
    if not artifacts:
        return
    folder = store.artifact_dir(out, task.key)
    for name, text in artifacts:
        store.atomic_write_text(folder / name, text)


def finalize_results(out_dir: Path) -> list[Path]:
    """Write ``results`` and the extra tables (CSV and Parquet) from the journal, rows in task order.

    Wall times go to ``timing.csv`` (task, label, seconds, run), never into the results, so
    the same configuration and seeds give byte-identical result files.
    """
    out = Path(out_dir)
    manifest = read_manifest(out) or {}
    keys = {t["key"] for t in manifest.get("tasks", [])}
    entries = sorted((e for e in store.read_journal(out) if not keys or e.key in keys), key=lambda e: e.index)
    rows = [r for e in entries for r in e.result.get("rows", [])]
    tables: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        for name, trs in (e.result.get("tables") or {}).items():
            tables.setdefault(name, []).extend(trs)
    files = store.write_table(out, "results", rows)
    for name in sorted(tables):
        files += store.write_table(out, name, tables[name])
    timing = [{"index": e.index, "label": e.label, "seconds": e.seconds, "run": e.run} for e in entries]
    files.append(store.atomic_write_text(out / "timing.csv", store.rows_to_csv(timing, ["index", "label", "seconds",
                                                                                         "run"])))
    return files


def run_study(cfg: StudyConfig, out_dir: Path | str, *, resume: bool = False, executor: Executor | None = None,
              jobs: int = 1, on_progress: Callable[[Progress], None] | None = None,
              argv: Sequence[str] | None = None, render: bool = True, scheduler: str | None = None) -> RunSummary:
    """Run (or resume) ``cfg`` into ``out_dir``; see the module docstring.

    Parameters
    ----------
    cfg : StudyConfig
    out_dir : Path or str
    resume : bool
        Continue the study in ``out_dir`` (same configuration hash required).
    executor : Executor, optional
        Default: :class:`~tnx_timeloop.search.executors.LocalExecutor` with ``jobs`` processes.
    jobs : int
        Worker processes of the default executor; also the processes a single remaining
        task may use itself.
    on_progress : callable, optional
        Called with a :class:`Progress` after each finished task (in this process).
    argv : sequence of str, optional
        The command line, recorded in the provenance.
    render : bool
        Render tables, plots and report.md at the end.
    scheduler : str, optional
        Recorded in the provenance (the Dask scheduler address).

    Raises
    ------
    SpecError
        For a folder holding another study or another configuration, or unreadable inputs.
    StudyInterrupted
        On Ctrl-C; every finished task is saved.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    tasks = expand_tasks(cfg)
    _prepare(cfg, out, tasks, resume)
    store.repair_journal(out)
    keys = {t.key for t in tasks}
    finished = {e.key for e in store.read_journal(out)} & keys
    pending = [t for t in tasks if t.key not in finished]
    ex = executor or LocalExecutor(jobs)
    provenance = collect_provenance(cfg, argv=argv, executor=ex.name, jobs=getattr(ex, "workers", jobs),
                                    scheduler=scheduler)
    run = _record_run(out, {"started_utc": utc_now(), "status": "running", "executor": ex.name,
                            "jobs": getattr(ex, "workers", jobs), "scheduler": scheduler,
                            "host": provenance["host"]["name"], "reused": len(finished), "pending": len(pending)},
                      provenance)
    cache_path = None
    if cfg.cache == "study":
        cache_path = str((out / "cache.sqlite").resolve())
    elif cfg.cache == "user":
        from tnx_timeloop.cache import default_cache_path

        cache_path = str(default_cache_path())
    inner = max(1, int(jobs)) if (len(pending) == 1 and ex.name in ("local", "serial")) else 1
    ctx = TaskContext(cache_path=cache_path, jobs=inner)
    computed = 0
    by_index = {i: t for i, t in enumerate(pending)}
    loop_start = time.monotonic()
    results = ex.map_unordered(run_task, [(t, ctx) for t in pending])
    try:
        if on_progress is not None:
            on_progress(Progress(len(finished), len(tasks), 0, "", 0.0, None))
        for i, result in results:
            task = by_index[i]
            _write_artifacts(out, task, result.artifacts)
            store.append_journal(out, store.JournalEntry(task.key, task.index, task.label, round(result.seconds, 6),
                                                         run, result.to_record()))
            computed += 1
            if on_progress is not None:
                left = len(pending) - computed
                eta = (time.monotonic() - loop_start) / computed * left
                on_progress(Progress(len(finished) + computed, len(tasks), computed, task.label, result.seconds, eta))
    except KeyboardInterrupt:
        _record_run(out, {"finished_utc": utc_now(), "status": "interrupted", "computed": computed})
        raise StudyInterrupted(out, len(finished) + computed, len(tasks)) from None
    except BaseException:
        _record_run(out, {"finished_utc": utc_now(), "status": "failed", "computed": computed})
        raise
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()  # cancels what has not started (an interrupted run)
        if executor is None:
            ex.close()
    files = finalize_results(out)
    _record_run(out, {"finished_utc": utc_now(), "status": "complete", "computed": computed,
                      "seconds": round(time.perf_counter() - start, 3)})
    if render:
        from tnx_timeloop.study.report import render_report

        files += render_report(out)
    seconds = time.perf_counter() - start
    return RunSummary(out, cfg.config_hash, len(tasks), len(finished), computed, run, seconds, tuple(files))
