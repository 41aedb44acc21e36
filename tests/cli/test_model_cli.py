"""``tnx model``: table and JSON output, exit codes, and a clear one-line error for every kind of bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.conftest import case_inputs, case_summary
from tnx_timeloop.cli import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_table_and_json_report_contract():
    files = case_inputs("ey_conv3x3_c64m64_p14")
    r = run("model", *files)
    assert r.exit_code == 0, r.output
    assert "shared_glb" in r.output and "cycles 43,008" in r.output
    r = run("model", *files, "--json")
    d = json.loads(r.output)
    assert set(d) >= {"cycles", "energy_pj", "macs", "utilization", "edp", "levels", "compute"}
    assert d["cycles"] == 43008 and d["macs"] == 7225344
    assert d["energy_pj"] == pytest.approx(case_summary("ey_conv3x3_c64m64_p14")["energy_pJ"], rel=1e-9)
    assert [lv["name"] for lv in d["levels"]][0] == "DRAM"  # outermost first
    glb = d["levels"][1]
    assert set(glb) >= {"name", "instances", "utilized_instances", "energy_pj", "dataspaces"}
    assert set(glb["dataspaces"]["Inputs"]) == {"reads", "fills", "updates", "tile_words"}
    assert set(d["compute"]) == {"name", "instances", "utilized_instances", "energy_pj"}
    assert d["edp"] == pytest.approx(d["energy_pj"] * d["cycles"])


def _bad(tmp_path, case, edit):
    """Copy a case's inputs, apply ``edit(dict of name->text)``, run tnx model; return the result."""
    files = {}
    for f in case_inputs(case, with_energy=False):
        files[f.name] = f.read_text()
    edit(files)
    paths = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        paths.append(tmp_path / name)
    return CliRunner().invoke(cli, ["model", *map(str, paths)])


@pytest.mark.parametrize("edit,expect", [
    (lambda f: f.update({"arch.yaml": f["arch.yaml"].replace("subtree:", "subtree: [", 1)}), "malformed YAML"),
    (lambda f: f.update({"problem.yaml": f["problem.yaml"].replace("instance:", "instanse:")}), "unknown key 'instanse'"),
    (lambda f: f.update({"problem.yaml": f["problem.yaml"].replace("    K: 48\n", "")}), "dimension 'K' is missing from instance"),
    (lambda f: f.update({"mapping.yaml": f["mapping.yaml"].replace("K=24", "K=12")}), "factors multiply to 24, but its bound is 48"),
    (lambda f: f.update({"mapping.yaml": f["mapping.yaml"].replace("permutation: NKM", "permutation: NKX")}), "unknown dimension"),
    (lambda f: f.update({"mapping.yaml": f["mapping.yaml"].replace("target: MainMemory", "target: L3", 1)}), "unknown target 'L3'"),
])
def test_bad_input_is_one_clear_error(tmp_path, edit, expect):
    r = _bad(tmp_path, "t16_gemm_m128n96k48", edit)
    assert r.exit_code == 2, r.output
    assert expect in r.output
    assert "Traceback" not in r.output


def test_missing_file_exit_2(tmp_path):
    r = CliRunner().invoke(cli, ["model", str(tmp_path / "nope.yaml")])
    assert r.exit_code == 2 and "file not found" in r.output


def test_tile_that_does_not_fit_is_invalid_not_a_number(tmp_path):
    # give the 2048-word Buffer the whole GEMM: tiles of A, B and Z far exceed it
    def edit(f):
        f["mapping.yaml"] = (
            "mapping:\n"
            "  - {target: MainMemory, type: temporal, factors: M=1 N=1 K=1, permutation: MNK}\n"
            "  - {target: Buffer, type: temporal, factors: M=128 N=96 K=48, permutation: MNK}\n"
        )
    r = _bad(tmp_path, "t16_gemm_m128n96k48", edit)
    assert r.exit_code == 2
    assert "invalid" in r.output and "capacity is 8192" in r.output
    r2 = CliRunner().invoke(cli, ["model", *[str(tmp_path / n) for n in ("arch.yaml", "problem.yaml", "mapping.yaml")], "--json"])
    d = json.loads(r2.stdout)
    assert d == {"valid": False, "invalid_reason": d["invalid_reason"]} and "Buffer" in d["invalid_reason"]


def test_spatial_factors_beyond_fanout_are_invalid(tmp_path):
    def edit(f):
        f["mapping.yaml"] = (
            "mapping:\n"
            "  - {target: MainMemory, type: temporal, factors: C=64 M=4 R=3 S=3 P=14 Q=14, permutation: CMRSPQ}\n"
            "  - {target: GlobalBuffer, type: spatial, factors: M=16, permutation: M}\n"
        )
    r = _bad(tmp_path, "mapper_s16_conv3x3_c64m64_p14", edit)
    assert r.exit_code == 0, r.output  # 16 PEs: fits exactly
    def edit2(f):
        f["mapping.yaml"] = (
            "mapping:\n"
            "  - {target: MainMemory, type: temporal, factors: C=32 M=4 R=3 S=3 P=14 Q=14, permutation: CMRSPQ}\n"
            "  - {target: GlobalBuffer, type: spatial, factors: M=16 C=2, permutation: MC}\n"
        )
    r = _bad(tmp_path, "mapper_s16_conv3x3_c64m64_p14", edit2)
    assert r.exit_code == 2 and "spatial X factors multiply to 32, its X fan-out is 16" in r.output


def test_reference_method_gives_the_same_numbers():
    files = case_inputs("sb_conv3x3_n4")
    a = json.loads(run("model", *files, "--json").output)
    b = json.loads(run("model", *files, "--json", "--method", "reference").output)
    assert a == b


def test_map_with_an_unknown_or_missing_backend_is_a_clear_error(monkeypatch):
    files = case_inputs("ey_conv3x3_c64m64_p14", with_energy=False)
    r = CliRunner().invoke(cli, ["map", *map(str, files), "--backend", "nonsense"])
    assert r.exit_code == 2 and "unknown backend 'nonsense'" in r.output, r.output
    monkeypatch.setenv("PATH", "/nonexistent")
    r = CliRunner().invoke(cli, ["map", *map(str, files), "--backend", "timeloop"])
    assert r.exit_code == 2 and "backend 'timeloop' is not available" in r.output, r.output
