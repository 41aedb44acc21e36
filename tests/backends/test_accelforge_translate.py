"""Tests of the pure Timeloop <-> AccelForge translations (no AccelForge needed)."""

from __future__ import annotations

import ast
import copy
import math
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tnx_timeloop.backends import accelforge_translate as T
from tnx_timeloop.errors import SpecError, SpecErrors, Where

ORACLE = Path(__file__).resolve().parents[1] / "data" / "oracle"
WORKER = Path(T.__file__).with_name("_accelforge_worker.py")


def _problem(case: str) -> dict[str, Any]:
    return yaml.safe_load((ORACLE / case / "inputs" / "problem.yaml").read_text())


def _gemm(**instance: int) -> dict[str, Any]:
    return {
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
            "instance": {"M": 64, "N": 64, "K": 64, **instance},
        }
    }


# --------------------------------------------------------------------------- problems


def test_conv_translates_to_sliding_window_einsum() -> None:
    t = T.translate_problem(_problem("t16_conv3x3_c16m16_p8"))
    assert t.workload == {
        "bits_per_value": {"All": 16},
        "einsums": [
            {
                "name": "CNN_Layer",
                "tensor_accesses": [
                    {"name": "Weights", "projection": {"C": "c", "M": "m", "R": "r", "S": "s"}},
                    {"name": "Inputs_t", "projection": {"N": "n", "C": "c", "R_P": "r + p", "S_Q": "s + q"}},
                    {
                        "name": "Outputs_t",
                        "projection": {"N": "n", "M": "m", "Q": "q", "P": "p"},
                        "output": True,
                    },
                ],
                "iteration_space_shape": [
                    "0 <= c < 16",
                    "0 <= m < 16",
                    "0 <= r < 3",
                    "0 <= s < 3",
                    "0 <= n < 1",
                    "0 <= p < 8",
                    "0 <= q < 8",
                ],
                # input extent = (P-1)*Wstride + (R-1)*Wdilation + 1 = 7 + 2 + 1
                "rank_sizes": {
                    "C": 16,
                    "M": 16,
                    "R": 3,
                    "S": 3,
                    "N": 1,
                    "R_P": 10,
                    "S_Q": 10,
                    "Q": 8,
                    "P": 8,
                },
            }
        ],
    }
    # Inputs/Outputs would shadow AccelForge's set names of the same spelling
    assert t.tensor_names == {"Weights": "Weights", "Inputs": "Inputs_t", "Outputs": "Outputs_t"}
    assert t.rank_variables == {"C": "c", "M": "m", "R": "r", "S": "s", "N": "n", "P": "p", "Q": "q"}
    assert t.ranks["Inputs"] == ("N", "C", "R_P", "S_Q")
    assert t.macs == 16 * 16 * 9 * 64


def test_strided_conv_uses_coefficients_in_projection_and_extent() -> None:
    t = T.translate_problem(_problem("ey_conv3x3_s2"))
    einsum = t.workload["einsums"][0]
    inputs = einsum["tensor_accesses"][1]
    assert inputs["projection"] == {"N": "n", "C": "c", "R_P2": "r + 2*p", "S_Q2": "s + 2*q"}
    assert einsum["rank_sizes"]["R_P2"] == (14 - 1) * 2 + (3 - 1) * 1 + 1 == 29


def test_dilation_coefficient_applies_to_filter_term() -> None:
    p = _problem("t16_conv3x3_c16m16_p8")
    p["problem"]["instance"]["Wdilation"] = 2
    t = T.translate_problem(p)
    einsum = t.workload["einsums"][0]
    assert einsum["tensor_accesses"][1]["projection"]["R2_P"] == "2*r + p"
    assert einsum["rank_sizes"]["R2_P"] == 2 * 2 + 7 + 1


def test_gemm_translates_to_matmul_einsum() -> None:
    t = T.translate_problem(_problem("t16_gemm_m128n96k48"), bits_per_value=8)
    assert t.workload == {
        "bits_per_value": {"All": 8},
        "einsums": [
            {
                "name": "GEMM",
                "tensor_accesses": [
                    {"name": "A", "projection": {"M": "m", "K": "k"}},
                    {"name": "B", "projection": {"K": "k", "N": "n"}},
                    {"name": "Z", "projection": {"M": "m", "N": "n"}, "output": True},
                ],
                "iteration_space_shape": ["0 <= m < 128", "0 <= n < 96", "0 <= k < 48"],
                "rank_sizes": {"M": 128, "K": 48, "N": 96},
            }
        ],
    }
    assert t.tensor_names == {"A": "A", "B": "B", "Z": "Z"}
    assert t.macs == 128 * 96 * 48


def test_tensor_train_core_contraction() -> None:
    # Out[b,i,s] = sum_{r,j} In[b,j,r] * G[r,i,j,s]
    t = T.translate_problem(_problem("s16_tt3"))
    einsum = t.workload["einsums"][0]
    assert einsum["name"] == "TT_Core_Contraction"
    assert einsum["tensor_accesses"] == [
        {"name": "In", "projection": {"B": "b", "J": "j", "R": "r"}},
        {"name": "G", "projection": {"R": "r", "I": "i", "J": "j", "S": "s"}},
        {"name": "Out", "projection": {"B": "b", "I": "i", "S": "s"}, "output": True},
    ]
    assert einsum["rank_sizes"] == {"B": 32, "J": 8, "R": 4, "I": 8, "S": 4}
    assert t.macs == 32 * 8 * 8 * 4 * 4


def test_timeloop_ranks_name_the_accelforge_ranks() -> None:
    p = _problem("t16_conv3x3_c16m16_p8")
    p["problem"]["shape"]["data-spaces"][1]["ranks"] = ["N", "C", "W", "H"]
    einsum = T.translate_problem(p).workload["einsums"][0]
    assert einsum["tensor_accesses"][1]["projection"] == {"N": "n", "C": "c", "W": "r + p", "H": "s + q"}
    assert (einsum["rank_sizes"]["W"], einsum["rank_sizes"]["H"]) == (10, 10)
    p["problem"]["shape"]["data-spaces"][0]["ranks"] = ["C", "M", "W", "S"]  # W is 3 here, 10 above
    with pytest.raises(SpecError, match="rank 'W' has size 10 here but 3"):
        T.translate_problem(p)


def test_flat_projection_form_is_accepted() -> None:
    p = _gemm()
    spaces = p["problem"]["shape"]["data-spaces"]
    spaces[0]["projection"] = ["M", "K"]  # Timeloop's array form
    t = T.translate_problem(p)
    assert t.workload["einsums"][0]["tensor_accesses"][0]["projection"] == {"M": "m", "K": "k"}


def test_conv1d_unit_terms_sum() -> None:
    t = T.translate_problem(_problem("s16_conv1d_oc_ic_kp"))
    inputs = t.workload["einsums"][0]["tensor_accesses"][1]
    assert inputs["projection"] == {"C": "c", "R_P": "r + p"}
    assert t.workload["einsums"][0]["rank_sizes"]["R_P"] == 3 + 16 - 1


@pytest.mark.parametrize("case", sorted(p.parent.parent.name for p in ORACLE.glob("*/inputs/problem.yaml")))
def test_every_oracle_problem_translates(case: str) -> None:
    t = T.translate_problem(_problem(case))
    assert t.macs == math.prod(t.bounds.values())
    (einsum,) = t.workload["einsums"]
    assert sum(1 for a in einsum["tensor_accesses"] if a.get("output")) == 1
    for access in einsum["tensor_accesses"]:
        assert set(access["projection"]) <= set(einsum["rank_sizes"])


def test_per_tensor_bits_per_value() -> None:
    t = T.translate_problem(_gemm(), bits_per_value={"A": 8, "B": 8, "Z": 32})
    assert "bits_per_value" not in t.workload
    bits = [a["bits_per_value"] for a in t.workload["einsums"][0]["tensor_accesses"]]
    assert bits == [8, 8, 32]


def test_einsum_name_override_and_identifier() -> None:
    t = T.translate_problem(_gemm(), einsum_name="my-layer 1")
    assert t.einsum_name == t.workload["einsums"][0]["name"] == "my_layer_1"


# --------------------------------------------------------------------------- problem errors


def _conv_with(**instance: Any) -> dict[str, Any]:
    p = copy.deepcopy(_problem("t16_conv3x3_c16m16_p8"))
    p["problem"]["instance"].update(instance)
    return p


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda p: p["problem"]["instance"].update(Wstride=-1), "cannot be expressed in AccelForge"),
        (lambda p: p["problem"]["instance"].update(Wdilation=0), "only positive integer coefficients"),
        (
            lambda p: p["problem"]["shape"].update(flatten=[{"name": "X", "dimensions": ["P", "Q"]}]),
            "flattened dimensions",
        ),
        (lambda p: p["problem"].update(shape="cnn-layer"), "shape given by name"),
        (lambda p: p["problem"]["instance"].update(densities={"Weights": 0.5}), "sparse densities"),
        (
            lambda p: p["problem"]["shape"]["data-spaces"][0].update(projection=[[["C", "Wstride", "x"]]]),
            "a term must be [dimension] or [dimension, coefficient]",
        ),
        (
            lambda p: p["problem"]["shape"]["data-spaces"][0].update(projection=[[["Z"]]]),
            "unknown dimension 'Z'",
        ),
        (
            lambda p: p["problem"]["shape"]["data-spaces"][0].update(projection=[[["C", "Zstride"]]]),
            "unknown coefficient 'Zstride'",
        ),
        (lambda p: p["problem"]["instance"].pop("C"), "no bound for dimension 'C'"),
        (lambda p: p["problem"]["instance"].update(Foo=3), "unknown key(s) ['Foo']"),
        (
            lambda p: p["problem"]["shape"]["data-spaces"][1].update({"read-write": True}),
            "exactly one read-write (output) data-space",
        ),
        (
            lambda p: p["problem"]["shape"]["data-spaces"][2].pop("read-write"),
            "exactly one read-write (output) data-space",
        ),
    ],
)
def test_unsupported_or_invalid_problem_raises_clear_error(mutate: Any, needle: str) -> None:
    p = copy.deepcopy(_problem("t16_conv3x3_c16m16_p8"))
    mutate(p)
    with pytest.raises(SpecError) as err:
        T.translate_problem(p)
    assert needle in str(err.value)


def test_error_names_the_key_path() -> None:
    with pytest.raises(SpecError) as err:
        T.translate_problem(_conv_with(Wstride=-2), where=Where("problem.yaml"))
    assert str(err.value).startswith("problem.yaml:problem.shape.data-spaces[1].projection[2][1]: ")


def test_dimension_indexing_no_data_space_is_rejected() -> None:
    p = _gemm()
    p["problem"]["shape"]["dimensions"].append("X")
    p["problem"]["instance"]["X"] = 4
    with pytest.raises(SpecError, match=r"dimension\(s\) \['X'\] index no data-space"):
        T.translate_problem(p)


def test_several_problems_are_reported_together() -> None:
    p = _conv_with(Wstride=0, Hstride=-1)
    with pytest.raises(SpecErrors) as err:
        T.translate_problem(p)
    assert len(err.value.errors) == 2
    assert "2 problem(s)" in str(err.value)


# --------------------------------------------------------------------------- arch


def _levels() -> list[dict[str, Any]]:
    return [
        {"name": "DRAM", "class": "DRAM", "word_bits": 16, "energy_pj": {"read": 128.0, "write": 128.0}},
        {
            "name": "Buffer",
            "class": "SRAM",
            "size_words": 32768,
            "word_bits": 16,
            "read_bandwidth": 4,
            "write_bandwidth": 2,
            "area_um2": 50742.0,
            "energy_pj": {"read": 2.902425, "write": 2.6742},
        },
        {
            "name": "MAC",
            "class": "intmac",
            "word_bits": 16,
            "instances": 256,
            "meshX": 16,
            "energy_pj": {"compute": 3.275},
        },
    ]


def test_three_level_arch() -> None:
    a = T.translate_arch(_levels(), clock_hz=1e9)
    dram, buf, mac = a.arch["nodes"]
    assert (dram["type"], buf["type"], mac["type"]) == ("Memory", "Memory", "Compute")
    assert dram["size"] == "inf" and dram["tensors"] == {"keep": "All"}
    assert buf["size"] == 32768 * 16  # bits
    assert buf["tensors"] == {"may_keep": "All"}
    assert buf["values_per_action"] == {"All": 1}  # one action = one word
    assert buf["area"] == pytest.approx(50742.0e-12)  # m^2
    assert buf["leak_power"] == 0
    read, write = buf["actions"]
    assert read == {"name": "read", "energy": pytest.approx(2.902425e-12), "throughput": 4e9}
    assert write == {"name": "write", "energy": pytest.approx(2.6742e-12), "throughput": 2e9}
    assert buf["total_latency"] == "max(a.n_calls / a.throughput for a in actions)"
    assert dram["actions"][0]["throughput"] == "inf"
    assert mac["spatial"] == [{"name": "MAC_X", "fanout": 16}, {"name": "MAC_Y", "fanout": 16}]
    assert mac["actions"] == [{"name": "compute", "energy": pytest.approx(3.275e-12), "throughput": 1e9}]
    assert a.storage_levels == ("DRAM", "Buffer") and a.compute_level == "MAC"
    assert a.fanout == {"DRAM": (1, 1), "Buffer": (1, 1), "MAC": (16, 16)}


def test_timeloop_depth_width_and_shared_bandwidth() -> None:
    levels = _levels()
    buf = levels[1]
    del buf["size_words"], buf["read_bandwidth"], buf["write_bandwidth"]
    buf.update(depth=2048, width=64, shared_bandwidth=1)
    node = T.translate_arch(levels, clock_hz=2e8).arch["nodes"][1]
    assert node["size"] == 2048 * 64  # 8192 16-bit words
    assert [x["throughput"] for x in node["actions"]] == [2e8, 2e8]
    assert node["total_latency"] == "sum(a.n_calls / a.throughput for a in actions)"


def test_per_pe_buffers_get_the_fanout() -> None:
    levels = _levels()
    levels.insert(
        2,
        {
            "name": "RF",
            "class": "regfile",
            "size_words": 64,
            "word_bits": 16,
            "instances": 16,
            "meshX": 16,
            "energy_pj": {"read": 0.5, "write": 0.5},
        },
    )
    a = T.translate_arch(levels)
    assert a.fanout == {"DRAM": (1, 1), "Buffer": (1, 1), "RF": (16, 1), "MAC": (1, 16)}
    rf, mac = a.arch["nodes"][2:]
    assert rf["spatial"] == [{"name": "RF_X", "fanout": 16}]
    assert mac["spatial"] == [{"name": "MAC_Y", "fanout": 16}]


def test_keep_and_bypass_use_accelforge_tensor_names() -> None:
    names = T.translate_problem(_problem("t16_conv3x3_c16m16_p8")).tensor_names
    levels = _levels()
    levels[1]["bypass"] = ["Outputs"]
    node = T.translate_arch(levels, tensor_names=names).arch["nodes"][1]
    assert node["tensors"] == {"may_keep": "~(Outputs_t)"}
    levels[1].pop("bypass")
    levels[1]["keep"] = ["Weights", "Inputs"]
    node = T.translate_arch(levels, tensor_names=names).arch["nodes"][1]
    assert node["tensors"] == {"keep": "Weights | Inputs_t", "may_keep": "~(Weights | Inputs_t)"}


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda lv: lv[1].update(size=3), "unknown key(s) ['size']; allowed: ["),
        (lambda lv: lv[1]["energy_pj"].pop("write"), "missing ['write']"),
        (lambda lv: lv.reverse(), "exactly one compute level, and it must be last"),
        (
            lambda lv: (lv[1].update(instances=16), lv[2].update(instances=24, meshX=24)),
            "not a multiple of the level above",
        ),
        (lambda lv: lv[1].update({"class": "widget"}), "cannot tell storage from compute"),
        (lambda lv: lv[1].update(read_bandwidth=0), "must be > 0 words/cycle"),
        (lambda lv: lv[1].update(keep=["A"]), "keep/bypass need tensor_names"),
        (lambda lv: lv[2].update(meshX=7), "meshX 7 must divide instances 256"),
    ],
)
def test_invalid_arch_raises_clear_error(mutate: Any, needle: str) -> None:
    levels = _levels()
    mutate(levels)
    with pytest.raises(SpecError) as err:
        T.translate_arch(levels)
    assert needle in str(err.value)


# --------------------------------------------------------------------------- energies, YAML


def test_ert_energies_per_word() -> None:
    ert = yaml.safe_load((ORACLE / "t16_gemm_m128n96k48" / "inputs" / "ERT.yaml").read_text())
    assert T.ert_energies_pj(ert, "Buffer", per_word=4)["read"] == pytest.approx(11.6097 / 4)
    assert T.ert_energies_pj(ert, "MainMemory", per_word=4) == {"read": 128.0, "write": 128.0, "idle": 0.0}
    assert T.ert_energies_pj(ert, "System.PE.MACC")["mac_random"] == 3.275
    with pytest.raises(SpecError, match="no table 'Nope'"):
        T.ert_energies_pj(ert, "Nope")


class _TagLoader(yaml.SafeLoader):
    """Reads ``!Memory``-style tags back into ``type`` keys."""


_TagLoader.add_multi_constructor(
    "!", lambda loader, suffix, node: {"type": suffix, **loader.construct_mapping(node, deep=True)}
)


def test_yaml_writes_tags_and_round_trips(tmp_path: Path) -> None:
    arch = T.translate_arch(_levels()).arch
    text = T.to_accelforge_yaml({"arch": arch}, tmp_path / "arch.yaml")
    assert text.count("- !Memory") == 2 and text.count("- !Compute") == 1
    assert (tmp_path / "arch.yaml").read_text() == text
    loaded = yaml.load(text, Loader=_TagLoader)  # noqa: S506 - a SafeLoader subclass
    assert loaded == {"arch": arch}


# --------------------------------------------------------------------------- results


def _raw_result() -> dict[str, Any]:
    rows = [
        ("DRAM", "Inputs_t", "read", 1600.0, 1.0),
        ("DRAM", "Outputs_t", "write", 512.0, 2.0),  # 32-bit actions on 16-bit values
        ("Buffer", "Inputs_t", "read", 18432.0, 1.0),
        ("Buffer", "Inputs_t", "write", 1600.0, 1.0),
        ("MAC", None, "compute", 147456.0, 1.0),
    ]
    return {
        "ok": True,
        "mappings": [
            {
                "energy_j": 1.5e-6,
                "latency_s": 5.759999908150348e-07,
                "actions": [
                    {
                        "einsum": "E",
                        "component": c,
                        "tensor": t,
                        "action": a,
                        "count": n,
                        "values_per_action": v,
                    }
                    for c, t, a, n, v in rows
                ],
                "energy": [
                    {
                        "einsum": "E",
                        "component": "DRAM",
                        "tensor": "Inputs_t",
                        "action": "read",
                        "energy_j": 2e-7,
                    },
                    {
                        "einsum": "E",
                        "component": "MAC",
                        "tensor": None,
                        "action": "compute",
                        "energy_j": 1e-6,
                    },
                    {"einsum": "E", "component": "MAC", "tensor": None, "action": "leak", "energy_j": 0.0},
                ],
                "latency": [{"einsum": "E", "component": "MAC", "latency_s": 5.76e-7}],
                "mapping": {"type": "Mapping", "nodes": []},
            }
        ],
    }


def test_figures_from_result_units() -> None:
    names = {"Inputs": "Inputs_t", "Outputs": "Outputs_t"}
    f = T.figures_from_result(_raw_result(), clock_hz=1e9, tensor_names=names)
    assert f.latency_cycles == 576
    assert f.energy_pj == pytest.approx(1.5e6)
    assert f.energy_by_component_pj == pytest.approx({"DRAM": 2e5, "MAC": 1e6})
    assert f.latency_by_component_cycles == pytest.approx({"MAC": 576.0})
    assert f.macs == 147456
    assert f.accesses_words == {
        "DRAM": {"Inputs": {"read": 1600.0}, "Outputs": {"write": 1024.0}},
        "Buffer": {"Inputs": {"read": 18432.0, "write": 1600.0}},
    }
    assert f.extra["mapping"] == {"type": "Mapping", "nodes": []}


def test_figures_from_error_result_raises() -> None:
    with pytest.raises(SpecError, match="worker reported an error: boom"):
        T.figures_from_result({"ok": False, "mappings": [], "message": "boom"}, clock_hz=1e9)
    with pytest.raises(SpecError, match="missing key"):
        T.figures_from_result({"energy_j": 1.0}, clock_hz=1e9)


# --------------------------------------------------------------------------- worker hygiene


def test_worker_imports_only_stdlib_yaml_and_accelforge() -> None:
    tree = ast.parse(WORKER.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    third_party = {r for r in roots if r not in sys.stdlib_module_names}
    assert third_party <= {"yaml", "accelforge"}, third_party


def test_translate_module_needs_no_accelforge() -> None:
    tree = ast.parse(Path(T.__file__).read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    assert {r for r in roots if r not in sys.stdlib_module_names} <= {"yaml", "tnx_timeloop"}


def test_only_nodes_entries_become_tags() -> None:
    doc = {
        "arch": {
            "nodes": [
                {
                    "type": "Memory",
                    "name": "DRAM",
                    "extra_attributes_for_component_model": {"type": "LPDDR4"},
                },
                {"type": "Container", "name": "PE", "nodes": [{"type": "Compute", "name": "MAC"}]},
            ]
        }
    }
    text = T.to_accelforge_yaml(doc)
    assert "!LPDDR4" not in text and "type: LPDDR4" in text
    assert "- !Memory" in text and "- !Container" in text and "- !Compute" in text
