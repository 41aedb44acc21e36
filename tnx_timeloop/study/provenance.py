"""Provenance of a study run: package and dependency versions, git revision, Python, host, tools, settings.

:func:`collect_provenance` gathers what can be learnt about the environment without
side effects (a ``git`` subprocess with a timeout is the only external call). It never
fails: whatever cannot be determined is ``None``.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["DEPENDENCIES", "collect_provenance", "git_revision", "utc_now"]

DEPENDENCIES = ("numpy", "PyYAML", "click", "rich", "Jinja2", "networkx", "opt_einsum", "matplotlib", "pyarrow",
                "pymoo", "dask", "distributed", "torch", "onnx", "accelforge", "pytimeloop")
"""Distributions whose versions are recorded (None when not installed)."""


def utc_now() -> str:
    """The current time in UTC, ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def git_revision(path: Path) -> dict[str, Any] | None:
    """``{"commit", "describe", "dirty"}`` of the git checkout holding ``path``; None outside git."""
    git = shutil.which("git")
    if git is None:
        return None

    def run(*args: str) -> str | None:
        try:
            proc = subprocess.run([git, "-C", str(path), *args], capture_output=True, text=True, timeout=10,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    if commit is None:
        return None
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "describe": run("describe", "--always", "--dirty", "--tags"),
            "dirty": bool(status) if status is not None else None}


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _tool(name: str) -> str | None:
    return shutil.which(name)


def _energy_sources(cfg: Any) -> list[str]:
    """The energy sources a study's evaluations use, as named in the study or fixed by its kind."""
    body = cfg.body
    if cfg.kind in ("sweep", "native-vs-timeloop"):
        return list(body.energies)
    if cfg.kind == "tnn-dse":
        return [body.energy]
    if cfg.kind == "eenn":
        return ["tables (built-in per-action tables scaled to each core's technology and precision)"]
    return ["as each published comparison sets it (see the report and study/data/published.yaml)"]


def collect_provenance(cfg: Any, *, argv: Sequence[str] | None = None, executor: str = "local",
                       jobs: int = 1, scheduler: str | None = None) -> dict[str, Any]:
    """Everything that identifies how a study's results were produced.

    Parameters
    ----------
    cfg : StudyConfig
    argv : sequence of str, optional
        The command line (default ``sys.argv``).
    executor, jobs, scheduler
        How the run executes (recorded; they do not change results).
    """
    from tnx_timeloop import __version__

    package_dir = Path(__file__).resolve().parent.parent
    body = cfg.body
    return {
        "tnx_timeloop": {"version": __version__, "location": str(package_dir),
                         "git": git_revision(package_dir.parent)},
        "study": {"name": cfg.name, "kind": cfg.kind, "file": str(cfg.source), "config_hash": cfg.config_hash,
                  "git": git_revision(cfg.source.parent)},
        "seeds": list(cfg.seeds),
        "backends": list(getattr(body, "evaluators", ("native",))),
        "energy_sources": _energy_sources(cfg),
        "python": {"version": sys.version.split()[0], "implementation": platform.python_implementation(),
                   "executable": sys.executable},
        "dependencies": {d: _version(d) for d in DEPENDENCIES},
        "tools": {t: _tool(t) for t in ("timeloop-model", "timeloop-mapper", "accelergy", "git")},
        "host": {"name": platform.node(), "system": platform.platform(), "machine": platform.machine(),
                 "cpus": os.cpu_count()},
        "environment": {k: os.environ.get(k) for k in ("TNX_CACHE_DIR", "TNX_LIBRARY") if os.environ.get(k)},
        "command": list(argv if argv is not None else sys.argv),
        "executor": {"name": executor, "jobs": jobs, "scheduler": scheduler},
        "time_utc": utc_now(),
    }
