"""``tnx tn``: describe, paths, joint, compare-dense; JSON output; bad input exits 2 with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tnx_timeloop.cli import cli

ROOT = Path(__file__).resolve().parents[2]
W = ROOT / "workloads" / "tensorized"
SMALL_GRID = ["--grid", "rows=4,8", "--grid", "cols=4", "--grid", "tt_lanes=4", "--fixed", "glb_kib=64",
              "--fixed", "core_buffer_kib=16", "--fixed", "glb_bw=32", "--budget", "150", "--jobs", "1"]


def run(*args):
    return CliRunner().invoke(cli, ["tn", *map(str, args)], catch_exceptions=False)


def test_describe_json_and_text():
    r = run("describe", W / "formats-1024.yaml", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert [x["format"] for x in d["layers"]] == ["dense", "ttm", "tt", "tucker", "cp", "tr"]
    assert d["layers"][1]["compression"] > 100
    r = run("describe", W / "ttm-d4.yaml", "--training", "--set", "rank=4")
    assert r.exit_code == 0 and "backward" in r.output and "dG4" in r.output


def test_paths_on_an_einsum_json():
    r = run("paths", "--einsum", "x[b,j1,j2] * G1[i1,j1,r] * G2[r,i2,j2] -> y[b,i1,i2]", "--size", "b=8",
            "--size", "j1=4", "--size", "j2=4", "--size", "i1=4", "--size", "i2=4", "--size", "r=4",
            "--arch-set", "rows=4", "--arch-set", "cols=4", "--budget", "150", "--baselines", "optimal,greedy", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    layer = d["layers"][0]
    assert set(layer["results"]) == {"hardware", "optimal", "greedy"}
    hw = layer["results"]["hardware"]
    assert hw["cycles"] <= layer["results"]["optimal"]["cycles"] and hw["exact"]
    assert layer["gain_latency"] >= 1.0


def test_paths_text_with_two_engines_and_training():
    r = run("paths", W / "ttm-d4.yaml", "--set", "rank=4", "--set", "batch=4", "--engine", "gemm", "--engine", "tt",
            "--arch-set", "rows=4", "--arch-set", "cols=4", "--arch-set", "tt_lanes=4", "--budget", "150",
            "--training", "--baselines", "optimal")
    assert r.exit_code == 0, r.output
    assert "tt-kernel:gemm" in r.output and "backward" in r.output and "gain over the FLOP-optimal path" in r.output


def test_joint_and_compare_dense_json():
    r = run("joint", W / "ttm-d4.yaml", "--set", "rank=4", "--set", "batch=4", "--max-pes", "100", *SMALL_GRID, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["best"]["config"]["pes"] <= 100 and d["candidates"] == 2
    r = run("compare-dense", W / "ttm-d4.yaml", "--set", "rank=4", "--set", "batch=4", "--mode", "both", *SMALL_GRID,
            "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert set(d) == {"inference", "training"} and d["training"]["compression"] > 1


@pytest.mark.parametrize("args, text", [
    (["describe"], "give a workload file (NETWORK) or --einsum"),
    (["describe", "no/such/file.yaml"], "no such file"),
    (["paths", "--einsum", "q[b,e] * k[b,e] -> a[b]", "--size", "b=2", "--size", "e=3"], "not declared a batch/hyper index"),
    (["paths", "--einsum", "x[b,j] * W[i,j] -> y[b,i]", "--size", "b=2", "--size", "j=x"], "expected INDEX=N"),
    (["paths", str(W / "ttm-d4.yaml"), "--objective", "speed"], "unknown objective 'speed'"),
    (["paths", str(W / "ttm-d4.yaml"), "--method", "fast"], "unknown path method 'fast'"),
    (["describe", str(W / "formats-1024.yaml"), "--layer", "svd"], "no layer 'svd'"),
    (["joint", str(W / "ttm-d4.yaml"), "--max-pes", "2"], "no hardware configuration"),
    (["joint", str(W / "ttm-d4.yaml"), "--grid", "rowz=4,8"], "unknown template variable 'rowz'"),
    (["paths", str(W / "ttm-d4.yaml"), "--arch", "nope-arch"], "no such file or library architecture"),
])
def test_bad_input_exits_2_with_a_message(args, text):
    r = CliRunner().invoke(cli, ["tn", *args])
    assert r.exit_code == 2, r.output
    assert text in r.output
