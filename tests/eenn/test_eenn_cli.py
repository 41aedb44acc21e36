"""``tnx eenn``: the commands end to end on small inputs, and bad input giving exit status 2."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner
from eenn_data import EDGE_TPU, QUAD, WORKLOADS

from tnx_timeloop.cli import cli

DIGITS = WORKLOADS / "digits-cnn.yaml"
MOBILENET = WORKLOADS / "mobilenetv2-cifar10.yaml"
FAST = ["--budget", "300", "--jobs", "1"]


def run(args):
    result = CliRunner().invoke(cli, ["eenn", *map(str, args)])
    return result


def test_describe_json():
    r = run(["describe", MOBILENET, "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["macs"] == 88_138_240 and len(d["exits"]) == 8
    assert d["statistics"]["provenance"]["kind"] == "assumption"
    assert d["layers"][1]["problem"] == "Depthwise"


def test_describe_text_shows_provenance():
    r = run(["describe", DIGITS])
    assert r.exit_code == 0, r.output
    assert "provenance: measured" in r.output and "exit1" in r.output


def test_cost_json_on_one_core():
    r = run(["cost", DIGITS, EDGE_TPU, "--exits", "exit2", "--backbone", "int8", "--threshold", "0.9", *FAST, "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["design"]["exits"] == ["exit2"]
    assert sum(d["exit_fractions"]) == pytest.approx(1.0)
    assert d["energy_pj"] < d["worst_energy_pj"]
    assert d["statistics_provenance"].startswith("measured")


def test_search_json_writes_files(tmp_path):
    out = tmp_path / "res"
    args = ["search", DIGITS, QUAD, "--population", "12", "--generations", "3", "--precisions", "int8,int4", *FAST,
            "--out", out, "--json"]
    r = run(args)
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["pareto"] and set(d["baselines"]) == {"int8", "int4"}
    assert (out / "pareto.png").stat().st_size > 0 and (out / "pareto.csv").exists()
    assert json.loads((out / "result.json").read_text())["settings"]["seed"] == 0
    again = json.loads(run(args).output)
    assert again["pareto"] == d["pareto"]  # seeded: the same front


def test_sweep_json():
    r = run(["sweep", DIGITS, EDGE_TPU, "--layer", "conv3", "--range", "2", *FAST, "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert [p["channels"] for p in d["points"]] == [62, 63, 64, 65, 66]
    assert d["nominal_channels"] == 64
    per_mac = {p["channels"]: p["edp_per_mac"] for p in d["points"]}
    assert per_mac[65] > 1.5 * per_mac[64]  # one channel past the 64-wide array: a second, mostly idle pass


def _write(tmp_path, name, doc):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _stats_doc():
    return yaml.safe_load((WORKLOADS / "stats" / "digits-cnn.stats.yaml").read_text())


def _check_bad(r, *fragments):
    assert r.exit_code == 2, r.output
    for f in fragments:
        assert f in r.output, r.output


def test_bad_statistics_rate_above_one(tmp_path):
    doc = _stats_doc()
    doc["eenn_statistics"]["curves"][3]["rate"][0] = 1.5
    path = _write(tmp_path, "bad.stats.yaml", doc)
    _check_bad(run(["describe", DIGITS, "--stats", path]), "bad.stats.yaml", "curves[3].rate[0]", "outside [0, 1]")


def test_bad_statistics_for_other_exits(tmp_path):
    doc = _stats_doc()
    for c in doc["eenn_statistics"]["curves"]:
        if c["exit"] == "exit2":
            c["exit"] = "exit9"
    path = _write(tmp_path, "other.stats.yaml", doc)
    _check_bad(run(["cost", DIGITS, EDGE_TPU, "--stats", path, *FAST]), "other.stats.yaml",
               "exit 'exit9' is not declared by the network")


def test_exit_after_the_last_layer(tmp_path):
    doc = yaml.safe_load(DIGITS.read_text())
    doc["eenn"]["exits"]["candidates"][1]["after"] = "fc"
    path = _write(tmp_path, "late.yaml", doc)
    _check_bad(run(["describe", path]), "late.yaml", "eenn.exits.candidates[1]", "after the last layer")


def test_unsupported_bit_width_for_a_core(tmp_path):
    doc = yaml.safe_load(EDGE_TPU.read_text().replace("!Container", "").replace("!Component", ""))
    doc["architecture"]["nodes"][-1]["attributes"]["precisions"] = ["int8"]
    path = _write(tmp_path, "int8-only.yaml", doc)
    _check_bad(run(["cost", DIGITS, path, "--backbone", "int4", *FAST]), "int8-only.yaml",
               "unsupported bit-width 'int4'")


def test_a_layer_that_fits_no_core(tmp_path):
    arch = {"architecture": {"version": 0.4, "nodes": [
        {"name": "tiny", "attributes": {"technology": "45nm"}},
        {"name": "DRAM", "class": "DRAM", "attributes": {"width": 64, "datawidth": 8}},
        {"name": "buf", "class": "SRAM", "attributes": {"depth": 16, "width": 64, "datawidth": 8}},
        {"name": "mac", "class": "intmac", "attributes": {"datawidth": 8}},
    ]}}
    path = _write(tmp_path, "tiny.yaml", arch)
    _check_bad(run(["cost", DIGITS, path, *FAST]), "digits-cnn.yaml", "eenn.layers[0]", "fits no core")


def test_unknown_exit_and_threshold():
    _check_bad(run(["cost", DIGITS, EDGE_TPU, "--exits", "exit7", *FAST]), "unknown exit 'exit7'")
    _check_bad(run(["cost", DIGITS, EDGE_TPU, "--threshold", "0.42", *FAST]), "threshold 0.42 is not in the statistics")


def test_profile_needs_measured_provenance_fields():
    r = run(["profile", "x:y", "--data", "x:y", "--network", "n", "--exit-names", "a", "--out", "o.yaml"])
    assert r.exit_code == 2  # click: --model-name and --data-name are required


def test_profile_and_import_from_a_python_file(tmp_path):
    pytest.importorskip("torch", reason="torch is an optional extra")
    model_file = tmp_path / "m.py"
    model_file.write_text('''
import torch
from torch import nn


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(1, 4, 3, padding=1)
        self.exits = nn.ModuleList([nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))])
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        h = torch.relu(self.c(x))
        return [self.exits[0](h), self.fc(torch.flatten(h, 1))]


def model():
    torch.manual_seed(0)
    return M()


def loader():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 1, 4, 4, generator=g)
    y = torch.randint(0, 3, (60,), generator=g)
    return [(x[i:i + 20], y[i:i + 20]) for i in range(0, 60, 20)]
''')
    net_path = tmp_path / "m.yaml"
    r = run(["import", f"{model_file}:model", "--name", "m", "--input-shape", "1,4,4", "--statistics", "m.stats.yaml",
             "--out", net_path])
    assert r.exit_code == 0, r.output
    stats_path = tmp_path / "m.stats.yaml"
    r = run(["profile", f"{model_file}:model", "--data", f"{model_file}:loader", "--network", "m", "--exit-names", "exit1",
             "--thresholds", "0.4,0.6", "--precisions", "fp32,int8", "--model-name", "random M", "--data-name",
             "random tensors", "--out", stats_path, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["provenance"]["kind"] == "measured"
    r = run(["describe", net_path, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["statistics"]["provenance"]["model"] == "random M"


def test_simulate_json_on_the_quad_core(tmp_path):
    r = run(["simulate", DIGITS, QUAD, "--exits", "exit1,exit2", "--threshold", "0.9", "--inputs", "3000",
             "--trace", tmp_path / "tl", *FAST, "--no-cache", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    sim = d["simulation"]
    assert sum(sim["exit_counts"].values()) == 3000
    assert sim["energy_per_input_pj"] == pytest.approx(sim["expected"]["energy_pj"], rel=0.02)  # sampling noise of 3000 draws
    assert len(sim["utilization"]) == 4
    assert (tmp_path / "tl" / "stream.gantt.png").exists()
    assert d["statistics_provenance"].startswith("measured")


def test_simulate_bad_interval():
    _check_bad(run(["simulate", DIGITS, EDGE_TPU, "--interval", "soon", *FAST]), "--interval")
