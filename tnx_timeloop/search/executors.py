"""Executors: run independent tasks in this process, in local processes, or on a Dask cluster.

Every executor has one method, :meth:`Executor.map_unordered`, which calls a picklable
top-level function on each item and yields ``(index, result)`` pairs *as they finish*,
so a caller can store each result at once (a study writes it to its journal). Results
never depend on the executor: a task is a pure function of its item, so ``serial``,
``local`` (a process pool, ``jobs`` processes) and ``dask`` (an existing
``dask.distributed`` scheduler) give the same results, only in another order.

::

    from tnx_timeloop.search.executors import get_executor
    with get_executor("local", jobs=4) as ex:
        for i, result in ex.map_unordered(work, items):
            store(i, result)

Interrupting the loop (Ctrl-C, or closing the generator) cancels what has not started
and stops the workers; what was yielded before is kept by the caller.

Dask is optional: ``pip install "dask[distributed]"``; it is imported when a Dask
executor is made.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from tnx_timeloop.errors import SearchError

__all__ = [
    "Executor",
    "SerialExecutor",
    "LocalExecutor",
    "DaskExecutor",
    "EXECUTORS",
    "executor_names",
    "get_executor",
]

log = logging.getLogger(__name__)


@runtime_checkable
class Executor(Protocol):
    """Runs ``fn(item)`` for every item; yields ``(index, result)`` as each finishes."""

    name: str
    workers: int

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index into items, fn(item))`` in completion order."""
        ...

    def close(self) -> None:
        """Release workers and connections."""
        ...


class _Context:
    """``with`` support shared by the executors."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        """Release resources."""


class SerialExecutor(_Context):
    """Run every task in this process, one after the other (in item order)."""

    name = "serial"
    workers = 1

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(i, fn(items[i]))`` for i = 0, 1, ..."""
        for i, item in enumerate(items):
            yield i, fn(item)

    def close(self) -> None:
        """Nothing to release."""


class LocalExecutor(_Context):
    """A pool of ``jobs`` worker processes on this machine (``jobs == 1``: in this process).

    Parameters
    ----------
    jobs : int
        Worker processes (>= 1).
    start_method : str, optional
        ``fork`` (default where available: fast start-up) or ``spawn``/``forkserver``.
    """

    name = "local"

    def __init__(self, jobs: int = 1, *, start_method: str | None = None) -> None:
        if int(jobs) < 1:
            raise SearchError(f"jobs must be >= 1, got {jobs}")
        self.workers = int(jobs)
        methods = mp.get_all_start_methods()
        self._method = start_method or ("fork" if "fork" in methods else methods[0])
        self._pool: ProcessPoolExecutor | None = None

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(i, fn(items[i]))`` as workers finish; at most ``jobs`` tasks run at once."""
        if self.workers == 1 or len(items) <= 1:
            yield from SerialExecutor().map_unordered(fn, items)
            return
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(items)),
                                   mp_context=mp.get_context(self._method), initializer=_ignore_sigint)
        self._pool = pool
        pending: dict[Future, int] = {}
        queue = iter(enumerate(items))
        finished = False
        try:
            # keep one task queued per worker beyond the running ones: no idle gaps, little to cancel
            for _ in range(2 * self.workers):
                nxt = next(queue, None)
                if nxt is None:
                    break
                pending[pool.submit(fn, nxt[1])] = nxt[0]
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=lambda f: pending[f]):
                    i = pending.pop(fut)
                    result = fut.result()  # a task's exception stops the run (fail loud)
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[pool.submit(fn, nxt[1])] = nxt[0]
                    yield i, result
            finished = True
        finally:
            if not finished:
                _stop_pool(pool)
            else:
                pool.shutdown(wait=True)
            self._pool = None

    def close(self) -> None:
        """Stop the pool if a run was abandoned."""
        if self._pool is not None:
            _stop_pool(self._pool)
            self._pool = None


def _ignore_sigint() -> None:
    """Worker start-up: Ctrl-C goes to the parent only, which stops the pool (no traceback per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel queued tasks and end the workers now (their running tasks are lost, by design)."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(timeout=5)


class DaskExecutor(_Context):
    """Tasks on a Dask distributed cluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``). Ignored when ``client`` is given.
    client : distributed.Client, optional
        An existing client (e.g. of a ``LocalCluster``); not closed by :meth:`close`.
    timeout_s : float
        Seconds to wait for the scheduler.

    Raises
    ------
    SearchError
        When dask.distributed is not installed, no address is given, or the scheduler
        cannot be reached.

    Notes
    -----
    Workers import ``tnx_timeloop`` themselves: install the same version on every worker.
    Tasks that read files (templates, workload files) need the same paths on the workers
    (a shared file system or the same checkout at the same place).
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, *, client: Any = None, timeout_s: float = 20.0) -> None:
        try:
            import distributed
        except ImportError as err:
            raise SearchError('the dask executor needs dask.distributed: pip install "dask[distributed]"') from err
        self._own = client is None
        if client is None:
            if not scheduler:
                raise SearchError("the dask executor needs a scheduler address (--scheduler tcp://HOST:8786)")
            try:
                client = distributed.Client(scheduler, timeout=f"{timeout_s}s")
            except (OSError, TimeoutError) as err:
                raise SearchError(f"cannot reach the Dask scheduler at {scheduler!r}: {err}") from err
        self.client = client
        self.scheduler = scheduler or str(getattr(client, "scheduler", None) and client.scheduler.address)
        try:
            self.workers = max(1, sum(int(w.get("nthreads", 1)) for w in client.scheduler_info()["workers"].values()))
        except (KeyError, TypeError, AttributeError):
            self.workers = 1

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Submit every item; yield ``(i, result)`` as the cluster finishes them."""
        from distributed import as_completed

        futures = [self.client.submit(fn, item, pure=False) for item in items]
        index = {f.key: i for i, f in enumerate(futures)}
        finished = False
        try:
            for fut in as_completed(futures):
                result = fut.result()
                yield index[fut.key], result
                fut.release()
            finished = True
        finally:
            if not finished:
                self.client.cancel(futures)

    def close(self) -> None:
        """Close the client if this executor opened it."""
        if self._own and self.client is not None:
            self.client.close()
            self.client = None


EXECUTORS: dict[str, str] = {
    "serial": "every task in this process, in order",
    "local": "a pool of --jobs worker processes on this machine (default)",
    "dask": "an existing Dask distributed cluster (--scheduler ADDRESS)",
}


def executor_names() -> list[str]:
    """Names :func:`get_executor` accepts."""
    return sorted(EXECUTORS)


def get_executor(name: str, *, jobs: int = 1, scheduler: str | None = None, client: Any = None) -> Executor:
    """The executor called ``name`` (``serial``, ``local`` or ``dask``).

    Raises
    ------
    SearchError
        For an unknown name (listing the options), or as the executor's constructor.
    """
    key = name.strip().lower()
    if key == "serial":
        return SerialExecutor()
    if key == "local":
        return LocalExecutor(jobs)
    if key == "dask":
        return DaskExecutor(scheduler, client=client)
    raise SearchError(f"unknown executor {name!r}; choose one of {executor_names()}")
