"""Spec I/O: both architecture forms, problems, mappings, ERT/ART, merging, round trips, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ORACLE, case_inputs, oracle_cases
from tnx_timeloop.api import load_spec
from tnx_timeloop.energy.ert import component_key, parse_ert
from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.spec.arch import architecture_to_dict, parse_architecture
from tnx_timeloop.spec.mapping import mapping_to_list, parse_factors, parse_mapping, parse_permutation
from tnx_timeloop.spec.problem import parse_problem, problem_to_dict
from tnx_timeloop.spec.yaml_io import dump_yaml, load_yaml_file, load_yaml_text

V04 = Path("/work/shared/timeloop-designs/v04-example-designs")


@pytest.mark.parametrize("case", oracle_cases())
def test_oracle_inputs_round_trip(case):
    spec = load_spec(case_inputs(case))
    assert parse_architecture(architecture_to_dict(spec.arch)) == spec.arch
    assert parse_problem(problem_to_dict(spec.problem)) == spec.problem
    assert parse_mapping(mapping_to_list(spec.mapping, spec.arch), spec.arch, spec.problem) == spec.mapping
    # and through YAML text
    text = dump_yaml({"architecture": architecture_to_dict(spec.arch)})
    assert parse_architecture(load_yaml_text(text)["architecture"]) == spec.arch


def test_tree_form_levels_instances_and_aliases():
    arch = parse_architecture(load_yaml_file(ORACLE / "sb_conv1x1/inputs/arch.yaml")["architecture"])
    names = [s.name for s in arch.storage]
    assert names == ["DRAM", "GlobalBuffer", "PEInputBuffer", "PEWeightBuffer", "PEAccuBuffer", "PEWeightRegs"]
    regs = arch.storage[-1]
    assert (regs.instances, regs.mesh_x, regs.mesh_y, regs.cluster_size, regs.size_words) == (256, 16, 16, 64, 1)
    glb = arch.storage[1]
    assert (glb.size_words, glb.block_size, glb.word_bits) == (2048 * 32, 32, 8)  # memory_depth x block-size
    assert arch.compute.instances == 256 and arch.fanout_xy(4) == (1, 4)


def test_v04_form_with_containers_parallel_and_constraints():
    path = V04 / "eyeriss_like" / "arch.yaml"
    if not path.exists():
        pytest.skip("shared v0.4 designs not present")
    arch = parse_architecture(load_yaml_file(path)["architecture"])
    assert [s.name for s in arch.storage][:4] == ["DRAM", "shared_glb", "inter_PE_column_spatial", "inter_PE_spatial"]
    assert arch.storage[2].is_dummy and arch.fanout_xy(2) == (14, 1) and arch.fanout_xy(3) == (1, 12)
    spad = arch.storage[4]
    assert (spad.block_size, spad.size_words) == (2, 24)  # width 16 / datawidth 8
    kinds = {(t, k) for t, k, _ in arch.constraints}
    assert ("shared_glb", "dataspace") in kinds and ("inter_PE_spatial", "spatial") in kinds


def test_problem_multi_term_projection_coefficients_and_long_names():
    problem = parse_problem({
        "shape": {
            "name": "conv1d", "dimensions": ["out_x", "k_w"],
            "coefficients": [{"name": "stride", "default": 2}],
            "data-spaces": [
                {"name": "W", "projection": [[["k_w"]]]},
                {"name": "I", "projection": [[["out_x", "stride"], ["k_w"]]]},
                {"name": "O", "projection": [[["out_x"]]], "read-write": True},
            ],
        },
        "instance": {"out_x": 8, "k_w": 3},
    })
    assert problem.coefficient("stride") == 2
    assert problem.dataspace_words("I") == 2 * 7 + 2 + 1  # bounding box of W = 2*x + k
    assert problem.macs == 24 and problem.dataspaces[2].read_write


@pytest.mark.parametrize("text,expected", [
    ("C=4 M=2", {"C": ("=", 4, None), "M": ("=", 2, None)}),
    ("C4 M2", {"C": ("=", 4, None), "M": ("=", 2, None)}),
    ("P=5,1", {"P": ("=", 5, 1)}),
    (["C=4", "M=2"], {"C": ("=", 4, None), "M": ("=", 2, None)}),
    ({"C": 4}, {"C": ("=", 4, None)}),
])
def test_factor_forms(text, expected):
    assert parse_factors(text, ["C", "M", "P"], Where("m.yaml")) == expected


def test_factor_and_permutation_long_names():
    dims = ["i1", "j1", "r12", "b"]
    assert parse_factors("i1=4 r12=2", dims, Where(None)) == {"i1": ("=", 4, None), "r12": ("=", 2, None)}
    assert parse_permutation(["j1", "i1"], dims, Where(None)) == ("j1", "i1")
    assert parse_permutation("i1 r12 b", dims, Where(None)) == ("i1", "r12", "b")


def test_imperfect_factor_coverage_rule():
    spec = load_spec(case_inputs("t8_conv1d_imperfect"))
    assert spec.mapping.is_imperfect  # 16 = (4 - 1) * 5 + 1


def test_ert_takes_max_over_argument_variants_and_matches_by_last_name():
    table = parse_ert(load_yaml_file(ORACLE / "t8_conv1d_os/inputs/ERT.yaml")["ERT"])
    assert table.actions("Buffer")["read"] == pytest.approx(9.4394)
    assert component_key("system.PE[0..15].LMAC[0..15]") == "LMAC"


def test_timeloop_style_merge_of_several_files(tmp_path):
    (tmp_path / "a.yaml").write_text("problem:\n  shape: {name: x, dimensions: [M], data-spaces: [{name: A, projection: [[[M]]]}]}\n")
    (tmp_path / "b.yaml").write_text("problem:\n  instance: {M: 4}\n")
    spec = load_spec([tmp_path / "a.yaml", tmp_path / "b.yaml"])
    assert spec.problem.bounds == (4,)


# ---------------------------------------------------------------------------- errors


def _err(tmp_path, text, name="bad.yaml"):
    (tmp_path / name).write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec([tmp_path / name])
    return str(info.value)


def test_malformed_yaml_names_file_and_line(tmp_path):
    msg = _err(tmp_path, "problem:\n  shape: [\n  instance: {")
    assert "bad.yaml" in msg and "line" in msg and "malformed YAML" in msg


def test_unknown_top_level_key(tmp_path):
    assert "unknown top-level key 'probelm'" in _err(tmp_path, "probelm: {}\n")


def test_dimension_missing_from_instance(tmp_path):
    msg = _err(tmp_path, "problem:\n  shape: {name: g, dimensions: [M, K], data-spaces: [{name: A, projection: [[[M]], [[K]]]}]}\n  instance: {M: 4}\n")
    assert "bad.yaml:problem.instance" in msg and "dimension 'K' is missing" in msg


def test_unknown_dimension_in_projection(tmp_path):
    msg = _err(tmp_path, "problem:\n  shape: {name: g, dimensions: [M], data-spaces: [{name: A, projection: [[[Q]]]}]}\n  instance: {M: 4}\n")
    assert "unknown dimension 'Q'" in msg and "data-spaces[0].projection" in msg


def test_missing_file():
    with pytest.raises(SpecError, match="file not found"):
        load_spec(["/nonexistent/arch.yaml"])


def _mapping_error(directives):
    spec = load_spec(case_inputs("t16_gemm_m128n96k48")[:2])
    with pytest.raises(SpecError) as info:
        parse_mapping(directives, spec.arch, spec.problem, where=Where("map.yaml", ("mapping",)))
    return str(info.value)


def test_factors_not_covering_a_dimension():
    msg = _mapping_error([{"target": "MainMemory", "type": "temporal", "factors": "M=128 N=96 K=24"}])
    assert "dimension K: factors multiply to 24, but its bound is 48" in msg


def test_permutation_with_unknown_dimension():
    msg = _mapping_error([{"target": "MainMemory", "type": "temporal", "factors": "M=128 N=96 K=48", "permutation": "MNX"}])
    assert "map.yaml:mapping[0].permutation" in msg and "X" in msg


def test_unknown_target_lists_levels():
    msg = _mapping_error([{"target": "L2", "type": "temporal", "factors": "M=128"}])
    assert "unknown target 'L2'" in msg and "MainMemory" in msg


def test_spatial_directive_at_level_without_fanout():
    msg = _mapping_error([{"target": "MainMemory", "type": "spatial", "factors": "M=2"}])
    assert "no fan-out" in msg
