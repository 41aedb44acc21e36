"""An on-disk evaluation cache shared by processes: SQLite in the user's cache directory.

Entries are keyed by a canonical hash of everything that determines a result
(architecture, problem, mapping or search settings, backend, energy source and
the package version), so a changed input never hits an old entry. Writes are
single statements in WAL mode with a busy timeout, safe for concurrent writers.

The location is ``$TNX_CACHE_DIR`` (or ``$XDG_CACHE_HOME/tnx-timeloop``, else
``~/.cache/tnx-timeloop``); ``--no-cache`` on the command line bypasses it.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EvaluationCache", "canonical", "cache_key", "default_cache_path"]

_SCHEMA = "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, kind TEXT, value TEXT, created REAL)"


def default_cache_path() -> Path:
    """Where the cache lives unless told otherwise."""
    base = os.environ.get("TNX_CACHE_DIR")
    if base:
        return Path(base) / "cache.sqlite"
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg else Path.home() / ".cache"
    return root / "tnx-timeloop" / "cache.sqlite"


def canonical(obj: Any) -> Any:
    """A JSON-able, order-independent view of specs and settings (for hashing)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"__type__": type(obj).__name__, **{f.name: canonical(getattr(obj, f.name)) for f in dataclasses.fields(obj)}}
    if isinstance(obj, dict):
        return {str(k): canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (frozenset, set)):
        return sorted((canonical(x) for x in obj), key=json.dumps)
    if isinstance(obj, (list, tuple)):
        return [canonical(x) for x in obj]
    if isinstance(obj, np.ndarray):
        return canonical(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return repr(f) if not math.isfinite(f) else f
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Path):
        return str(obj)
    return obj


def cache_key(*parts: Any) -> str:
    """sha256 of the canonical JSON of ``parts`` plus the package version."""
    from tnx_timeloop import __version__

    text = json.dumps([__version__, *[canonical(p) for p in parts]], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class EvaluationCache:
    """A key -> JSON value store in SQLite, safe for concurrent processes.

    Parameters
    ----------
    path : Path or str, optional
        The database file (created with its folder); default :func:`default_cache_path`.
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn: sqlite3.Connection | None = None
        self.hits = 0
        self.misses = 0

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            for _ in range(50):
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute(_SCHEMA)
                    break
                except sqlite3.OperationalError:
                    time.sleep(0.05)
            self._conn = conn
        return self._conn

    def get(self, key: str) -> Any | None:
        """The value stored under ``key``, or None."""
        row = self._retry(lambda db: db.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone())
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(row[0])

    def put(self, key: str, value: Any, kind: str = "result") -> None:
        """Store ``value`` (JSON-able) under ``key`` (atomically; the last writer wins)."""
        text = json.dumps(canonical(value))
        self._retry(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO entries (key, kind, value, created) VALUES (?, ?, ?, ?)",
                (key, kind, text, time.time()),
            )
        )

    def __len__(self) -> int:
        return int(self._retry(lambda db: db.execute("SELECT COUNT(*) FROM entries").fetchone())[0])

    def clear(self) -> None:
        self._retry(lambda db: db.execute("DELETE FROM entries"))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _retry(self, op: Any) -> Any:
        delay = 0.01
        for _ in range(100):
            try:
                return op(self._db())
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) and "busy" not in str(err):
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        return op(self._db())

    def __getstate__(self) -> dict:
        return {"path": self.path}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"])
