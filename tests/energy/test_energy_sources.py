"""Energy sources on whole architectures: built-in tables, hwcomponents, Accelergy, and ``tnx energy``.

* Quantization: through ``select_energy("tables")`` a 4-bit MAC costs less than an 8-bit one,
  and so does the whole layer.
* The table source reproduces every oracle ERT entry Timeloop used (read, write, mac_random)
  within 10 % on every oracle architecture.
* hwcomponents (in its own Python >= 3.12) gives its figures, falls back on the tables with a
  label for classes it has no model of, and says so when CACTI is broken.
* Accelergy: the ``accelergy`` command is not installed here; a stand-in that writes an oracle
  ERT checks the plumbing, the real one runs where installed.
* A class no source knows is an error naming the class and the sources tried.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import ORACLE, case_inputs, oracle_cases
from tnx_timeloop import api
from tnx_timeloop._external import find_python
from tnx_timeloop.backends.native import NativeBackend
from tnx_timeloop.cli import cli
from tnx_timeloop.energy import external
from tnx_timeloop.energy.ert import component_key
from tnx_timeloop.energy.external import HWCOMPONENTS_ENV_VARS, external_energy, hwcomponents_query
from tnx_timeloop.energy.tables import select_energy
from tnx_timeloop.errors import EnergyError
from tnx_timeloop.spec.arch import parse_architecture
from tnx_timeloop.spec.mapping import parse_mapping
from tnx_timeloop.spec.problem import parse_problem

TOLERANCE = 0.10
MODEL_CASES = oracle_cases("model")


def _arch(mac_bits: int = 8, buffer_class: str = "SRAM", dram_type: str = "LPDDR4"):
    return parse_architecture({
        "version": 0.3,
        "subtree": [{
            "name": "system",
            "attributes": {"technology": "45nm"},
            "local": [
                {"name": "DRAM", "class": "DRAM",
                 "attributes": {"type": dram_type, "width": 64, "block-size": 4, "word-bits": 16}},
                {"name": "Buffer", "class": buffer_class,
                 "attributes": {"depth": 32768, "width": 16, "block-size": 1, "word-bits": 16}},
            ],
            "subtree": [{"name": "PE[0..15]", "local": [
                {"name": "MAC", "class": "intmac", "attributes": {"datawidth": mac_bits, "adder_width": 2 * mac_bits,
                                                                  "meshX": 16}},
            ]}],
        }],
    })


# --------------------------------------------------------------------------- built-in tables


def test_a_4_bit_mac_costs_less_than_an_8_bit_one() -> None:
    e4 = select_energy(_arch(4), "tables")
    e8 = select_energy(_arch(8), "tables")
    e16 = select_energy(_arch(16), "tables")
    assert 0 < e4.compute_pj < e8.compute_pj < e16.compute_pj
    assert e4.compute_pj < 0.5 * e8.compute_pj  # the multiplier dominates and grows ~ bits^2
    problem = parse_problem({
        "shape": {"name": "GEMM", "dimensions": ["M", "N", "K"], "data-spaces": [
            {"name": "A", "projection": [[["M"]], [["K"]]]},
            {"name": "B", "projection": [[["K"]], [["N"]]]},
            {"name": "Z", "projection": [[["M"]], [["N"]]], "read-write": True}]},
        "instance": {"M": 16, "N": 16, "K": 16},
    })
    reports = []
    for bits in (4, 8):
        arch = _arch(bits)
        mapping = parse_mapping([{"target": "Buffer", "type": "spatial", "factors": "M=16"},
                                 {"target": "Buffer", "type": "temporal", "factors": "N=16 K=16"}], arch, problem)
        reports.append(NativeBackend().evaluate(arch, problem, mapping, energy=select_energy(arch, "tables")))
    assert reports[0].compute_energy_pj[0] < reports[1].compute_energy_pj[0]
    assert reports[0].energy_pj[0] < reports[1].energy_pj[0]


def _ert_maxima(case: str) -> dict[str, dict[str, float]]:
    import yaml

    table: dict[str, dict[str, float]] = {}
    for entry in yaml.safe_load((ORACLE / case / "inputs" / "ERT.yaml").read_text())["ERT"]["tables"]:
        name = component_key(entry["name"])
        for action in entry["actions"]:
            acts = table.setdefault(name, {})
            acts[action["name"]] = max(acts.get(action["name"], 0.0), float(action["energy"]))
    return table


@pytest.mark.parametrize("case", MODEL_CASES)
def test_table_source_reproduces_the_oracle_ert_within_10_percent(case: str) -> None:
    spec = api.load_spec(case_inputs(case))
    tables = select_energy(spec.arch, "tables")
    used = select_energy(spec.arch, "ert", spec.energy_table)  # what Timeloop charged
    ert = _ert_maxima(case)
    compared, problems = 0, []
    for level, ours, theirs in zip(spec.arch.storage, tables.storage, used.storage, strict=True):
        if theirs.source != "ERT":  # e.g. a register class with only an 'access' action: Timeloop ignores it
            continue
        for what, a, b in (("read", ours.read_pj, theirs.read_pj), ("write", ours.fill_pj, theirs.fill_pj)):
            compared += 1
            assert b == ert[level.name][what]
            if abs(a - b) > TOLERANCE * b:
                problems.append(f"{level.name}.{what}: tables {a:.4g} pJ, ERT {b:.4g} pJ ({ours.source})")
    compared += 1
    if abs(tables.compute_pj - used.compute_pj) > TOLERANCE * used.compute_pj:
        problems.append(f"{spec.arch.compute.name}: tables {tables.compute_pj:.4g}, ERT {used.compute_pj:.4g}")
    assert compared >= 3
    assert not problems, "\n".join(problems)


def test_table_source_gives_energies_close_enough_for_whole_reports() -> None:
    spec = api.load_spec(case_inputs("ey_conv3x3_c16m16_p8_rs_hand"))
    ert = api.evaluate(spec, energy="ert")
    tables = api.evaluate(spec, energy="tables")
    assert tables.energy_pj[0] == pytest.approx(ert.energy_pj[0], rel=TOLERANCE)
    np.testing.assert_array_equal(tables.reads, ert.reads)


# --------------------------------------------------------------------------- errors & fallback


def _odd_arch():
    arch = _arch(8, buffer_class="weird_buffer")
    assert arch.storage[1].class_name == "weird_buffer"
    return arch


def test_unknown_class_names_the_class_and_the_sources_tried() -> None:
    found = {"DRAM": "hwcomponents failed: x", "Buffer": "hwcomponents has no model for class 'weird_buffer'",
             "MAC": "hwcomponents failed: x"}
    with pytest.raises(EnergyError, match=r"no energy source knows component 'Buffer' of class 'weird_buffer'; "
                                          r"tried: hwcomponents \(hwcomponents has no model .*\); "
                                          r"tables \(no built-in energy table for class 'weird_buffer'"):
        external._assemble(_odd_arch(), "hwcomponents", found, ("tables",))
    with pytest.raises(EnergyError, match="no built-in energy table for class 'weird_buffer'; known classes"):
        select_energy(_odd_arch(), "tables")


def test_fallback_is_labelled() -> None:
    arch = api.load_spec(case_inputs("t8_conv1d_os")).arch
    found = {"MainMemory": "hwcomponents failed: boom", "Buffer": "hwcomponents has no model for class 'regfile'",
             "MACC": external.Estimate({"mac": 0.5}, 10.0, "hwcomponents:AladdinIntMAC@45nm")}
    energy = external._assemble(arch, "hwcomponents", found, ("tables",))
    assert energy.compute_pj == 0.5 and energy.compute_source == "hwcomponents:AladdinIntMAC@45nm"
    assert energy.storage[1].source.startswith("builtin:regfile")
    assert "[fallback, hwcomponents has no model for class 'regfile']" in energy.storage[1].source
    tables = select_energy(arch, "tables")
    assert energy.storage[1].read_pj == tables.storage[1].read_pj
    with pytest.raises(EnergyError, match="tried: hwcomponents"):
        external._assemble(arch, "hwcomponents", found, ())


def test_bad_source_and_fallback_names() -> None:
    arch = _arch()
    with pytest.raises(EnergyError, match="choose one of"):
        select_energy(arch, "cacti")
    with pytest.raises(EnergyError, match=r"only 'tables' can be a fallback"):
        external_energy(arch, "hwcomponents", fallback=("ert",))


def test_hwcomponents_queries() -> None:
    arch = _arch(8)
    dram, sram, mac = hwcomponents_query(arch.storage[0]), hwcomponents_query(arch.storage[1]), hwcomponents_query(arch.compute)
    assert dram is not None and dram.component == "lpddr4" and dram.attributes == {"width": 64}
    assert sram is not None and sram.cacti and sram.component == "sram"
    assert sram.attributes == {"tech_node": 45e-9, "width": 16, "depth": 32768, "size": 16 * 32768, "n_rw_ports": 1}
    assert mac is not None and mac.attributes == {"tech_node": 45e-9, "multiplier_width": 8, "adder_width": 16}
    assert hwcomponents_query(_arch(8, buffer_class="regfile").storage[1]) is None
    assert hwcomponents_query(_arch(8, dram_type="DDR4").storage[0]) is None


# --------------------------------------------------------------------------- hwcomponents

HW = find_python("hwcomponents", env_vars=HWCOMPONENTS_ENV_VARS)
needs_hwcomponents = pytest.mark.skipif(HW.python is None, reason=f"hwcomponents is not installed: {HW.why}")


@needs_hwcomponents
def test_hwcomponents_figures() -> None:
    energy = select_energy(_arch(8), "hwcomponents")
    dram, sram = energy.storage
    assert dram.read_pj == pytest.approx(8.0 * 64) and dram.source == "hwcomponents:LPDDR4"
    assert energy.compute_pj == pytest.approx(1.03, rel=0.05)  # 8b multiplier + 16b adder @45nm
    assert energy.compute_source.startswith("hwcomponents:AladdinIntMAC@45nm")
    if sram.source.startswith("hwcomponents:"):  # CACTI works: 64 KB SRAM, 16-bit read ~16.4 pJ
        assert sram.read_pj == pytest.approx(16.4, rel=0.1) and sram.area_um2 > 0
    else:
        assert "[fallback, hwcomponents failed: CACTI binary" in sram.source
    e4 = select_energy(_arch(4), "hwcomponents")
    assert e4.compute_pj < energy.compute_pj


@needs_hwcomponents
def test_hwcomponents_falls_back_for_register_files() -> None:
    arch = api.load_spec(case_inputs("t8_conv1d_os")).arch
    energy = select_energy(arch, "hwcomponents")
    assert energy.storage[0].source == "hwcomponents:LPDDR4"
    assert energy.storage[1].source.startswith("builtin:regfile") and "fallback" in energy.storage[1].source


@needs_hwcomponents
def test_hwcomponents_unknown_class_error() -> None:
    with pytest.raises(EnergyError, match=r"class 'weird_buffer'; tried: hwcomponents .*; tables"):
        select_energy(_odd_arch(), "hwcomponents")


@needs_hwcomponents
def test_broken_cacti_is_detected(tmp_path: Path) -> None:
    broken = tmp_path / "cacti"
    broken.write_text("#!/bin/sh\necho \"cacti: /lib/x86_64-linux-gnu/libc.so.6: version 'GLIBC_2.38' not found\" >&2\nexit 1\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    query = hwcomponents_query(_arch().storage[1])
    assert query is not None
    request = {"cacti_binary": str(broken), "queries": [
        {"id": "Buffer", "component": query.component, "attributes": query.attributes,
         "actions": ["read", "write"], "cacti": True}]}
    proc = subprocess.run([HW.python, str(Path(external.__file__).with_name("_hwcomponents_worker.py"))],
                          input=json.dumps(request), capture_output=True, text=True, timeout=300, check=False,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["cacti"]["status"] == "broken"
    (item,) = result["results"]
    assert not item["ok"] and "CACTI binary broken" in item["error"] and "GLIBC_2.38" in item["error"]
    assert "make -C" in item["error"]


# --------------------------------------------------------------------------- accelergy

ACCELERGY_STAND_IN = """#!{python}
import shutil, sys
from pathlib import Path
args = sys.argv[1:]
out = Path(args[args.index("-o") + 1])
out.mkdir(parents=True, exist_ok=True)
assert "architecture:" in Path(args[0]).read_text()
shutil.copy({ert!r}, out / "ERT.yaml")
shutil.copy({art!r}, out / "ART.yaml")
"""


def test_accelergy_plumbing_with_a_stand_in(tmp_path: Path, monkeypatch) -> None:
    case = "t16_gemm_m128n96k48"
    script = tmp_path / "accelergy"
    script.write_text(ACCELERGY_STAND_IN.format(python=sys.executable, ert=str(ORACLE / case / "inputs" / "ERT.yaml"),
                                                art=str(ORACLE / case / "inputs" / "ART.yaml")))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    spec = api.load_spec(case_inputs(case))
    energy = select_energy(spec.arch, "accelergy")
    ert = select_energy(spec.arch, "ert", spec.energy_table)
    assert [e.read_pj for e in energy.storage] == [e.read_pj for e in ert.storage]
    assert [e.area_um2 for e in energy.storage] == [e.area_um2 for e in ert.storage]
    assert energy.compute_pj == ert.compute_pj and energy.compute_source == "accelergy"


@pytest.mark.skipif(shutil.which("accelergy") is not None, reason="accelergy is installed here")
def test_missing_accelergy_is_explained() -> None:
    with pytest.raises(EnergyError, match="needs the 'accelergy' command on PATH"):
        select_energy(_arch(), "accelergy")


@pytest.mark.skipif(shutil.which("accelergy") is None, reason="the accelergy command is not installed")
def test_real_accelergy_gives_positive_energies() -> None:
    energy = select_energy(_arch(8), "accelergy")
    assert all(e.read_pj > 0 for e in energy.storage) and energy.compute_pj > 0


# --------------------------------------------------------------------------- tnx energy


def test_tnx_energy_table_and_json() -> None:
    files = [str(p) for p in case_inputs("t8_conv1d_os")[:1]]
    runner = CliRunner()
    result = runner.invoke(cli, ["energy", *files, "--energy", "tables"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["component", "class", "action", "pJ/action", "area", "um^2", "source"]
    assert any(line.startswith("MACC") and "mac" in line and "builtin:intmac" in line for line in lines)
    result = runner.invoke(cli, ["energy", *files, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    rows = {(r["component"], r["action"]): r for r in data["components"]}
    assert rows[("MainMemory", "read")]["energy_pj"] == 200.0 * 64 / 16  # Timeloop's built-in DRAM model
    assert rows[("MACC", "mac")]["source"] == "timeloop-builtin"


def test_tnx_energy_with_an_ert_and_bad_input() -> None:
    inp = ORACLE / "t8_conv1d_os" / "inputs"
    runner = CliRunner()
    result = runner.invoke(cli, ["energy", str(inp / "arch.yaml"), str(inp / "ERT.yaml"), str(inp / "ART.yaml"),
                                 "--energy", "ert", "--json"])
    assert result.exit_code == 0, result.output
    rows = {(r["component"], r["action"]): r for r in json.loads(result.output)["components"]}
    assert rows[("Buffer", "read")]["energy_pj"] == 9.4394 and rows[("Buffer", "read")]["area_um2"] == 22406.0
    result = runner.invoke(cli, ["energy", str(inp / "arch.yaml"), "--energy", "ert"])
    assert result.exit_code == 2 and "energy source 'ert' needs an ERT file" in result.output
    result = runner.invoke(cli, ["energy", str(inp / "nope.yaml")])
    assert result.exit_code == 2 and "file not found" in result.output
