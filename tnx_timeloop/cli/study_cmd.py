"""``tnx study``: run reproducible studies (``studies/*.yaml``) into results folders, resume them, re-render reports.

::

    tnx study check studies/tnn-dse.yaml
    tnx study run studies/tnn-dse.yaml --out results/tnn-dse --jobs 2
    tnx study run studies/tnn-dse.yaml --out results/tnn-dse --resume          # after Ctrl-C or a kill
    tnx study run studies/native-vs-timeloop.yaml --out r/nvt --executor dask --scheduler tcp://head:8786
    tnx study report results/tnn-dse                                          # re-render, no evaluation

See ``docs/studies.md`` for the study file schema and running on a cluster. Every command
takes ``--json``; bad input exits with status 2 and a one-paragraph message, an
interrupted run with status 130 (what finished is kept).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import click

from tnx_timeloop.cli import emit_json, fail, handle_errors

__all__ = ["register", "study"]


@click.group("study")
def study() -> None:
    """Reproducible studies: one YAML file -> results (CSV, Parquet), tables, plots and report.md."""


# ---------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------


@study.command("check")
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def check(study_file: Path, as_json: bool) -> None:
    """Validate STUDY_FILE and list its tasks (nothing is evaluated)."""
    from tnx_timeloop.study.config import load_study
    from tnx_timeloop.study.tasks import expand_tasks

    cfg = load_study(study_file)
    tasks = expand_tasks(cfg)
    if as_json:
        emit_json({"name": cfg.name, "kind": cfg.kind, "config_hash": cfg.config_hash, "seeds": list(cfg.seeds),
                   "tasks": [{"index": t.index, "key": t.key, "label": t.label} for t in tasks],
                   "config": cfg.to_dict()})
        return
    click.echo(f"{study_file}: study {cfg.name!r} (kind {cfg.kind}), {len(tasks)} task(s), seeds {list(cfg.seeds)}, "
               f"config hash {cfg.config_hash[:12]}")
    for t in tasks[:50]:
        click.echo(f"  {t.index:4d}  {t.label}")
    if len(tasks) > 50:
        click.echo(f"  ... and {len(tasks) - 50} more")


# ---------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------


class _Reporter:
    """Progress display: a rich bar with ETA on a terminal, plain log lines otherwise (on stderr)."""

    def __init__(self, enabled: bool, name: str) -> None:
        self.enabled = enabled
        self.name = name
        self._bar: Any = None
        self._task: Any = None
        self.tty = enabled and sys.stderr.isatty()

    def __call__(self, p: Any) -> None:
        if not self.enabled:
            return
        if self.tty:
            self._rich(p)
            return
        if p.computed == 0:
            click.echo(f"study {self.name}: {p.total} task(s), {p.done} already finished", err=True)
            return
        eta = "" if p.eta_s is None else f", ETA {_hms(p.eta_s)}"
        click.echo(f"[{p.done}/{p.total}] {p.label} ({p.seconds:.1f} s{eta})", err=True)

    def _rich(self, p: Any) -> None:
        if self._bar is None:
            try:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                    TimeRemainingColumn,
                )
            except ImportError:
                self.tty = False
                self(p)
                return
            self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 TextColumn("{task.fields[last]}"), console=Console(stderr=True), transient=False)
            self._bar.start()
            self._task = self._bar.add_task(self.name, total=p.total, completed=p.done, last="")
        if p.computed:
            self._bar.update(self._task, completed=p.done, last=p.label[:60])

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _terminate_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@study.command("run")
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Results folder (created; must be new or empty unless --resume).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out (same configuration required).")
@click.option("--executor", type=click.Choice(["local", "dask", "serial"]), default="local", show_default=True,
              help="local: --jobs processes here; dask: an existing Dask cluster (--scheduler); serial: this process.")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="Dask scheduler address, e.g. tcp://10.0.0.1:8786.")
@click.option("--jobs", type=int, default=0, show_default=True,
              help="Worker processes of the local executor (0 = every core). Results do not depend on it.")
@click.option("--no-report", is_flag=True, help="Write the results only (render later with tnx study report).")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (a summary of the run).")
@handle_errors
def run(study_file: Path, out_dir: Path, resume: bool, executor: str, scheduler: str | None, jobs: int,
        no_report: bool, quiet: bool, as_json: bool) -> None:
    """Run STUDY_FILE into --out: results CSV/Parquet, provenance, tables, plots and report.md.

    Results are journaled as each task finishes; after Ctrl-C or a kill, run the same
    command with --resume to continue (nothing finished is computed again; a changed
    configuration is refused).
    """
    from tnx_timeloop.errors import SearchError
    from tnx_timeloop.search.executors import get_executor
    from tnx_timeloop.study.config import load_study
    from tnx_timeloop.study.runner import StudyInterrupted, run_study

    if jobs < 0:
        raise SearchError(f"--jobs must be >= 0, got {jobs}")
    jobs = jobs or (os.cpu_count() or 1)
    if executor == "dask" and not scheduler:
        raise SearchError("--executor dask needs --scheduler ADDRESS of a running scheduler (start one with "
                          "`dask scheduler` and workers with `dask worker ADDRESS`; see docs/studies.md)")
    if scheduler and executor != "dask":
        raise SearchError("--scheduler is only used with --executor dask")
    cfg = load_study(study_file)
    ex = get_executor(executor, jobs=jobs, scheduler=scheduler)
    reporter = _Reporter(not quiet and not as_json, cfg.name)
    previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    try:
        summary = run_study(cfg, out_dir, resume=resume, executor=ex, jobs=jobs, on_progress=reporter,
                            argv=["tnx", *sys.argv[1:]], render=not no_report, scheduler=scheduler)
    except StudyInterrupted as err:
        reporter.close()
        fail(str(err), code=130)
        return
    finally:
        reporter.close()
        signal.signal(signal.SIGTERM, previous)
        ex.close()
    if as_json:
        emit_json(summary.to_dict())
        return
    click.echo(f"study {cfg.name!r}: {summary.total} task(s), {summary.reused} reused, {summary.computed} computed, "
               f"{summary.seconds:.1f} s")
    click.echo(f"results: {summary.out_dir / 'results.csv'}")
    if not no_report:
        click.echo(f"report:  {summary.out_dir / 'report.md'}")


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------


@study.command("report")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--study", "study_file", type=click.Path(path_type=Path), default=None,
              help="Take report:, description: from this study file (its other settings must match the folder's).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the files written).")
@handle_errors
def report(out_dir: Path, study_file: Path | None, as_json: bool) -> None:
    """Re-render the tables, plots and report.md of a results folder from its saved results (no evaluation)."""
    from tnx_timeloop.study.report import load_report_data, render_report, update_report_settings
    from tnx_timeloop.study.runner import finalize_results

    load_report_data(out_dir)  # a clear error for a folder that holds no study
    if study_file is not None:
        from tnx_timeloop.study.config import load_study

        update_report_settings(out_dir, load_study(study_file))
    data = load_report_data(out_dir)
    files = finalize_results(out_dir) + render_report(out_dir)
    total = len(data.manifest.get("tasks", []))
    if as_json:
        emit_json({"out_dir": str(out_dir), "tasks": total, "finished": len(data.entries),
                   "report": str(Path(out_dir) / "report.md"), "files": [str(f) for f in files]})
        return
    click.echo(f"{len(data.entries)} of {total} task(s) finished; {len(files)} file(s) written")
    click.echo(f"report: {Path(out_dir) / 'report.md'}")


def register(cli: click.Group) -> None:
    """Add ``tnx study`` to the ``tnx`` group."""
    cli.add_command(study)
