"""``tnx arch check`` and ``tnx arch list``: exit codes, text and JSON shapes, located errors."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from tnx_timeloop import library
from tnx_timeloop.cli import cli

ROOT = library.library_root()
ENTRIES = library.list_archs(ROOT)
LEVEL_KEYS = {"name", "class", "subclass", "instances", "mesh", "fanout", "fanout_xy", "size_words", "size_kib",
              "word_bits", "block_size", "cluster_size", "read_bandwidth", "write_bandwidth", "dummy"}


def run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_check_every_library_arch(entry):
    res = run("arch", "check", str(entry.path))
    assert res.exit_code == 0, res.output
    assert "peak:" in res.output and "energy per action" in res.output
    res = run("arch", "check", entry.name, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["kind"] == entry.kind
    assert out["peak_macs_per_cycle"] > 0 and out["on_chip_kib"] > 0
    summaries = [out] if entry.kind == "single-core" else [c["summary"] for c in out["cores"]]
    for s in summaries:
        assert s["levels"] and set(s["levels"][0]) == LEVEL_KEYS
        assert len(s["energy"]["levels"]) == len(s["levels"])
        assert s["energy"]["compute_pj_per_mac"] > 0


def test_check_single_core_json_values():
    out = json.loads(run("arch", "check", "eyeriss", "--json").output)
    assert out["name"] == "eyeriss" and out["technology"] == "65nm"
    assert out["clock_hz"] == pytest.approx(2e8)
    assert out["peak_tops"] == pytest.approx(2 * 168 * 2e8 / 1e12)
    glb = next(lv for lv in out["levels"] if lv["name"] == "shared_glb")
    assert glb["size_kib"] == pytest.approx(108) and glb["word_bits"] == 16 and glb["block_size"] == 4
    assert [lv["name"] for lv in out["levels"]][:2] == ["DRAM", "shared_glb"]  # outermost first
    assert out["levels"][2]["fanout"] == 14 and out["levels"][3]["fanout_xy"] == [1, 12]


def test_check_multicore_json():
    out = json.loads(run("arch", "check", "simba-multichip-6x6", "--json").output)
    assert out["kind"] == "multi-core" and out["total_cores"] == 36
    assert out["noc"]["topology"] == "mesh2d" and out["noc"]["dims"] == [6, 6]
    assert out["memory"]["bandwidth_bits_per_cycle"] == 256
    assert out["peak_tops"] == pytest.approx(128, rel=1e-3)
    assert out["cores"][0]["count"] == 36


def test_check_template_variables_and_energy_option():
    small = json.loads(run("arch", "check", "nvdla-like", "--json").output)
    full = json.loads(run("arch", "check", "nvdla-like", "--set", "config=nv_full", "--json").output)
    assert (small["peak_macs_per_cycle"], full["peak_macs_per_cycle"]) == (64, 2048)
    tables = json.loads(run("arch", "check", "eyeriss", "--energy", "tables", "--json").output)
    assert "65nm" in tables["energy"]["source"]
    res = run("arch", "check", "eyeriss", "--energy", "nonsense")
    assert res.exit_code == 2 and "unknown energy source" in res.output


def test_check_v03_classic_file():
    from tests.conftest import ORACLE

    res = run("arch", "check", str(ORACLE / "ey_conv1x1/inputs/arch.yaml"), "--json")
    assert res.exit_code == 0
    assert json.loads(res.output)["version"] == "0.3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("architecture:\n  version: 0.4\n  nodes:\n  - !Component\n    name: DRAM\n    class: DRAM\n"
         "    attributes: {width: 60, datawidth: 16}\n", "architecture.nodes[0].attributes.width"),
        ("architecture:\n  version: 0.4\n  nodes:\n  - !Component\n    name: X\n    class: DRAM\n    colour: red\n",
         "unknown key 'colour'"),
        ("problem: {}\n", "no 'architecture' or 'multicore' key"),
        ("architecture: [unclosed\n", "malformed YAML"),
        ("multicore:\n  cores: []\n  noc: {topology: ring, link_bandwidth_bits_per_cycle: 1}\n"
         "  memory: {type: DDR4, bandwidth_bits_per_cycle: 1, energy_pj_per_bit: 1}\n", "multicore.cores"),
    ],
)
def test_check_errors_exit_2_with_location(tmp_path, text, expected):
    path = tmp_path / "arch.yaml"
    path.write_text(text)
    res = run("arch", "check", str(path))
    assert res.exit_code == 2
    assert str(path) in res.output and expected in res.output
    assert "Traceback" not in res.output


def test_check_unknown_name():
    res = run("arch", "check", "no-such-arch")
    assert res.exit_code == 2 and "eyeriss-like" in res.output


def test_list_text_and_json():
    res = run("arch", "list")
    assert res.exit_code == 0
    for e in ENTRIES:
        assert e.name in res.output
    out = json.loads(run("arch", "list", "--json").output)
    assert out["root"] == str(ROOT)
    rows = {r["name"]: r for r in out["archs"]}
    assert set(rows) == {e.name for e in ENTRIES}
    for r in rows.values():
        assert {"name", "kind", "path", "template", "description", "pes", "on_chip_kib", "technology"} <= set(r)
    assert rows["eyeriss"]["pes"] == 168 and rows["eyeriss"]["technology"] == "65nm"
    assert rows["tt-kernel"]["template"] is True
    assert rows["simba-multichip-6x6"]["pes"] == 36864


def test_list_reports_a_broken_library_file(tmp_path):
    lib = tmp_path / "lib"
    shutil.copytree(ROOT / "arch", lib / "arch")
    (lib / "arch/single-core/broken.yaml").write_text("# broken: a bad file\narchitecture: {version: 0.4}\n")
    res = run("arch", "list", "--json", env={library.ENV_VAR: str(lib)})
    assert res.exit_code == 2
    rows = {r["name"]: r for r in json.loads(res.output)["archs"]}
    assert "error" in rows["broken"] and "error" not in rows["eyeriss"]
