"""Run AccelForge on one request: read JSON on stdin, print one JSON result on stdout.

This script runs inside AccelForge's own Python >= 3.12 environment, started by the
main package (Python 3.11) through :mod:`subprocess`::

    /work/venvs/af312/bin/python /path/to/tnx_timeloop/backends/_accelforge_worker.py < request.json

It imports only the standard library, ``yaml`` and ``accelforge`` (the CACTI probe
finds hwcomponents_cacti's files without importing it), and works when run by file
path with tnx_timeloop not installed in that environment.

Request (one JSON object)
-------------------------
mode : ``"map"`` | ``"evaluate"`` | ``"probe"``
    ``map`` searches mappings (``Spec.map_workload_to_arch``); ``evaluate`` evaluates
    the given ``mapping`` (``Spec.evaluate_mapping``); ``probe`` reports versions,
    whether Graphviz ``dot`` is on PATH and whether the CACTI binary runs.
arch, workload, mapping : dict or str
    AccelForge documents: YAML text, or plain dicts in which a mapping with a ``type``
    key (``{"type": "Memory", ...}``) stands for a tagged node (``!Memory``). With or
    without the top key (``arch:``/``workload:``/``mapping:``).
jinja_parse_data : dict, optional
    Jinja variables for YAML text inputs.
options : dict, optional
    ``objective``: ``"energy"`` (default), ``"latency"``, ``"edp"`` or a list of
    AccelForge ``Metrics`` names; ``n_jobs`` (default 1); ``ffm``: FFM mapper fields
    (e.g. ``{"explore_loop_orders": false, "max_fused_loops": 1}``), unknown names are
    rejected with the allowed list; ``render_svg``: also write ``mapping.svg`` (needs
    ``dot``; default false); ``max_mappings``: how many mappings to return (default 1).
workdir : str, optional
    Directory for the YAML inputs and anything AccelForge writes (created if needed,
    kept). Default: a temporary directory removed after a successful run.

Result (one JSON object on stdout; exit status 0 if ``ok`` else 1)
------------------------------------------------------------------
``ok``, ``protocol``, ``mode``, ``versions``, ``seconds`` (``load``, ``map`` or
``evaluate``, ``detail``, ``total``), ``n_mappings``, ``total_mappings`` and
``valid_mappings`` (map mode), and ``mappings``: a list (best first) of
``{energy_j, latency_s, actions: [{einsum, component, tensor, action, count,
values_per_action}], energy: [{einsum, component, tensor, action, energy_j}],
latency: [{einsum, component, latency_s}], mapping: {...}}``. ``count`` is in
AccelForge's action units (each action moves ``values_per_action`` values); compute
actions have ``tensor: null``. On failure: ``ok: false``, ``error_type``, ``message``,
``hint`` (e.g. how to rebuild CACTI), ``traceback``.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

__all__ = ["PROTOCOL_VERSION", "run_request", "cacti_status", "main"]

PROTOCOL_VERSION = 1
"""Version of the JSON request/result format."""

_OBJECTIVES = {"energy": "ENERGY", "latency": "LATENCY", "edp": "ENERGY_DELAY_PRODUCT"}

CACTI_REBUILD_HINT = (
    "The CACTI binary shipped in the hwcomponents-cacti wheel needs glibc 2.38. Rebuild it "
    "from the sources in the package:\n"
    "  D=\"$({py} -c 'import hwcomponents_cacti, os; "
    'print(os.path.join(os.path.dirname(hwcomponents_cacti.__file__), "cacti"))\')"\n'
    '  make -C "$D" clean_dbg && make -C "$D" -j2 opt\n'
    "or give every component explicit energy/area/leak_power so CACTI is never called."
)


class WorkerError(Exception):
    """A request the worker cannot serve (bad input, unknown option)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


# --------------------------------------------------------------------------- probes


def cacti_status(timeout_s: float = 20.0, binary: str | Path | None = None) -> dict[str, Any]:
    """Check whether hwcomponents-cacti's CACTI binary runs on this machine.

    Runs ``cacti -infile <missing file>``: a working binary answers that the file is
    missing; a binary built for a newer glibc fails in the dynamic loader
    (``GLIBC_2.38 not found``).

    Parameters
    ----------
    timeout_s : float, default 20
        Seconds to wait for the binary.
    binary : str or Path, optional
        The binary to check; default: the one inside the installed hwcomponents_cacti.

    Returns
    -------
    dict
        ``{"status": "ok" | "broken" | "missing", "binary": path or None,
        "detail": str, "hint": str}``.
    """
    if binary is None:
        spec = importlib.util.find_spec("hwcomponents_cacti")
        if spec is None or spec.origin is None:
            return {
                "status": "missing",
                "binary": None,
                "detail": "hwcomponents_cacti is not installed",
                "hint": "pip install hwcomponents-cacti",
            }
        binary = Path(spec.origin).parent / "cacti" / "cacti"
    binary = Path(binary)
    if not binary.is_file():
        return {
            "status": "missing",
            "binary": str(binary),
            "detail": "no CACTI binary in the package",
            "hint": CACTI_REBUILD_HINT.format(py=sys.executable),
        }
    with tempfile.TemporaryDirectory() as tmp:
        try:
            proc = subprocess.run(
                [str(binary), "-infile", os.path.join(tmp, "no-such-input.cfg")],
                cwd=binary.parent,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            return {
                "status": "broken",
                "binary": str(binary),
                "detail": repr(err),
                "hint": CACTI_REBUILD_HINT.format(py=sys.executable),
            }
    out = (proc.stdout + proc.stderr).strip()
    if "is missing" in out:
        return {"status": "ok", "binary": str(binary), "detail": out[-300:], "hint": ""}
    return {
        "status": "broken",
        "binary": str(binary),
        "detail": out[-600:] or f"exit {proc.returncode}",
        "hint": CACTI_REBUILD_HINT.format(py=sys.executable),
    }


def _versions() -> dict[str, str | None]:
    """Versions of Python and of the AccelForge packages."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in (
        "accelforge",
        "hwcomponents",
        "hwcomponents-cacti",
        "hwcomponents-library",
        "hwcomponents-neurosim",
        "pyyaml",
    ):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


# --------------------------------------------------------------------------- inputs


class _Tagged(dict):  # type: ignore[type-arg]
    """A mapping dumped with a YAML tag taken from its ``type`` key (``!Memory``)."""


class _Dumper(yaml.SafeDumper):
    """SafeDumper writing :class:`_Tagged` mappings with their tag."""


def _represent_tagged(dumper: yaml.SafeDumper, data: _Tagged) -> yaml.MappingNode:
    return dumper.represent_mapping("!" + str(data["type"]), {k: v for k, v in data.items() if k != "type"})


_Dumper.add_representer(_Tagged, _represent_tagged)


def _tag_nodes(value: Any, in_nodes: bool = False) -> Any:
    """Copy ``value``, tagging the ``nodes`` list entries that have a ``type`` key.

    Only entries of a ``nodes`` list (arch and mapping nodes) are tagged, so that an
    attribute such as ``extra_attributes_for_component_model: {type: LPDDR4}`` stays a
    plain mapping.
    """
    if isinstance(value, dict):
        inner = {k: _tag_nodes(v, in_nodes=(k == "nodes")) for k, v in value.items()}
        return _Tagged(inner) if in_nodes and isinstance(value.get("type"), str) else inner
    if isinstance(value, (list, tuple)):
        return [_tag_nodes(v, in_nodes=in_nodes) for v in value]
    return value


def _write_doc(doc: Any, top_key: str, path: Path) -> Path:
    """Write one input document as YAML (text is written as given)."""
    if isinstance(doc, str):
        path.write_text(doc)
        return path
    if not isinstance(doc, dict):
        raise WorkerError(f"{top_key}: expected a YAML string or a JSON object, got {type(doc).__name__}")
    if top_key not in doc:
        doc = {top_key: doc}
    body = doc[top_key]
    if isinstance(body, dict) and "type" in body:  # the root is implied by the top key
        doc = {**doc, top_key: {k: v for k, v in body.items() if k != "type"}}
    path.write_text(yaml.dump(_tag_nodes(doc), Dumper=_Dumper, sort_keys=False))
    return path


# --------------------------------------------------------------------------- results


def _mapping_to_dict(node: Any) -> Any:
    """Serialise an AccelForge mapping node tree to plain data (``type`` = node class).

    ``Mapping.to_yaml()`` crashes in 1.0.467; this keeps what ``evaluate`` mode needs:
    storage nodes (tensors, component), loops (rank variable, tile shape; spatial loops
    also name and component) and compute nodes. Reservations are dropped.
    """
    kind = type(node).__name__
    if kind == "Reservation":
        return None
    out: dict[str, Any] = {"type": kind}
    if hasattr(node, "nodes") and kind != "Compute":
        children = [_mapping_to_dict(n) for n in node.nodes]
        out["nodes"] = [c for c in children if c is not None]
        return out
    for key in (
        "tensors",
        "component",
        "rank_variable",
        "tile_shape",
        "initial_tile_shape",
        "name",
        "einsum",
    ):
        if not hasattr(node, key):
            continue
        value = getattr(node, key)
        if value is None:
            continue
        if key == "tensors":
            value = [str(t) for t in value]
        elif key == "rank_variable" and isinstance(value, (set, frozenset)):
            value = sorted(str(v) for v in value)
        elif isinstance(value, (int, float, str)):
            value = value if not isinstance(value, float) or not value.is_integer() else int(value)
        else:
            value = str(value)
        out[key] = value
    return out


def _number(x: Any) -> float:
    """Return ``x`` as a Python float (``Infinity``/``NaN`` pass through to JSON)."""
    return float(x)


class _ValuesPerAction:
    """Values moved by one action of a component on a tensor, by AccelForge's own rule.

    ``values_per_action`` if the arch sets it, else ``bits_per_action /
    bits_per_value``; read from the spec evaluated for each einsum (cached).
    """

    def __init__(self, spec: Any) -> None:
        self._spec = spec
        self._evaluated: dict[str, Any] = {}

    def __call__(self, einsum: str, component: str, tensor: str, action: str) -> float:
        if einsum not in self._evaluated:
            self._evaluated[einsum] = self._spec._spec_eval_expressions(einsum_name=einsum)
        spec = self._evaluated[einsum]
        node = spec.arch.find(component)
        bpv = spec.workload.einsums[einsum].tensor_accesses[tensor].bits_per_value
        return float(node._get_values_per_action(action, tensor, bpv))


def _extract(mappings: Any, i: int, values_per_action: _ValuesPerAction) -> dict[str, Any]:
    """Figures of mapping ``i`` of an AccelForge ``Mappings`` as plain data."""
    one = mappings[i]
    energy = one.energy(per_einsum=True, per_component=True, per_tensor=True, per_action=True)
    actions = one.actions(per_einsum=True, per_component=True, per_tensor=True)
    latency = one.latency(per_einsum=True, per_component=True)
    action_rows = []
    for (einsum, comp, tensor, action), count in actions.items():
        is_tensor = tensor not in (None, "None")
        vpa = values_per_action(einsum, comp, tensor, action) if is_tensor else 1.0
        action_rows.append(
            {
                "einsum": einsum,
                "component": comp,
                "tensor": tensor if is_tensor else None,
                "action": action,
                "count": _number(count),
                "values_per_action": vpa,
            }
        )
    energy_rows = [
        {
            "einsum": e,
            "component": c,
            "tensor": t if t not in (None, "None") else None,
            "action": a,
            "energy_j": _number(v),
        }
        for (e, c, t, a), v in energy.items()
    ]
    latency_rows = [{"einsum": e, "component": c, "latency_s": _number(v)} for (e, c), v in latency.items()]
    try:
        mapping = _mapping_to_dict(one.mapping())
        mapping.pop("type", None)  # the root is the `mapping:` document itself
    except Exception as err:  # noqa: BLE001 - a mapping we cannot serialise must not lose the figures
        mapping = {"error": f"{type(err).__name__}: {err}"}
    return {
        "energy_j": _number(one.energy()),
        "latency_s": _number(one.latency()),
        "actions": action_rows,
        "energy": energy_rows,
        "latency": latency_rows,
        "mapping": mapping,
    }


# --------------------------------------------------------------------------- running


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[int]:
    """Send fd 1 to fd 2 while AccelForge runs; yield a descriptor for the real stdout."""
    sys.stdout.flush()
    real = os.dup(1)
    os.dup2(2, 1)
    try:
        yield real
    finally:
        sys.stdout.flush()
        os.dup2(real, 1)
        os.close(real)


def _set_options(spec: Any, af: Any, options: dict[str, Any]) -> None:
    """Apply ``objective`` and ``ffm`` options to a spec."""
    allowed = {"objective", "n_jobs", "ffm", "render_svg", "max_mappings"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise WorkerError(f"options: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    objective = options.get("objective", "energy")
    names = [objective] if isinstance(objective, str) else list(objective)
    metrics = None
    for name in names:
        member = _OBJECTIVES.get(str(name).lower(), str(name).upper())
        if member not in af.Metrics.__members__:
            raise WorkerError(
                f"options.objective: unknown {name!r}; use one of {sorted(_OBJECTIVES)} or "
                f"{sorted(af.Metrics.__members__)}"
            )
        m = af.Metrics[member]
        metrics = m if metrics is None else metrics | m
    spec.mapper.metrics = metrics
    ffm = options.get("ffm") or {}
    fields = type(spec.mapper).model_fields
    bad = sorted(k for k in ffm if k not in fields or k.startswith("_"))
    if bad:
        public = sorted(k for k in fields if not k.startswith("_"))
        raise WorkerError(f"options.ffm: unknown field(s) {bad}; allowed: {public}")
    for k, v in ffm.items():
        setattr(spec.mapper, k, v)


def _map(spec: Any, af: Any, options: dict[str, Any], seconds: dict[str, float]) -> Any:
    """Search mappings; evaluate the chosen ones in detail without rendering an SVG.

    ``Spec.map_workload_to_arch()`` in 1.0.467 renders every chosen mapping through
    Graphviz into ``./mapping.svg`` and fails without ``dot``; this runs the same steps
    (``eval_in_detail=False``, then ``evaluate_mapping`` per mapping) and renders only
    when ``render_svg`` is set.
    """
    from copy import deepcopy

    from accelforge._accelerated_imports import pd
    from accelforge.mapper.FFM.main import map_workload_to_arch
    from accelforge.model.main import evaluate_mapping
    from accelforge.util import _fillna_and__numeric_cast

    t0 = time.perf_counter()
    mappings = map_workload_to_arch(spec, print_progress=False, eval_in_detail=False)
    seconds["map"] = time.perf_counter() - t0
    if len(mappings.data) == 0:
        raise WorkerError("AccelForge found no valid mapping (does every tensor fit somewhere?)")
    t0 = time.perf_counter()
    keep = max(1, int(options.get("max_mappings", 1)))
    rows = []
    for i in range(min(keep, len(mappings.data))):
        local = deepcopy(spec)
        local.model.metrics = local.mapper.info_metrics
        local.mapping = mappings.data.iloc[i]["Total<SEP>mapping"](_for_model=True)
        if options.get("render_svg"):
            Path(f"mapping_{i}.svg").write_text(mappings[i].render())
        detail = evaluate_mapping(
            local, flattened_arches=mappings.flattened_arches, evaluated_specs=mappings.evaluated_specs
        )
        rows.append(detail.data)
    mappings.data = _fillna_and__numeric_cast(pd.concat(rows), 0)
    seconds["detail"] = time.perf_counter() - t0
    return mappings


def run_request(request: dict[str, Any]) -> dict[str, Any]:
    """Serve one request (see the module docstring) and return the result dict.

    Parameters
    ----------
    request : dict
        The parsed JSON request.

    Returns
    -------
    dict
        The JSON-ready result; ``ok`` tells success.
    """
    t_start = time.perf_counter()
    mode = request.get("mode", "map")
    result: dict[str, Any] = {"ok": False, "protocol": PROTOCOL_VERSION, "mode": mode}
    if mode == "probe":
        result.update(
            ok=True,
            versions=_versions(),
            dot=shutil.which("dot"),
            cacti=cacti_status(),
            python_executable=sys.executable,
        )
        return result
    if mode not in ("map", "evaluate"):
        raise WorkerError(f"mode: unknown {mode!r}; allowed: ['evaluate', 'map', 'probe']")
    allowed = {"mode", "arch", "workload", "mapping", "jinja_parse_data", "options", "workdir"}
    unknown = sorted(set(request) - allowed)
    if unknown:
        raise WorkerError(f"request: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    for key in ("arch", "workload") + (("mapping",) if mode == "evaluate" else ()):
        if key not in request:
            raise WorkerError(f"request: missing {key!r} (mode {mode!r})")
    options = dict(request.get("options") or {})

    given = request.get("workdir")
    workdir = Path(given) if given else Path(tempfile.mkdtemp(prefix="accelforge_"))
    workdir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    old_cwd = os.getcwd()
    os.chdir(workdir)
    try:
        t0 = time.perf_counter()
        import accelforge as af

        af.set_n_parallel_jobs(int(options.get("n_jobs", 1)))
        files = [
            _write_doc(request["arch"], "arch", workdir / "arch.yaml"),
            _write_doc(request["workload"], "workload", workdir / "workload.yaml"),
        ]
        if mode == "evaluate":
            files.append(_write_doc(request["mapping"], "mapping", workdir / "mapping.yaml"))
        spec = af.Spec.from_yaml(*files, jinja_parse_data=request.get("jinja_parse_data") or {})
        _set_options(spec, af, options)
        seconds["load"] = time.perf_counter() - t0
        if mode == "map":
            mappings = _map(spec, af, options, seconds)
            result["total_mappings"] = _number(getattr(mappings, "total_mappings", float("nan")))
            result["valid_mappings"] = _number(getattr(mappings, "valid_mappings", float("nan")))
        else:
            t0 = time.perf_counter()
            spec.model.metrics = af.Metrics.all_metrics()
            mappings = spec.evaluate_mapping()
            seconds["evaluate"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        n = min(len(mappings.data), max(1, int(options.get("max_mappings", 1))))
        vpa = _ValuesPerAction(spec)
        result["mappings"] = [_extract(mappings, i, vpa) for i in range(n)]
        result["n_mappings"] = n
        seconds["extract"] = time.perf_counter() - t0
        result["ok"] = True
    finally:
        os.chdir(old_cwd)
        seconds["total"] = time.perf_counter() - t_start
        result["seconds"] = seconds
        result["workdir"] = str(workdir)
    if result["ok"] and not given:
        shutil.rmtree(workdir, ignore_errors=True)
        result["workdir"] = None
    result["versions"] = _versions()
    return result


def _error_result(err: BaseException, mode: Any) -> dict[str, Any]:
    """Build the JSON result for a failed request, with a hint where one is known."""
    message = f"{err}"
    hint = getattr(err, "hint", "")
    if "CACTI" in message or "cacti" in message:
        status = cacti_status()
        if status["status"] != "ok":
            hint = status["hint"]
            message += f"\nCACTI probe: {status['status']}: {status['detail']}"
    if "dot" in message and "not found" in message:
        hint = "Graphviz is missing: apt-get install -y graphviz, or leave options.render_svg false."
    return {
        "ok": False,
        "protocol": PROTOCOL_VERSION,
        "mode": mode,
        "error_type": type(err).__name__,
        "message": message,
        "hint": hint,
        "traceback": traceback.format_exc()[-4000:],
    }


def main(argv: list[str] | None = None) -> int:
    """Read one JSON request from stdin, print one JSON result; return the exit status.

    Parameters
    ----------
    argv : list of str, optional
        ``["--probe"]`` is a shortcut for ``{"mode": "probe"}`` without stdin.

    Returns
    -------
    int
        0 when the result says ``ok``, 1 otherwise.
    """
    args = sys.argv[1:] if argv is None else argv
    mode: Any = None
    with _stdout_to_stderr() as real_stdout:
        try:
            request = {"mode": "probe"} if args == ["--probe"] else json.loads(sys.stdin.read())
            if not isinstance(request, dict):
                raise WorkerError("the request must be a JSON object")
            mode = request.get("mode", "map")
            result = run_request(request)
        except Exception as err:  # noqa: BLE001 - every failure becomes one JSON error result
            result = _error_result(err, mode)
        text = json.dumps(result, allow_nan=True, default=str)
        with os.fdopen(os.dup(real_stdout), "w") as out:
            out.write(text + "\n")
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
