"""Joint path x mapping x hardware search: budgets, branch and bound against exhaustive, dense comparison, workloads."""

from __future__ import annotations

from pathlib import Path

import pytest

from tnx_timeloop.errors import SearchError, SpecError
from tnx_timeloop.frontends.tensornet import dense_linear, ttm
from tnx_timeloop.frontends.tnmodel import TnLayer, TnModel, load_tn_model, parse_tn_model
from tnx_timeloop.search.joint import (
    HardwareSpace,
    ResourceBudget,
    compare_dense,
    enumerate_configs,
    joint_search,
    tt_kernel_space,
)

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = ROOT / "workloads" / "tensorized"
TEMPLATE = ROOT / "arch" / "single-core" / "tt-kernel.yaml"


def _small_space():
    return tt_kernel_space(TEMPLATE, grid={"rows": (4, 8), "cols": (4, 8), "tt_lanes": (4, 8)},
                           fixed={"glb_kib": 64, "core_buffer_kib": 16})


def _small_model():
    layer = TnLayer("ttm", ttm([2, 4, 2], [4, 2, 2], 4, 8, input_grad=False), 2,
                    dense_linear(16, 16, 8, input_grad=False))
    return TnModel("small", (layer, TnLayer("fc", dense_linear(16, 4, 8), 1, None)))


def test_budget_filters_configurations_and_reports_resources():
    space = _small_space()
    all_cfgs = enumerate_configs(space)
    assert len(all_cfgs) == 8
    cfgs = enumerate_configs(space, ResourceBudget(max_pes=40))
    assert cfgs and all(c.pes <= 40 for c in cfgs)
    assert all(c.on_chip_kib > 64 and c.area_mm2 > 0 for c in cfgs)
    with pytest.raises(SearchError, match=r"no hardware configuration .* meets the budget \(max_pes=3\); the smallest configuration .* needs 20 PEs"):
        enumerate_configs(space, ResourceBudget(max_pes=3))


def test_branch_and_bound_finds_the_exhaustive_optimum():
    model = _small_model()
    space = _small_space()
    kw = dict(mapper_budget=150, jobs=1)
    bb = joint_search(model, space, ResourceBudget(max_pes=80), **kw)
    ex = joint_search(model, space, ResourceBudget(max_pes=80), exhaustive=True, **kw)
    assert bb.best.cycles == min(r.cycles for r in ex.evaluated)
    assert len(bb.evaluated) + bb.pruned == bb.candidates == len(ex.evaluated)
    for r in ex.evaluated:
        assert r.cycles >= r.lower_bound[0] and r.energy_pj >= r.lower_bound[1] * (1 - 1e-12)
    d = bb.to_dict()
    assert d["best"]["layers"][0]["name"] == "ttm" and d["candidates"] == bb.candidates


def test_training_costs_more_than_inference_and_dense_comparison():
    model = _small_model()
    space = _small_space()
    inf = joint_search(model, space, ResourceBudget(max_pes=40), mapper_budget=150, jobs=1)
    tr = joint_search(model, space, ResourceBudget(max_pes=40), mode="training", mapper_budget=150, jobs=1)
    assert tr.best.cycles > inf.best.cycles
    cmp = compare_dense(model, space, ResourceBudget(max_pes=40), mapper_budget=150, jobs=1)
    assert cmp.dense.model == "small-dense"
    assert cmp.compression > 1
    assert cmp.speedup > 0 and cmp.speedup_same_config > 0
    assert set(cmp.to_dict()) >= {"speedup", "tensorized", "dense"}


def test_parallel_workers_give_the_same_answer():
    model = _small_model()
    space = _small_space()
    a = joint_search(model, space, ResourceBudget(max_pes=80), mapper_budget=150, jobs=1)
    b = joint_search(model, space, ResourceBudget(max_pes=80), mapper_budget=150, jobs=2)
    assert a.best.cycles == b.best.cycles and a.best.config == b.best.config


def test_joint_errors():
    with pytest.raises(SearchError, match="unknown mode"):
        joint_search(_small_model(), _small_space(), mode="fine-tune")
    with pytest.raises(SearchError, match="unknown objective"):
        joint_search(_small_model(), _small_space(), objective="speed")
    space = HardwareSpace(str(TEMPLATE), (("rows", (4,)),), (("rowz", 1),), ("gemm",))
    with pytest.raises(SpecError, match="unknown template variable 'rowz'; the template takes"):
        enumerate_configs(space)
    space = HardwareSpace(str(TEMPLATE), (("rows", (4,)),), (), ("gemm",))
    assert enumerate_configs(space)[0].pes == 4 * 16


@pytest.mark.parametrize("name", sorted(p.name for p in WORKLOADS.glob("*.yaml")))
def test_workloads_load(name):
    model = load_tn_model(WORKLOADS / name)
    assert model.layers and model.parameters > 0


def test_dense_baselines_match_the_dense_files():
    for tt_file, dense_file in (("ttm-resnet18-cifar10.yaml", "resnet18-cifar10-dense.yaml"),
                                ("ttm-vit-cifar10.yaml", "vit-cifar10-dense.yaml")):
        derived = load_tn_model(WORKLOADS / tt_file, {"batch": 2}).dense_baseline()
        written = load_tn_model(WORKLOADS / dense_file, {"batch": 2})
        assert [(x.name, x.count, x.network.sizes) for x in derived.layers] == \
               [(x.name, x.count, x.network.sizes) for x in written.layers]
    model = load_tn_model(WORKLOADS / "ttm-resnet18-cifar10.yaml")
    assert model.dense_baseline().parameters == 11_164_352  # ResNet-18 for CIFAR-10 without BN/bias
    assert load_tn_model(WORKLOADS / "ttm-resnet18-cifar10.yaml", {"rank": 8}).parameters < model.parameters


@pytest.mark.parametrize("doc, text", [
    ({"tensorized_model": {"name": "m", "layers": [{"name": "a", "format": "ttm", "batch": 2, "in_modes": [2, 2],
                                                    "out_modes": [2, 2], "ranks": 2, "rnk": 3}]}}, "unknown key 'rnk'"),
    ({"tensorized_model": {"name": "m", "layers": [{"name": "a", "format": "svd"}]}}, "unknown format 'svd'"),
    ({"tensorized_model": {"name": "m", "layers": []}}, "non-empty list of layers"),
    ({"tensor_network": {"name": "a", "format": "ttm", "batch": 2, "in_modes": [2, 2], "out_modes": [2, 2],
                         "ranks": [2, 3]}}, "needs 1 ranks, got 2"),
    ({"tensor_network": {"name": "a", "format": "einsum", "expression": "q[b,e] * k[b,e] -> a[b]",
                         "sizes": {"b": 2, "e": 3}}}, "not declared a batch/hyper index"),
    ({"layers": []}, "expected a top-level 'tensorized_model' or 'tensor_network'"),
])
def test_model_file_errors(doc, text):
    with pytest.raises(SpecError) as err:
        parse_tn_model(doc)
    assert text in str(err.value)


def test_model_errors_are_collected_and_located():
    doc = {"tensorized_model": {"name": "m", "layers": [
        {"name": "a", "format": "dense", "batch": 0, "in_features": 2, "out_features": 2},
        {"name": "b", "format": "ttm", "batch": 2, "in_modes": [2], "out_modes": [2, 2], "ranks": 1},
    ]}}
    with pytest.raises(SpecError) as err:
        parse_tn_model(doc)
    msg = str(err.value)
    assert "2 problem(s)" in msg and "layers[0]" in msg and "layers[1]" in msg
