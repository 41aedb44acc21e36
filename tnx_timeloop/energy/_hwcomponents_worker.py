"""Ask hwcomponents for energies and areas: read JSON on stdin, print one JSON line on stdout.

Runs inside a Python >= 3.12 environment that has ``hwcomponents`` (and its model
packages), started by :mod:`tnx_timeloop.energy.external` by file path::

    /work/venvs/af312/bin/python _hwcomponents_worker.py < request.json

It imports only the standard library and ``hwcomponents``, so tnx_timeloop need not be
installed there.

Request: ``{"queries": [{"id": str, "component": str, "attributes": {...},
"actions": [str, ...], "cacti": bool}], "cacti_binary": path (optional)}``. ``cacti`` marks
queries answered by the CACTI plug-in (SRAMs); they are skipped with a clear reason when the
CACTI binary does not run (the ``hwcomponents-cacti`` wheel's binary needs glibc 2.38).
``cacti_binary`` checks another binary than the package's (e.g. a rebuilt one).

Result: ``{"ok": true, "versions": {...}, "cacti": {"status", "detail", "hint"},
"results": [{"id", "ok", "energy_j": {action: J}, "area_m2": float | null,
"model": str, "error": str}]}``; on a failure of the whole request ``ok`` is false with
``message``. Energies are J per action, areas m^2, as hwcomponents returns them.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["cacti_status", "answer", "main"]

CACTI_HINT = (
    "rebuild CACTI from the sources shipped in hwcomponents_cacti: "
    'D="$({py} -c \'import hwcomponents_cacti, os; '
    'print(os.path.join(os.path.dirname(hwcomponents_cacti.__file__), "cacti"))\')"; '
    'make -C "$D" clean_dbg && make -C "$D" -j2 opt'
)


def cacti_status(timeout_s: float = 20.0, binary: str | Path | None = None) -> dict[str, str]:
    """Whether the CACTI binary runs here (``status``: ok, broken or missing).

    ``binary`` defaults to the one inside hwcomponents_cacti. A working binary answers
    ``-infile <missing file>`` with "... is missing"; one built for a newer glibc fails in
    the dynamic loader.
    """
    if binary is None:
        spec = importlib.util.find_spec("hwcomponents_cacti")
        if spec is None or spec.origin is None:
            return {"status": "missing", "detail": "hwcomponents_cacti is not installed",
                    "hint": "pip install hwcomponents-cacti"}
        binary = Path(spec.origin).parent / "cacti" / "cacti"
    binary = Path(binary)
    hint = CACTI_HINT.format(py=sys.executable)
    if not binary.is_file():
        return {"status": "missing", "detail": f"no binary at {binary}", "hint": hint}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            proc = subprocess.run(
                [str(binary), "-infile", os.path.join(tmp, "missing.cfg")],
                cwd=binary.parent, capture_output=True, text=True, timeout=timeout_s, check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            return {"status": "broken", "detail": repr(err), "hint": hint}
    out = (proc.stdout + proc.stderr).strip()
    if "is missing" in out:
        return {"status": "ok", "detail": "", "hint": ""}
    return {"status": "broken", "detail": out[-400:] or f"exit {proc.returncode}", "hint": hint}


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for dist in ("hwcomponents", "hwcomponents-cacti", "hwcomponents-library"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _last_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:500]


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """Serve one request (see the module docstring); returns the result dict."""
    import hwcomponents as hw

    queries = request.get("queries")
    if not isinstance(queries, list):
        raise ValueError("request needs a 'queries' list")
    if any(q.get("cacti") for q in queries):
        cacti = cacti_status(binary=request.get("cacti_binary"))
    else:
        cacti = {"status": "unused", "detail": "", "hint": ""}
    results = []
    for q in queries:
        item: dict[str, Any] = {"id": q.get("id"), "ok": False, "energy_j": {}, "area_m2": None, "model": "", "error": ""}
        if q.get("cacti") and cacti["status"] != "ok":
            item["error"] = f"CACTI binary {cacti['status']} ({cacti['detail'][-200:]}); {cacti['hint']}"
            results.append(item)
            continue
        component, attributes = str(q["component"]), dict(q.get("attributes") or {})
        try:
            for action in q.get("actions", []):
                est = hw.get_action_cost(component, attributes, action, {}, _return_estimation_object=True)
                item["energy_j"][action] = float(est.value.energy)
                item["model"] = str(getattr(est, "model_name", "") or item["model"])
            item["area_m2"] = float(hw.get_area(component, attributes))
            item["ok"] = True
        except Exception as err:  # noqa: BLE001 - one unknown component must not lose the others
            item["error"] = _last_line(err)
        results.append(item)
    return {"ok": True, "versions": _versions(), "cacti": cacti, "results": results}


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[int]:
    """Send fd 1 to fd 2 while hwcomponents runs; yield a descriptor of the real stdout."""
    sys.stdout.flush()
    real = os.dup(1)
    os.dup2(2, 1)
    try:
        yield real
    finally:
        sys.stdout.flush()
        os.dup2(real, 1)
        os.close(real)


def main() -> int:
    """Read a request on stdin, print one JSON result; 0 if ``ok``."""
    with _stdout_to_stderr() as real:
        try:
            request = json.loads(sys.stdin.read())
            result = answer(request if isinstance(request, dict) else {})
        except Exception as err:  # noqa: BLE001 - every failure becomes one JSON error result
            result = {"ok": False, "message": _last_line(err), "versions": _versions()}
        with os.fdopen(os.dup(real), "w") as out:
            out.write(json.dumps(result) + "\n")
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
