"""The vectorised batch model equals the literal reference walk on random mappings.

Random mappings (seeded) on every oracle architecture and problem, including
mappings where neighbour link transfers occur and where bypass, multicast and
sliding windows interact. The reference is slow, so each run draws few mappings
per case; ``benchmarks/fuzz_batch_vs_reference.py`` runs many more.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import ORACLE
from tnx_timeloop.model.batch import MappingBatch, analyze_batch
from tnx_timeloop.model.nest import build_nest
from tnx_timeloop.model.reference import analyze_reference
from tnx_timeloop.spec.arch import parse_architecture
from tnx_timeloop.spec.problem import parse_problem
from tnx_timeloop.spec.yaml_io import load_yaml_file
from tnx_timeloop.testing import random_mappings

# one case per distinct (architecture, problem); the Eyeriss VGG layer is too slow for the reference
FAST = [
    "s16_conv1d_oc_ic_kp", "s16_conv3x3_c1m16", "s16_gemm64", "s16_tt3", "t16_conv3x3_c16m16_p8",
    "t16_gemm_m128n96k48", "t8_conv1d_bypass_inputs", "t8_gemm64", "sb_conv3x3_n4", "ey_conv5x5_c6m16",
    "ey_conv3x3_c16m16_p8_rs_hand", "ws_conv1x1",
]


def compare(arch, problem, mappings):
    counts, needs = analyze_batch(arch, problem, MappingBatch.from_mappings(mappings))
    L = len(arch.storage)
    for i, m in enumerate(mappings):
        assert not needs[i]
        ref = analyze_reference(problem, build_nest(arch, m))
        assert counts.compute_cycles[i] == ref.compute_cycles
        for lv in range(L):
            r = ref.levels[L - 1 - lv]
            np.testing.assert_allclose(counts.reads[i, lv], r.reads, rtol=1e-9, err_msg=f"mapping {i} level {lv} reads")
            np.testing.assert_allclose(counts.fills[i, lv], r.fills, rtol=1e-9, err_msg=f"mapping {i} level {lv} fills")
            np.testing.assert_allclose(counts.updates[i, lv], r.updates, rtol=1e-9, err_msg=f"mapping {i} level {lv} updates")
            np.testing.assert_array_equal(counts.tile_words[i, lv], r.tile_words)
            np.testing.assert_array_equal(counts.partition_words[i, lv], r.partition_words)
            assert counts.utilized_instances[i, lv] == r.utilized_instances


@pytest.mark.parametrize("case", FAST)
def test_random_mappings(case):
    inp = ORACLE / case / "inputs"
    arch = parse_architecture(load_yaml_file(inp / "arch.yaml")["architecture"])
    problem = parse_problem(load_yaml_file(inp / "problem.yaml")["problem"])
    compare(arch, problem, random_mappings(arch, problem, 6, seed=7))


def test_link_transfer_mapping_matches_reference():
    """A systolic-style mapping (spatial R, temporal P of tile 1) moves inputs over neighbour links."""
    inp = ORACLE / "s16_conv1d_oc_ic_kp" / "inputs"
    arch = parse_architecture(load_yaml_file(inp / "arch.yaml")["architecture"])
    problem = parse_problem(load_yaml_file(inp / "problem.yaml")["problem"])
    from tnx_timeloop.spec.mapping import parse_mapping

    mapping = parse_mapping(
        [
            {"target": "GlobalBuffer", "type": "spatial", "factors": "R=3 K=4", "permutation": "RKCP", "split": 4},
            {"target": "GlobalBuffer", "type": "temporal", "factors": "P=16", "permutation": "PRKC"},
            {"target": "MainMemory", "type": "temporal", "factors": "C=32 K=8", "permutation": "CKRP"},
        ],
        arch,
        problem,
    )
    ref = analyze_reference(problem, build_nest(arch, mapping))
    assert any(any(lv.link_transfers) for lv in ref.levels), "this mapping should use link transfers"
    compare(arch, problem, [mapping])
