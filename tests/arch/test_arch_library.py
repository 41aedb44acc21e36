"""The architecture library: every file parses, maps a conv and a GEMM, and the tutorial designs equal the oracle's."""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner

from tests.conftest import ORACLE
from tnx_timeloop import api, library
from tnx_timeloop.cli import cli
from tnx_timeloop.errors import SpecError
from tnx_timeloop.mapper import search_mappings

ROOT = library.library_root()
SINGLE = [e for e in library.list_archs(ROOT) if e.kind == "single-core"]
CONV = ROOT / "workloads/layers/conv3x3_c64m64_p14.yaml"
GEMM = ROOT / "workloads/layers/gemm64.yaml"

# (arch file stem, template variables) for every single-core design, including template variants
VARIANTS = [(e.name, {}) for e in SINGLE] + [
    ("nvdla-like", {"config": "nv_full"}),
    ("tt-kernel", {"engine": "tt"}),
    ("tt-kernel", {"rows": 8, "cols": 32, "glb_kib": 256}),
]

# v0.4 library file -> the oracle case whose classic (v0.3) arch.yaml it must equal
EQUAL_TO_ORACLE = {
    "eyeriss-like": "ey_conv3x3_c64m64_p14",
    "simba-like": "sb_conv1x1",
    "simple-weight-stationary": "ws_conv1x1",
}
ORACLE_MODEL_CASES = sorted(
    p.name for p in ORACLE.iterdir()
    if p.name.split("_")[0] in {"ey", "sb", "ws"} and (p / "inputs/mapping.yaml").exists()
)
_PREFIX = {"ey": "eyeriss-like", "sb": "simba-like", "ws": "simple-weight-stationary"}


def _arch(name, variables=None):
    return api.load_spec([library.find_arch(name, ROOT)], variables=variables or {}).arch


def test_library_lists_every_design():
    names = {e.name for e in library.list_archs(ROOT)}
    assert {
        "eyeriss", "eyeriss-like", "simba-like", "simba-chiplet", "simple-weight-stationary",
        "simple-output-stationary", "tpu-v1-like", "edge-tpu-like", "nvdla-like", "tt-kernel",
        "quad-core-edge-tpu", "simba-multichip-2x2", "simba-multichip-6x6", "big-little",
        "quad-core-eyeriss-like",
    } <= names


@pytest.mark.parametrize("entry", library.list_archs(ROOT), ids=lambda e: e.name)
def test_header_names_source_and_simplifications(entry):
    header = "\n".join(library.header_lines(entry.path))
    assert entry.description, "the first header line must be '# name: description'"
    assert library.header_lines(entry.path)[0].startswith(f"{entry.name}:")
    assert "Source:" in header
    assert "Simplified" in header


@pytest.mark.parametrize(("name", "variables"), VARIANTS, ids=lambda v: str(v))
def test_maps_a_conv_and_a_gemm(name, variables):
    for workload in (CONV, GEMM):
        spec = api.load_spec([library.find_arch(name, ROOT), workload], variables=variables)
        result = search_mappings(spec.arch, spec.problem, budget=1000, seed=0)
        assert result.best_mapping is not None, f"{name} {variables}: no valid mapping for {workload.name}"
        report = result.best_report
        assert bool(report.valid[0])
        assert report.macs == spec.problem.macs
        assert 0 < float(report.utilization[0]) <= 1.0


@pytest.mark.parametrize(("name", "case"), sorted(EQUAL_TO_ORACLE.items()))
def test_v04_file_equals_the_oracle_classic_arch(name, case):
    ours = _arch(name)
    classic = api.load_spec([ORACLE / case / "inputs/arch.yaml"]).arch
    assert ours.version == "0.4" and classic.version == "0.3"
    assert dataclasses.replace(ours, constraints=()) == classic
    assert ours.constraints, "the tutorial's architecture constraints are inline"


@pytest.mark.parametrize("case", ORACLE_MODEL_CASES)
@pytest.mark.parametrize("with_ert", [False, True], ids=["builtin", "ert"])
def test_oracle_mappings_reproduce_oracle_numbers(case, with_ert):
    inputs = ORACLE / case / "inputs"
    arch = library.find_arch(_PREFIX[case.split("_")[0]], ROOT)
    files = [arch, inputs / "problem.yaml", inputs / "mapping.yaml"] + ([inputs / "ERT.yaml"] if with_ert else [])
    report = api.evaluate(api.load_spec(files))
    summary = json.loads((ORACLE / case / "summary.json").read_text())
    expected = summary["energy_pJ"] if with_ert else summary["builtin_pat"]["energy_pJ"]
    assert int(report.cycles[0]) == summary["cycles"]
    assert float(report.energy_pj[0]) == pytest.approx(expected, rel=1e-9)


def test_eyeriss_is_the_published_chip():
    arch = _arch("eyeriss")
    levels = {s.name: s for s in arch.storage}
    assert arch.compute.instances == 168
    assert (arch.compute.mesh_x, arch.compute.mesh_y) == (14, 12)
    assert arch.technology == "65nm"
    assert levels["shared_glb"].size_words * levels["shared_glb"].word_bits == 108 * 1024 * 8
    assert [levels[n].size_words for n in ("ifmap_spad", "weights_spad", "psum_spad")] == [12, 224, 24]
    assert {s.word_bits for s in arch.storage if not s.is_dummy} == {16}
    assert library.clock_hz_of(arch) == pytest.approx(200e6)
    kinds = {(t, k) for t, k, _ in arch.constraints}
    assert ("inter_PE_column_spatial", "spatial") in kinds and ("weights_spad", "temporal") in kinds


def test_tpu_v1_like_peak():
    arch = _arch("tpu-v1-like")
    s = library.summarize_architecture(arch)
    assert s["peak_macs_per_cycle"] == 65536
    assert s["peak_tops"] == pytest.approx(91.75, rel=1e-3)
    ub = next(x for x in arch.storage if x.name == "UnifiedBuffer")
    assert ub.size_words * ub.word_bits == 24 * 2**20 * 8


def test_nvdla_variants_and_bad_config():
    assert _arch("nvdla-like").compute.instances == 64
    assert _arch("nvdla-like", {"config": "nv_full"}).compute.instances == 2048
    with pytest.raises(SpecError, match="config_must_be_nv_small_or_nv_full"):
        _arch("nvdla-like", {"config": "nv_large"})


def test_tt_kernel_template_variables():
    default = _arch("tt-kernel")
    assert default.compute.instances == 256
    assert library.clock_hz_of(default) == pytest.approx(200e6)
    sized = _arch("tt-kernel", {"rows": 32, "cols": 8, "clock_mhz": 300, "glb_kib": 1024})
    assert (sized.compute.mesh_x, sized.compute.mesh_y) == (8, 32)
    assert library.clock_hz_of(sized) == pytest.approx(300e6)
    assert sized.storage[1].size_words * sized.storage[1].word_bits == 1024 * 1024 * 8
    tt = _arch("tt-kernel", {"engine": "tt", "tt_lanes": 32})
    assert [s.name for s in tt.storage] == ["DRAM", "GlobalBuffer", "CoreBuffer", "lane_acc"]
    assert tt.compute.instances == 32
    with pytest.raises(SpecError, match="engine_must_be_gemm_or_tt"):
        _arch("tt-kernel", {"engine": "fpga"})


def test_readme_example_reproduces_the_oracle():
    files = [
        ROOT / "arch/single-core/eyeriss-like.yaml",
        ROOT / "workloads/layers/conv3x3_c64m64_p14.yaml",
        ROOT / "mappers/examples/eyeriss-like_conv3x3_c64m64_p14.map.yaml",
    ]
    res = CliRunner().invoke(cli, ["model", *map(str, files), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    summary = json.loads((ORACLE / "ey_conv3x3_c64m64_p14/summary.json").read_text())
    assert out["cycles"] == summary["cycles"] == 43008
    assert out["energy_pj"] == pytest.approx(summary["builtin_pat"]["energy_pJ"], rel=1e-9)


def test_example_files_equal_the_oracle_inputs():
    oracle = ORACLE / "ey_conv3x3_c64m64_p14/inputs"
    assert (ROOT / "workloads/layers/conv3x3_c64m64_p14.yaml").read_text() == (oracle / "problem.yaml").read_text()
    ours = api.load_spec([ROOT / "arch/single-core/eyeriss-like.yaml", oracle / "problem.yaml",
                          ROOT / "mappers/examples/eyeriss-like_conv3x3_c64m64_p14.map.yaml"]).mapping
    theirs = api.load_spec([oracle / "arch.yaml", oracle / "problem.yaml", oracle / "mapping.yaml"]).mapping
    assert ours == theirs


@pytest.mark.parametrize("path", sorted((ROOT / "mappers").glob("*.constraints.yaml")), ids=lambda p: p.name)
def test_mapper_constraint_files_load_and_leave_mappings(path):
    arch = library.find_arch(path.name.removesuffix(".constraints.yaml"), ROOT)
    spec = api.load_spec([arch, CONV, path])
    assert spec.constraints
    result = search_mappings(spec.arch, spec.problem, spec.constraints, budget=500, seed=0)
    assert result.best_mapping is not None


def test_library_root_search_order(tmp_path, monkeypatch):
    (tmp_path / "lib" / "arch").mkdir(parents=True)
    env = {library.ENV_VAR: str(tmp_path / "lib")}
    assert library.library_root(env=env) == (tmp_path / "lib").resolve()
    # without the variable: the working directory if it holds arch/, else the checkout
    assert library.library_root(cwd=tmp_path / "lib", env={}) == (tmp_path / "lib").resolve()
    assert library.library_root(cwd=tmp_path, env={}) == ROOT
    with pytest.raises(SpecError, match="TNX_LIBRARY"):
        library.library_root(env={library.ENV_VAR: str(tmp_path)})


def test_find_arch_lists_names_on_error():
    assert library.find_arch("eyeriss", ROOT).name == "eyeriss.yaml"
    assert library.find_arch("multi-core/big-little", ROOT).name == "big-little.yaml"
    with pytest.raises(SpecError, match="eyeriss-like"):
        library.find_arch("eyeris", ROOT)


def test_on_chip_kib_and_clock():
    arch = _arch("eyeriss")
    assert library.on_chip_kib(arch) == pytest.approx(108 + 168 * (12 + 224 + 24) * 2 / 1024)
    assert library.clock_hz_of(_arch("eyeriss-like")) is None
