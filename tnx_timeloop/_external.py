"""Running external tools: one subprocess helper and a finder for a Python >= 3.12 with a package.

Every external tool (``timeloop-model``, ``timeloop-mapper``, ``accelergy``, the AccelForge and
hwcomponents workers) runs through :func:`run_tool`, which follows the project's subprocess
rules (STYLE.md 8.7): an argv list (never a shell), a timeout, captured text output,
``check=False``, and an error naming the command, the exit status, the tail of the log and
the working directory.

AccelForge and hwcomponents need Python >= 3.12 while the package runs on 3.11, so they run
in their own interpreter; :func:`find_python` locates one that can import a given module.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tnx_timeloop.errors import BackendError, TnxError

__all__ = ["PythonFinding", "find_python", "run_tool", "tail", "DEFAULT_PY312_CANDIDATES"]

DEFAULT_PY312_CANDIDATES: tuple[str, ...] = (
    "/work/venvs/af312/bin/python",
    "python3.12",
    "/root/.pyenv/versions/3.12.1/bin/python3.12",
)
"""Interpreters tried, in order, after the environment variable (a name is looked up on PATH)."""

_PROBE = (
    "import importlib.metadata as m, importlib.util as u, sys\n"
    "name, dist = sys.argv[1], sys.argv[2]\n"
    "if sys.version_info < (3, 12):\n"
    "    print('python', '.'.join(map(str, sys.version_info[:3]))); sys.exit(3)\n"
    "if u.find_spec(name) is None:\n"
    "    print('missing', name); sys.exit(4)\n"
    "try:\n"
    "    print('ok', m.version(dist))\n"
    "except m.PackageNotFoundError:\n"
    "    print('ok', 'unknown')\n"
)


def tail(text: str | bytes | None, limit: int = 2048) -> str:
    """The last ``limit`` characters of a tool's output (decoded if needed)."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return text[-limit:]


def run_tool(
    argv: Sequence[str],
    *,
    cwd: str | Path,
    timeout_s: float,
    input_text: str | None = None,
    env: Mapping[str, str] | None = None,
    what: str = "external tool",
    error: type[TnxError] = BackendError,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in ``cwd`` and return the finished process (any exit status).

    Parameters
    ----------
    argv : sequence of str
        The command; ``argv[0]`` is looked up on ``PATH``.
    cwd : str or Path
        Working directory (kept by the caller on failure).
    timeout_s : float
        Seconds before the process is killed.
    input_text : str, optional
        Text written to the process' stdin.
    env : mapping, optional
        Environment; default: the current one.
    what : str
        What is being run, for messages (``"timeloop-model"``).
    error : type
        The error class raised (``BackendError``, or ``EnergyError`` for energy sources).

    Returns
    -------
    subprocess.CompletedProcess
        With ``stdout``/``stderr`` as text. The caller checks ``returncode``.

    Raises
    ------
    TnxError
        Of class ``error`` when the program is missing or cannot start, or on timeout (with
        the partial output's tail and the working directory).
    """
    command = shlex.join(argv)
    try:
        return subprocess.run(  # noqa: S603 - argv list, no shell
            list(argv),
            cwd=str(cwd),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            env=dict(env) if env is not None else None,
        )
    except FileNotFoundError as err:
        raise _error(error, f"{what}: {argv[0]!r} not found ({err.strerror})", command, None, None, cwd) from err
    except PermissionError as err:
        raise _error(error, f"{what}: {argv[0]!r} is not executable", command, None, None, cwd) from err
    except subprocess.TimeoutExpired as err:
        log = tail(err.stderr) + tail(err.stdout)
        raise _error(error, f"{what} timed out after {timeout_s:g} s", command, None, log, cwd) from err
    except OSError as err:
        raise _error(error, f"{what} could not start: {err}", command, None, None, cwd) from err


def _error(
    cls: type[TnxError], message: str, command: str, code: int | None, log: str | None, cwd: str | Path
) -> TnxError:
    if issubclass(cls, BackendError):
        return cls(message, command=command, returncode=code, log_tail=log, workdir=str(cwd))
    parts = [message, f"command: {command}"]
    if code is not None:
        parts.append(f"exit status: {code}")
    parts.append(f"working directory: {cwd}")
    if log:
        parts.append("last output:\n" + log[-2048:])
    return cls("\n".join(parts))


@dataclass(frozen=True, slots=True)
class PythonFinding:
    """The result of :func:`find_python`.

    Attributes
    ----------
    python : str or None
        Path of an interpreter that imports the module, or None.
    version : str
        The distribution's version when found (``"1.0.467"``), else ``""``.
    tried : tuple of str
        ``"<candidate>: <outcome>"`` per candidate, for messages.
    """

    python: str | None
    version: str
    tried: tuple[str, ...]

    @property
    def why(self) -> str:
        """A one-paragraph reason when nothing was found ('' otherwise)."""
        if self.python:
            return ""
        return "no Python >= 3.12 with it was found; tried " + "; ".join(self.tried)


def find_python(
    module: str,
    *,
    env_vars: Sequence[str] = (),
    candidates: Sequence[str] = DEFAULT_PY312_CANDIDATES,
    distribution: str | None = None,
) -> PythonFinding:
    """Find a Python >= 3.12 that can import ``module``.

    Parameters
    ----------
    module : str
        Importable name, e.g. ``"accelforge"``.
    env_vars : sequence of str
        Environment variables naming an interpreter, tried first in order
        (e.g. ``TNX_ACCELFORGE_PYTHON``). A variable that is set but names an unusable
        interpreter is reported, and the search goes on.
    candidates : sequence of str
        Interpreter paths or names on ``PATH`` tried afterwards.
    distribution : str, optional
        Distribution whose version is reported (default: ``module``).

    Returns
    -------
    PythonFinding
        The first working interpreter (or None) and what was tried.

    Notes
    -----
    Each probe starts one interpreter (about 20-50 ms; the module is located with
    ``importlib.util.find_spec``, not imported). Results are cached per process for the
    same arguments and environment values.
    """
    env_values = tuple((name, os.environ.get(name)) for name in env_vars)
    return _find_python_cached(module, env_values, tuple(candidates), distribution or module)


@functools.cache
def _find_python_cached(
    module: str, env_values: tuple[tuple[str, str | None], ...], candidates: tuple[str, ...], dist: str
) -> PythonFinding:
    tried: list[str] = []
    ordered: list[tuple[str, str]] = [(f"${name}={value}", value) for name, value in env_values if value]
    ordered += [(c, c) for c in candidates]
    seen: set[str] = set()
    for label, candidate in ordered:
        path = candidate if os.sep in candidate else shutil.which(candidate)
        if path is None or not Path(path).is_file():
            tried.append(f"{label}: not found")
            continue
        if path in seen:
            continue
        seen.add(path)
        try:
            proc = subprocess.run(  # noqa: S603 - argv list, no shell
                [path, "-c", _PROBE, module, dist],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            tried.append(f"{label}: does not run ({err})")
            continue
        words = proc.stdout.split()
        if proc.returncode == 0 and words[:1] == ["ok"]:
            return PythonFinding(path, words[1] if len(words) > 1 else "unknown", tuple(tried))
        if words[:1] == ["python"]:
            tried.append(f"{label}: Python {words[1]} < 3.12")
        elif words[:1] == ["missing"]:
            tried.append(f"{label}: {module} not installed")
        else:
            tried.append(f"{label}: probe failed ({tail(proc.stderr, 200).strip() or proc.returncode})")
    return PythonFinding(None, "", tuple(tried))
