"""The results folder of a study: layout, atomic writes, the append-only journal, CSV and Parquet.

Layout of ``DIR`` (``tnx study run STUDY.yaml --out DIR``)::

    study.yaml              the study file as given
    config.json             the resolved configuration (absolute paths, file digests) and its hash
    manifest.json           config hash, kind, the task list (index, key, label)
    provenance.json         versions, git revision, host, seeds, backends, energy sources; one entry per run
    journal.jsonl           one JSON line per finished task, appended and fsync'ed as each finishes
    artifacts/KEY/...       files a task produced (mappings, timelines), written before its journal line
    results.csv/.parquet    one row per evaluation, in task order
    TABLE.csv/.parquet      further tables of the kind (e.g. breakdown: per level and data-space)
    tables/*.md, plots/*.png|svg, report.md
    cache.sqlite            the evaluation cache of the study (``cache: study``)

The journal is the record of what is done: a task counts as finished when its line is
in the file. A run killed while writing leaves at most one partial last line, which
readers ignore and :func:`repair_journal` cuts before new lines are appended. Every
other file is written to a temporary name and renamed (atomic on POSIX).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "JOURNAL",
    "MANIFEST",
    "CONFIG",
    "PROVENANCE",
    "JournalEntry",
    "atomic_write_text",
    "atomic_write_bytes",
    "append_journal",
    "read_journal",
    "repair_journal",
    "columns_of",
    "rows_to_csv",
    "write_table",
    "read_csv_rows",
    "artifact_dir",
]

JOURNAL = "journal.jsonl"
MANIFEST = "manifest.json"
CONFIG = "config.json"
PROVENANCE = "provenance.json"


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One finished task as recorded in the journal.

    Attributes
    ----------
    key : str
        The task key (sha256 of its parameters).
    index : int
        Position of the task in the study's task list (the order of the result rows).
    label : str
        Human-readable task name.
    seconds : float
        Wall time of the task, s (not part of the results tables: it varies run to run).
    run : int
        Which run (1 = first, 2 = first resume, ...) computed it.
    result : dict
        ``rows``, ``tables``, ``meta``, ``artifacts`` (names) of the task.
    """

    key: str
    index: int
    label: str
    seconds: float
    run: int
    result: dict[str, Any]

    def to_json(self) -> str:
        """One journal line (no newline)."""
        return json.dumps({"key": self.key, "index": self.index, "label": self.label, "seconds": self.seconds,
                           "run": self.run, "result": self.result}, default=_json_default)


def _json_default(x: Any) -> Any:
    import numpy as np

    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, (tuple, set, frozenset)):
        return list(x)
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename (never a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def append_journal(out_dir: Path, entry: JournalEntry) -> None:
    """Append one line to the journal and flush it to disk before returning."""
    line = entry.to_json() + "\n"
    with open(Path(out_dir) / JOURNAL, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_journal(out_dir: Path) -> list[JournalEntry]:
    """Finished tasks, first record of each key, in file order (a torn or garbled line is skipped)."""
    path = Path(out_dir) / JOURNAL
    if not path.exists():
        return []
    seen: set[str] = set()
    out: list[JournalEntry] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            entry = JournalEntry(str(d["key"]), int(d["index"]), str(d["label"]), float(d["seconds"]),
                                 int(d["run"]), dict(d["result"]))
        except (ValueError, KeyError, TypeError):
            continue
        if entry.key in seen:
            continue
        seen.add(entry.key)
        out.append(entry)
    return out


def repair_journal(out_dir: Path) -> int:
    """Cut a partial last line (a run killed while writing); return the bytes removed."""
    path = Path(out_dir) / JOURNAL
    if not path.exists():
        return 0
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    keep = data.rfind(b"\n") + 1
    with open(path, "r+b") as fh:
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    return len(data) - keep


def artifact_dir(out_dir: Path, key: str) -> Path:
    """Folder of a task's artifacts (the first 16 hex digits of its key)."""
    return Path(out_dir) / "artifacts" / key[:16]


# ---------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------


def columns_of(rows: Iterable[Mapping[str, Any]], first: Sequence[str] = ()) -> list[str]:
    """Column names: ``first`` (those present), then every other key in order of first appearance."""
    seen: dict[str, None] = {}
    rows = list(rows)
    present = {k for r in rows for k in r}
    for k in first:
        if k in present:
            seen[k] = None
    for r in rows:
        for k in r:
            seen.setdefault(k, None)
    return list(seen)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
    if isinstance(value, (list, tuple)):
        return " ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def rows_to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """CSV text (header + rows; floats as ``repr``, so equal results give equal bytes)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in columns])
    return buf.getvalue()


def _arrow_type(values: list[Any]) -> str:
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return "string"
    if kinds <= {bool}:
        return "bool"
    if kinds <= {int}:
        return "int64"
    if kinds <= {int, float}:
        return "float64"
    return "string"


def write_parquet(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Path | None:
    """Write a Parquet file of the rows (None when pyarrow is not installed)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    arrays = {}
    for c in columns:
        values = [r.get(c) for r in rows]
        kind = _arrow_type(values)
        if kind == "string":
            values = [None if v is None else _cell(v) for v in values]
        elif kind == "float64":
            values = [None if v is None else float(v) for v in values]
        arrays[c] = pa.array(values, type=getattr(pa, kind)() if kind != "bool" else pa.bool_())
    table = pa.table(arrays)
    buf = pa.BufferOutputStream()
    pq.write_table(table, buf)
    return atomic_write_bytes(path, buf.getvalue().to_pybytes())


def write_table(out_dir: Path, name: str, rows: Sequence[Mapping[str, Any]],
                first: Sequence[str] = ()) -> list[Path]:
    """Write ``NAME.csv`` and (with pyarrow) ``NAME.parquet``; the files written."""
    cols = columns_of(rows, first)
    paths = [atomic_write_text(Path(out_dir) / f"{name}.csv", rows_to_csv(rows, cols))]
    pq_path = write_parquet(Path(out_dir) / f"{name}.parquet", rows, cols)
    if pq_path is not None:
        paths.append(pq_path)
    return paths


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file as dicts of strings."""
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))
