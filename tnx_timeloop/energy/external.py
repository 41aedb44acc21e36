"""Energies from external estimators: hwcomponents (Python >= 3.12) or the ``accelergy`` command.

:func:`external_energy` is what :func:`~tnx_timeloop.energy.tables.select_energy` calls for the
sources ``"hwcomponents"`` and ``"accelergy"``. Every storage level and the compute level get
per-action energies (pJ per vector access, Timeloop's meaning) and an area (um^2) from the
chosen source; a component the source does not know (hwcomponents has no register-file or
floating-point MAC model) or cannot estimate (a broken CACTI binary) falls back on the next
source of ``fallback`` — by default the built-in tables — and its ``source`` label says so
and why. A component no source knows raises :class:`~tnx_timeloop.errors.EnergyError`
naming its class and every source tried.

hwcomponents runs in its own interpreter (it needs Python >= 3.12), through
:mod:`tnx_timeloop.energy._hwcomponents_worker`: ``$TNX_HWCOMPONENTS_PYTHON``, else
``$TNX_ACCELFORGE_PYTHON``, else ``/work/venvs/af312/bin/python``, else ``python3.12`` —
the first that imports ``hwcomponents``. All components of an architecture are asked in one
process (about 1-3 s; CACTI answers are cached on disk by hwcomponents).

Accelergy is run as ``accelergy arch.yaml -o out`` on the architecture in v0.4 form; its
``ERT.yaml``/``ART.yaml`` are read as Timeloop reads them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tnx_timeloop._external import DEFAULT_PY312_CANDIDATES, find_python, run_tool, tail
from tnx_timeloop.energy.builtin import estimate_component, parse_technology
from tnx_timeloop.energy.ert import ActionTable, parse_art, parse_ert
from tnx_timeloop.energy.tables import ArchEnergy, LevelEnergy, _component_attributes
from tnx_timeloop.errors import EnergyError, SpecError, TnxError
from tnx_timeloop.spec.arch import Architecture, ComputeLevel, StorageLevel, architecture_to_dict
from tnx_timeloop.spec.yaml_io import dump_yaml, load_yaml_file

__all__ = [
    "EXTERNAL_SOURCES",
    "HwQuery",
    "Estimate",
    "external_energy",
    "hwcomponents_query",
    "hwcomponents_energy",
    "accelergy_energy",
    "HWCOMPONENTS_ENV_VARS",
]

log = logging.getLogger(__name__)

EXTERNAL_SOURCES = ("hwcomponents", "accelergy")
"""Sources this module serves; ``"tables"`` is accepted as a fallback."""

HWCOMPONENTS_ENV_VARS = ("TNX_HWCOMPONENTS_PYTHON", "TNX_ACCELFORGE_PYTHON")
"""Environment variables naming an interpreter with hwcomponents, tried in order."""

_WORKER = Path(__file__).with_name("_hwcomponents_worker.py")
_DEFAULT_TECH_NM = 45.0
_DRAM_TYPES = {"lpddr4": "lpddr4", "lpddr": "lpddr", "ddr3": "ddr3", "hbm2": "hbm2", "hbm3": "hbm3", "hbm4": "hbm4"}
_SRAM_CLASSES = {"sram": "sram", "storage": "sram", "smartbuffer_sram": "smart_buffer_sram"}
_REGISTER_CLASSES = {"reg_storage", "register", "reg", "aladdin_register"}
_MAC_CLASSES = {"intmac", "mac", "lmac", "compute"}

Level = StorageLevel | ComputeLevel


@dataclass(frozen=True, slots=True)
class Estimate:
    """Energies of one component from one source.

    Attributes
    ----------
    actions_pj : dict of str to float
        ``read``/``fill``/``update`` (storage) or ``mac`` (compute), pJ per action.
    area_um2 : float or None
        Area of one instance.
    source : str
        Where the figures come from, e.g. ``"hwcomponents:SRAM@45nm"``.
    """

    actions_pj: dict[str, float]
    area_um2: float | None
    source: str


@dataclass(frozen=True, slots=True)
class HwQuery:
    """One hwcomponents question: a component name, its attributes and the actions wanted.

    Attributes
    ----------
    component : str
        hwcomponents component name (``"sram"``, ``"lpddr4"``, ``"intmac"``, ...).
    attributes : dict
        hwcomponents attributes (``tech_node`` in m, ``width``/``depth``/``size`` in bits
        and words, ``multiplier_width``...).
    actions : dict of str to str
        Our action (``read``, ``fill``, ``update``, ``mac``) -> hwcomponents action.
    cacti : bool
        Whether CACTI answers it (SRAMs).
    """

    component: str
    attributes: dict[str, Any]
    actions: dict[str, str]
    cacti: bool = False


def _class_key(level: Level) -> str:
    if level.subclass and level.subclass.lower() in {*_SRAM_CLASSES, *_REGISTER_CLASSES, *_MAC_CLASSES, "dram"}:
        return level.subclass.lower()
    return level.class_name.lower()


def _tech_m(attrs: dict[str, Any]) -> float:
    value = attrs.get("technology")
    return (parse_technology(value) if value is not None else _DEFAULT_TECH_NM) / 1e9


def hwcomponents_query(level: Level) -> HwQuery | None:
    """The hwcomponents question for a level, or None when hwcomponents has no model for its class.

    Known: DRAM (types LPDDR4, LPDDR, DDR3, HBM2/3/4), SRAM / smartbuffer_SRAM / storage
    (CACTI), registers of depth 1, integer MACs. Storage widths and depths follow the
    built-in tables' reading of the attributes (``width`` or word-bits x block-size bits
    per access; ``depth`` = words / block-size).

    Raises
    ------
    EnergyError
        For an invalid ``technology`` attribute.
    """
    attrs = _component_attributes(level)
    key = _class_key(level)
    if isinstance(level, ComputeLevel):
        if key not in _MAC_CLASSES:
            return None
        mult = int(attrs.get("multiplier_width") or attrs.get("datawidth") or level.word_bits)
        adder = int(attrs.get("adder_width") or mult)
        return HwQuery("intmac", {"tech_node": _tech_m(attrs), "multiplier_width": mult, "adder_width": adder},
                       {"mac": "mac"})
    width = int(attrs.get("width") or level.word_bits * level.block_size)
    if level.is_dram:
        dram = _DRAM_TYPES.get(str(attrs.get("type", "LPDDR4")).lower())
        if dram is None:
            return None
        return HwQuery(dram, {"width": width}, {"read": "read", "fill": "write", "update": "write"})
    depth = int(attrs.get("depth", 1))
    if key in _REGISTER_CLASSES and depth <= 1:
        return HwQuery("register", {"tech_node": _tech_m(attrs), "width": width},
                       {"read": "read", "fill": "write", "update": "write"})
    if key in _SRAM_CLASSES:
        ports = int(attrs.get("n_rdwr_ports") or attrs.get("n_rw_ports") or (2 if key == "smartbuffer_sram" else 1))
        return HwQuery(
            _SRAM_CLASSES[key],
            {"tech_node": _tech_m(attrs), "width": width, "depth": depth, "size": width * depth, "n_rw_ports": ports},
            {"read": "read", "fill": "write", "update": "write"},
            cacti=True,
        )
    return None


# --------------------------------------------------------------------------- sources


def _levels(arch: Architecture) -> list[Level]:
    return [*arch.storage, arch.compute]


def _hwcomponents_estimates(
    arch: Architecture, *, python: str | None, timeout_s: float
) -> dict[str, Estimate | str]:
    """Level name -> Estimate, or the reason hwcomponents could not estimate it."""
    finding = find_python(
        "hwcomponents",
        env_vars=HWCOMPONENTS_ENV_VARS if python is None else (),
        candidates=(python,) if python else DEFAULT_PY312_CANDIDATES,
    )
    if finding.python is None:
        raise EnergyError(
            "energy source 'hwcomponents' needs the hwcomponents package in a Python >= 3.12 "
            f"({finding.why}); install it with `python3.12 -m venv V && V/bin/pip install hwcomponents "
            "hwcomponents-cacti hwcomponents-library hwcomponents-neurosim` and set TNX_HWCOMPONENTS_PYTHON=V/bin/python, "
            "or choose --energy tables"
        )
    out: dict[str, Estimate | str] = {}
    queries: dict[str, HwQuery] = {}
    for level in _levels(arch):
        if isinstance(level, StorageLevel) and level.is_dummy:
            continue
        query = hwcomponents_query(level)
        if query is None:
            out[level.name] = f"hwcomponents has no model for class {level.class_name!r}"
        else:
            queries[level.name] = query
    if not queries:
        return out
    request = {"queries": [
        {"id": name, "component": q.component, "attributes": q.attributes,
         "actions": sorted(set(q.actions.values())), "cacti": q.cacti}
        for name, q in queries.items()
    ]}
    workdir = Path(tempfile.mkdtemp(prefix="tnx_hwcomponents_"))
    argv = [finding.python, str(_WORKER)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = run_tool(argv, cwd=workdir, timeout_s=timeout_s, input_text=json.dumps(request), env=env,
                    what="hwcomponents worker", error=EnergyError)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    try:
        result = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        result = None
    if not isinstance(result, dict) or not result.get("ok"):
        message = result.get("message") if isinstance(result, dict) else "no JSON result"
        (workdir / "worker.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
        raise EnergyError(
            f"energy source 'hwcomponents' failed: {message}\ncommand: {' '.join(argv)}\n"
            f"exit status: {proc.returncode}\nworking directory: {workdir}\nlast output:\n{tail(proc.stderr)}"
        )
    shutil.rmtree(workdir, ignore_errors=True)
    cacti = result.get("cacti", {})
    if cacti.get("status") not in ("ok", "unused"):
        log.warning("hwcomponents: CACTI is %s, SRAM energies fall back: %s", cacti.get("status"), cacti.get("hint"))
    for item in result.get("results", []):
        name = item["id"]
        if not item.get("ok"):
            out[name] = f"hwcomponents failed: {item.get('error') or 'unknown error'}"
            continue
        q = queries[name]
        joules = item["energy_j"]
        tech = q.attributes.get("tech_node")
        label = f"hwcomponents:{item.get('model') or q.component}" + (f"@{round(tech * 1e9, 3):g}nm" if tech else "")
        area = item.get("area_m2")
        out[name] = Estimate(
            {ours: float(joules[theirs]) * 1e12 for ours, theirs in q.actions.items()},
            None if area is None else float(area) * 1e12,
            label,
        )
    return out


def _accelergy_estimates(arch: Architecture, *, timeout_s: float, command: str = "accelergy") -> dict[str, Estimate | str]:
    """Level name -> Estimate from the ``accelergy`` command's ERT/ART, or why not."""
    if shutil.which(command) is None:
        raise EnergyError(
            f"energy source 'accelergy' needs the {command!r} command on PATH "
            "(pip install accelergy, plus its plug-ins), or choose --energy tables or hwcomponents"
        )
    workdir = Path(tempfile.mkdtemp(prefix="tnx_accelergy_"))
    (workdir / "arch.yaml").write_text(dump_yaml({"architecture": architecture_to_dict(arch)}), encoding="utf-8")
    argv = [command, "arch.yaml", "-o", "out"]
    proc = run_tool(argv, cwd=workdir, timeout_s=timeout_s, what="accelergy", error=EnergyError)
    ert_path, art_path = workdir / "out" / "ERT.yaml", workdir / "out" / "ART.yaml"
    if proc.returncode != 0 or not ert_path.is_file():
        raise EnergyError(
            f"accelergy failed (exit status {proc.returncode}); command: {' '.join(argv)}; "
            f"working directory (kept): {workdir}\nlast output:\n{tail(proc.stderr) or tail(proc.stdout)}"
        )
    try:
        table = parse_ert(load_yaml_file(ert_path)["ERT"])
        if art_path.is_file():
            table = table.merged(parse_art(load_yaml_file(art_path)["ART"]))
    except (SpecError, KeyError, TypeError) as err:
        raise EnergyError(f"cannot read accelergy's output in {workdir / 'out'}: {err}") from err
    shutil.rmtree(workdir, ignore_errors=True)
    return _from_table(arch, table, "accelergy")


def _from_table(arch: Architecture, table: ActionTable, label: str) -> dict[str, Estimate | str]:
    out: dict[str, Estimate | str] = {}
    for level in _levels(arch):
        acts = table.actions(level.name)
        area = table.area(level.name)
        if isinstance(level, ComputeLevel):
            mac = next((acts[a] for a in ("mac_random", "compute", "mac") if a in acts), None)
            out[level.name] = Estimate({"mac": mac}, area, label) if mac is not None else f"{label} gave no MAC action"
        elif "read" in acts and ("write" in acts or "update" in acts):
            write = acts.get("write", acts.get("update"))
            out[level.name] = Estimate(
                {"read": acts["read"], "fill": write, "update": acts.get("update", write)}, area, label
            )
        else:
            out[level.name] = f"{label} gave no read/write actions for {level.name!r}"
    return out


def _tables_estimate(level: Level) -> Estimate:
    est = estimate_component(level.class_name, _component_attributes(level), subclass=level.subclass)
    acts = est.actions_pj
    if isinstance(level, ComputeLevel):
        return Estimate({"mac": acts["mac_random"]}, est.area_um2, est.source)
    return Estimate(
        {"read": acts["read"], "fill": acts["write"], "update": acts.get("update", acts["write"])},
        est.area_um2,
        est.source,
    )


# --------------------------------------------------------------------------- entry points


def external_energy(
    arch: Architecture,
    source: str,
    *,
    fallback: Sequence[str] = ("tables",),
    python: str | None = None,
    timeout_s: float = 600.0,
) -> ArchEnergy:
    """Per-action energies of ``arch`` from hwcomponents or Accelergy, falling back per component.

    Parameters
    ----------
    arch : Architecture
        The architecture.
    source : {"hwcomponents", "accelergy"}
        The preferred source.
    fallback : sequence of str
        Sources tried, in order, for components the preferred one does not know; only
        ``"tables"`` (the built-in tables) is available as a fallback. ``()`` makes every
        unknown component an error.
    python : str, optional
        hwcomponents interpreter (default: found as described in the module notes).
    timeout_s : float
        Seconds before the external process is killed.

    Returns
    -------
    ArchEnergy
        Storage energies in pJ per vector access (read, fill = write, update) and per-instance
        areas in um^2; ``source`` of each level says which estimator answered, and for a
        fallback why the preferred one did not.

    Raises
    ------
    EnergyError
        When the source is unknown or not installed, its process fails, or no source knows a
        component's class (the message names the class and the sources tried with their
        reasons).
    """
    key = source.lower()
    if key not in EXTERNAL_SOURCES:
        raise EnergyError(f"unknown external energy source {source!r}; choose one of {list(EXTERNAL_SOURCES)}")
    bad = [f for f in fallback if f != "tables"]
    if bad:
        raise EnergyError(f"unknown fallback source(s) {bad}; only 'tables' can be a fallback")
    if key == "hwcomponents":
        found = _hwcomponents_estimates(arch, python=python, timeout_s=timeout_s)
    else:
        found = _accelergy_estimates(arch, timeout_s=timeout_s)
    return _assemble(arch, key, found, fallback)


def hwcomponents_energy(arch: Architecture, **kwargs: Any) -> ArchEnergy:
    """:func:`external_energy` with ``source="hwcomponents"``."""
    return external_energy(arch, "hwcomponents", **kwargs)


def accelergy_energy(arch: Architecture, **kwargs: Any) -> ArchEnergy:
    """:func:`external_energy` with ``source="accelergy"``."""
    return external_energy(arch, "accelergy", **kwargs)


def _assemble(
    arch: Architecture, key: str, found: dict[str, Estimate | str], fallback: Sequence[str]
) -> ArchEnergy:
    fallbacks: dict[str, Callable[[Level], Estimate]] = {"tables": _tables_estimate}

    def resolve(level: Level) -> Estimate:
        first = found.get(level.name, f"{key} gave nothing")
        if isinstance(first, Estimate):
            return first
        tried = [f"{key} ({first})"]
        for name in fallback:
            try:
                est = fallbacks[name](level)
            except TnxError as err:
                tried.append(f"{name} ({err})")
                continue
            log.info("%s: %s; using %s", level.name, first, name)
            short = first.split(";")[0][:100]
            return Estimate(est.actions_pj, est.area_um2, f"{est.source} [fallback, {short}]")
        raise EnergyError(
            f"no energy source knows component {level.name!r} of class {level.class_name!r}"
            + (f" (subclass {level.subclass!r})" if level.subclass else "")
            + "; tried: " + "; ".join(tried)
        )

    storage = []
    for level in arch.storage:
        if level.is_dummy:
            storage.append(LevelEnergy(0.0, 0.0, 0.0, 0.0, "dummy"))
            continue
        est = resolve(level)
        a = est.actions_pj
        storage.append(LevelEnergy(a["read"], a["fill"], a["update"], est.area_um2, est.source))
    compute = resolve(arch.compute)
    return ArchEnergy(tuple(storage), compute.actions_pj["mac"], compute.area_um2, compute.source)
