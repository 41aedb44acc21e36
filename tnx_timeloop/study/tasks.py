"""Tasks: the independent units of work of a study, and the one function every executor runs.

A study expands into a list of :class:`Task` (one per grid point of a sweep, one per
comparison, one per joint search, one per early-exit search). A task is a pure function
of its parameters: its :attr:`Task.key` (sha256 of the kind and the canonical
parameters) identifies its result across runs, so a resumed run skips it, and any
executor can run it anywhere. :func:`run_task` returns a :class:`TaskResult` of plain
JSON-able data (rows, extra tables, notes and artifact files), which the runner records.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tnx_timeloop.cache import canonical
from tnx_timeloop.errors import SpecError, TnxError, Where

__all__ = ["Task", "TaskContext", "TaskResult", "TaskFailed", "task_key", "run_task", "expand_tasks"]


class TaskFailed(TnxError):
    """A task stopped on an expected error (the message names the task); picklable, so it crosses processes.

    Parameters
    ----------
    message : str
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Task:
    """One unit of work.

    Attributes
    ----------
    index : int
        Position in the study's task list; result rows are ordered by it.
    key : str
        sha256 of the kind and parameters (see :func:`task_key`).
    label : str
        Human-readable name for progress lines.
    kind : str
        The study kind whose runner executes it.
    params : Any
        Kind-specific frozen parameters (picklable: sent to worker processes).
    """

    index: int
    key: str
    label: str
    kind: str
    params: Any = field(repr=False)


@dataclass(frozen=True, slots=True)
class TaskContext:
    """How a task runs (never what it computes).

    Attributes
    ----------
    cache_path : str or None
        The evaluation cache (SQLite file); None: no cache.
    jobs : int
        Processes the task may use itself (mapping layers in parallel, where results
        do not depend on it).
    """

    cache_path: str | None = None
    jobs: int = 1

    def open_cache(self) -> Any:
        """The evaluation cache, or None (also when its folder is not reachable from this worker)."""
        if not self.cache_path:
            return None
        from pathlib import Path

        from tnx_timeloop.cache import EvaluationCache

        if not Path(self.cache_path).parent.is_dir():
            return None
        return EvaluationCache(self.cache_path)


@dataclass(frozen=True, slots=True)
class TaskResult:
    """What a task produced (plain, JSON-able data).

    Attributes
    ----------
    rows : tuple of dict
        Rows of ``results`` (one per evaluation).
    tables : tuple of (str, tuple of dict)
        Rows of further tables (``breakdown``, ``layers``...).
    meta : dict
        Notes for the report (provenance of statistics, tool availability, summaries).
    artifacts : tuple of (str, str)
        File name -> text, written under ``artifacts/KEY/``.
    seconds : float
        Wall time, s.
    """

    rows: tuple[dict[str, Any], ...] = ()
    tables: tuple[tuple[str, tuple[dict[str, Any], ...]], ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    artifacts: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0

    def to_record(self) -> dict[str, Any]:
        """The journal's ``result`` object (artifact names only)."""
        return {"rows": [dict(r) for r in self.rows], "tables": {n: [dict(r) for r in rs] for n, rs in self.tables},
                "meta": self.meta, "artifacts": [n for n, _ in self.artifacts]}


def task_key(kind: str, params: Any) -> str:
    """sha256 of the kind and the canonical parameters."""
    text = json.dumps([kind, canonical(params)], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _runners() -> dict[str, Callable[[Any, TaskContext], TaskResult]]:
    from tnx_timeloop.study import eenn_kind, published_kind, sweep_kind, tnn_kind

    return {"sweep": sweep_kind.run_point, "native-vs-timeloop": sweep_kind.run_point,
            "compare": published_kind.run_comparison_task, "tnn-dse": tnn_kind.run_tnn_task,
            "eenn": eenn_kind.run_eenn_task}


def run_task(item: tuple[Task, TaskContext]) -> TaskResult:
    """Run one task (the function executors call; top level, so it pickles)."""
    task, ctx = item
    runners = _runners()
    if task.kind not in runners:
        raise SpecError(Where(None, ("kind",)), f"unknown study kind {task.kind!r}; choose one of {sorted(runners)}")
    start = time.perf_counter()
    try:
        result = runners[task.kind](task.params, ctx)
    except TnxError as err:
        # SpecError & co. take (where, message): they do not unpickle in the parent process
        raise TaskFailed(f"task {task.index} ({task.label}) failed: {err}") from None
    return TaskResult(result.rows, result.tables, result.meta, result.artifacts, time.perf_counter() - start)


def expand_tasks(cfg: Any) -> list[Task]:
    """The tasks of a study, in a stable order (the order of the results rows).

    Raises
    ------
    SpecError
        When an input named by the study cannot be read (located in the study file).
    """
    from tnx_timeloop.study import eenn_kind, published_kind, sweep_kind, tnn_kind

    expanders: dict[str, Callable[[Any], list[tuple[str, Any]]]] = {
        "sweep": sweep_kind.expand, "native-vs-timeloop": sweep_kind.expand, "compare": published_kind.expand,
        "tnn-dse": tnn_kind.expand, "eenn": eenn_kind.expand,
    }
    pairs = expanders[cfg.kind](cfg)
    tasks = [Task(i, task_key(cfg.kind, params), label, cfg.kind, params) for i, (label, params) in enumerate(pairs)]
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        dup = next(t.label for t in tasks if keys.count(t.key) > 1)
        raise SpecError(Where(cfg.source), f"the study evaluates the same point twice ({dup}); remove the duplicate entry")
    return tasks
