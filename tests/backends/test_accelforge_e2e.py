"""End-to-end: translate, run AccelForge through the worker, read the figures back.

Skipped unless an interpreter with AccelForge 1.0.467 is found: ``$TNX_ACCELFORGE_PYTHON``
or ``/work/venvs/af312/bin/python`` (see docs/accelforge.md for the install). The
worker is run by file path, as the backend will, so tnx_timeloop need not be installed
in that environment. About 15-25 s in all.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tnx_timeloop.backends import accelforge_translate as T

ORACLE = Path(__file__).resolve().parents[1] / "data" / "oracle"
WORKER = Path(T.__file__).with_name("_accelforge_worker.py")
DEFAULT_PYTHON = "/work/venvs/af312/bin/python"
CLOCK_HZ = 1e9
PE = 16 * 16


def _find_python() -> tuple[str | None, str]:
    """The AccelForge interpreter, or None and why not."""
    python = os.environ.get("TNX_ACCELFORGE_PYTHON", DEFAULT_PYTHON)
    if not Path(python).is_file():
        return None, f"no AccelForge interpreter at {python} (set TNX_ACCELFORGE_PYTHON)"
    try:
        proc = subprocess.run(
            [python, "-c", "import importlib.metadata as m; print(m.version('accelforge'))"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, f"{python} does not run: {err}"
    if proc.returncode != 0:
        return None, f"accelforge is not installed for {python}"
    return python, proc.stdout.strip()


PYTHON, WHY = _find_python()
pytestmark = pytest.mark.skipif(PYTHON is None, reason=WHY)


def _run(request: dict[str, Any], timeout_s: float = 600) -> tuple[int, dict[str, Any]]:
    assert PYTHON is not None
    proc = subprocess.run(
        [PYTHON, str(WORKER)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, (
        f"worker stdout is not one JSON line:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    )
    return proc.returncode, json.loads(lines[0])


def _energies() -> dict[str, dict[str, float]]:
    ert = yaml.safe_load((ORACLE / "t16_gemm_m128n96k48" / "inputs" / "ERT.yaml").read_text())
    return {
        "DRAM": T.ert_energies_pj(ert, "MainMemory", per_word=4),  # block-size 4
        "Buffer": T.ert_energies_pj(ert, "Buffer", per_word=4),
        "MAC": T.ert_energies_pj(ert, "MACC"),
    }


def _arch(tensor_names: dict[str, str]) -> T.ArchTranslation:
    e = _energies()
    levels = [
        {"name": "DRAM", "class": "DRAM", "word_bits": 16,
         "energy_pj": {"read": e["DRAM"]["read"], "write": e["DRAM"]["write"]}},
        {"name": "Buffer", "class": "SRAM", "size_words": 32768, "word_bits": 16,  # 64 KiB
         "energy_pj": {"read": e["Buffer"]["read"], "write": e["Buffer"]["write"]}},
        {"name": "MAC", "class": "intmac", "word_bits": 16, "instances": PE, "meshX": 16,
         "energy_pj": {"compute": e["MAC"]["mac_random"]}},
    ]  # fmt: skip
    return T.translate_arch(levels, clock_hz=CLOCK_HZ, tensor_names=tensor_names)


GEMM = {
    "problem": {
        "shape": {
            "name": "GEMM",
            "dimensions": ["M", "N", "K"],
            "data-spaces": [
                {"name": "A", "projection": [[["M"]], [["K"]]]},
                {"name": "B", "projection": [[["K"]], [["N"]]]},
                {"name": "Z", "projection": [[["M"]], [["N"]]], "read-write": True},
            ],
        },
        "instance": {"M": 64, "N": 64, "K": 64},
    }
}


def _conv() -> dict[str, Any]:
    return yaml.safe_load((ORACLE / "t16_conv3x3_c16m16_p8" / "inputs" / "problem.yaml").read_text())


@pytest.fixture(scope="module")
def gemm() -> tuple[T.WorkloadTranslation, dict[str, Any]]:
    w = T.translate_problem(GEMM, bits_per_value=16)
    code, raw = _run({"mode": "map", "arch": _arch(w.tensor_names).arch, "workload": w.workload})
    assert code == 0 and raw["ok"], raw.get("message")
    return w, raw


@pytest.fixture(scope="module")
def conv() -> tuple[T.WorkloadTranslation, dict[str, Any]]:
    w = T.translate_problem(_conv(), bits_per_value=16)
    request = {
        "mode": "map",
        "arch": _arch(w.tensor_names).arch,
        "workload": w.workload,
        "options": {"ffm": {"explore_loop_orders": False}},  # same result, ~2x faster
    }
    code, raw = _run(request)
    assert code == 0 and raw["ok"], raw.get("message")
    return w, raw


def _check_sane(
    w: T.WorkloadTranslation, raw: dict[str, Any], tensor_words: dict[str, int], output: str
) -> T.AccelForgeFigures:
    """Hand-derived bounds any valid mapping on the 3-level arch must satisfy."""
    f = T.figures_from_result(raw, clock_hz=CLOCK_HZ, tensor_names=w.tensor_names)
    e = _energies()
    assert f.macs == w.macs
    assert w.macs / PE <= f.latency_cycles <= w.macs  # at best every PE busy, at worst one
    dram = f.accesses_words["DRAM"]
    for name, words in tensor_words.items():
        action = "write" if name == output else "read"
        assert dram[name][action] >= words  # each tensor crosses the chip boundary at least once
    floor_pj = w.macs * e["MAC"]["mac_random"] + sum(tensor_words.values()) * e["DRAM"]["read"]
    assert f.energy_pj >= floor_pj * (1 - 1e-9)
    # AccelForge sums in reduced precision: parts and total agree to ~1e-8, not exactly
    assert math.isclose(sum(f.energy_by_component_pj.values()), f.energy_pj, rel_tol=1e-6)
    assert raw["workdir"] is None and raw["versions"]["accelforge"] == "1.0.467"
    return f


def test_gemm_maps_with_sane_figures(gemm: tuple[T.WorkloadTranslation, dict[str, Any]]) -> None:
    w, raw = gemm
    f = _check_sane(w, raw, {"A": 64 * 64, "B": 64 * 64, "Z": 64 * 64}, output="Z")
    # 64 KiB holds all of A, B and Z: the energy-best mapping reads each once from DRAM
    assert f.accesses_words["DRAM"]["A"]["read"] == 4096
    assert f.accesses_words["DRAM"]["B"]["read"] == 4096
    assert f.accesses_words["DRAM"]["Z"]["write"] == 4096


def test_conv_maps_with_sane_figures(conv: tuple[T.WorkloadTranslation, dict[str, Any]]) -> None:
    w, raw = conv
    # Inputs: C x (P+R-1) x (Q+S-1) = 16 x 10 x 10
    f = _check_sane(
        w, raw, {"Weights": 16 * 16 * 9, "Inputs": 16 * 10 * 10, "Outputs": 16 * 8 * 8}, output="Outputs"
    )
    assert set(f.accesses_words) == {"DRAM", "Buffer"}


def test_evaluating_the_found_mapping_reproduces_it(
    gemm: tuple[T.WorkloadTranslation, dict[str, Any]],
) -> None:
    w, raw = gemm
    request = {
        "mode": "evaluate",
        "arch": _arch(w.tensor_names).arch,
        "workload": w.workload,
        "mapping": raw["mappings"][0]["mapping"],
    }
    code, again = _run(request)
    assert code == 0 and again["ok"], again.get("message")
    first = T.figures_from_result(raw, clock_hz=CLOCK_HZ, tensor_names=w.tensor_names)
    second = T.figures_from_result(again, clock_hz=CLOCK_HZ, tensor_names=w.tensor_names)
    assert second.latency_cycles == first.latency_cycles
    assert second.energy_pj == pytest.approx(first.energy_pj, rel=1e-9)
    assert second.accesses_words == first.accesses_words


def test_bad_option_is_a_json_error_listing_the_allowed_fields() -> None:
    w = T.translate_problem(GEMM)
    request = {
        "mode": "map",
        "arch": _arch(w.tensor_names).arch,
        "workload": w.workload,
        "options": {"ffm": {"explore_loop_ordres": False}},
    }
    code, raw = _run(request)
    assert code == 1 and raw["ok"] is False
    assert "unknown field(s) ['explore_loop_ordres']" in raw["message"]
    assert "explore_loop_orders" in raw["message"]


def test_probe_reports_versions_and_cacti_state() -> None:
    code, raw = _run({"mode": "probe"})
    assert code == 0 and raw["ok"]
    assert raw["versions"]["accelforge"] == "1.0.467"
    assert raw["cacti"]["status"] in {"ok", "broken", "missing"}
    if raw["cacti"]["status"] != "ok":
        assert "make -C" in raw["cacti"]["hint"]
