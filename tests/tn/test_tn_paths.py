"""Path search: DP and bounded enumeration against brute force; k-best MACs; never worse than FLOP-optimal."""

from __future__ import annotations

import numpy as np
import pytest

from tests.tn.tn_helpers import FakeCoster, random_network, tiny_arch
from tnx_timeloop.errors import SearchError
from tnx_timeloop.frontends.tensornet import tensor_ring, tree_leaves, ttm
from tnx_timeloop.search.paths import (
    PathSpace,
    all_trees,
    baseline_tree,
    compare_paths,
    k_cheapest_trees,
    score_tree,
    search_path,
    tree_macs,
)
from tnx_timeloop.search.stepcost import MapperCoster, make_engine, objective_key


def _brute_force(net, coster, training):
    best = None
    for tree in all_trees(len(net.tensors)):
        r = score_tree(net, tree, coster, training=training)
        key = r.key(coster.objective)
        if best is None or key < best[0]:
            best = (key, r)
    return best


@pytest.mark.parametrize("objective", ["latency", "energy", "edp"])
@pytest.mark.parametrize("seed", range(6))
def test_dp_matches_brute_force_on_random_networks(objective, seed):
    rng = np.random.default_rng(seed)
    net = random_network(rng, int(rng.integers(3, 7)), hyper=seed % 3 == 0)
    training = seed % 2 == 1
    coster = FakeCoster(objective)
    dp = search_path(net, coster, method="dp", training=training)
    ex = search_path(net, FakeCoster(objective), method="exhaustive", training=training)
    key, _ = _brute_force(net, FakeCoster(objective), training)
    assert dp.key(objective)[0] == pytest.approx(key[0], rel=1e-12)
    assert ex.key(objective)[0] == pytest.approx(key[0], rel=1e-12)
    assert dp.exact and ex.exact


def test_lazy_dp_maps_few_steps():
    """With admissible bounds the DP maps far fewer distinct steps than the network has."""
    net = ttm([4, 4, 4, 4, 4, 4], [4, 4, 4, 4, 4, 4], 8, 8)
    coster = FakeCoster("latency", tightness=0.05)
    search_path(net, coster, method="dp")
    space = PathSpace(net)
    distinct = {cc for s in space.subsets for a, b in space.splits[s] for cc in space.node_steps(a, b)}
    assert coster.mapper_calls < len(distinct) / 4


def test_dp_connected_is_no_better_than_dp():
    for seed in range(4):
        net = random_network(np.random.default_rng(100 + seed), 6)
        a = search_path(net, FakeCoster(), method="dp")
        b = search_path(net, FakeCoster(), method="dp-connected")
        assert a.key("latency") <= b.key("latency")


def test_k_cheapest_trees_match_sorted_brute_force():
    net = tensor_ring([2, 3, 2, 2], [3, 2, 2, 3], [2, 3, 2, 4], 5)
    space = PathSpace(net)
    macs = sorted(tree_macs(net, t) for t in all_trees(len(net.tensors)))
    got = [m for m, _ in k_cheapest_trees(space, 7)]
    assert got == macs[:7]
    for m, t in k_cheapest_trees(space, 3):
        assert tree_macs(net, t) == m


def test_mac_pruned_with_k_one_is_the_mac_optimal_tree():
    net = ttm([2, 4, 2], [4, 2, 2], [3, 5], 6)
    r = search_path(net, FakeCoster(), method="mac-pruned", k=1)
    assert r.macs == min(tree_macs(net, t) for t in all_trees(len(net.tensors)))
    assert not r.exact


@pytest.mark.parametrize("seed", range(4))
def test_hardware_path_never_worse_than_baselines(seed):
    rng = np.random.default_rng(seed)
    net = random_network(rng, 5 + seed % 2)
    for objective in ("latency", "energy", "edp"):
        for method in ("auto", "dp-connected", "mac-pruned"):
            c = compare_paths(net, FakeCoster(objective), method=method, baselines=("optimal", "dp", "greedy"), k=2)
            for name, r in c.results.items():
                assert c.hardware.key(objective)[0] <= r.key(objective)[0] * (1 + 1e-9), (method, name)
            assert c.gain("latency") > 0


def test_real_mapper_dp_is_optimal_among_all_trees():
    """On the tiny architecture, with the mapper's per-step costs, the DP path is the best of every tree."""
    net = ttm([2, 3, 2], [3, 2, 2], [2, 2], 2)
    coster = MapperCoster(make_engine(tiny_arch(), "tiny"), objective="latency", budget=150)
    best = search_path(net, coster, method="dp")
    for tree in all_trees(len(net.tensors)):
        r = score_tree(net, tree, coster)
        assert best.key("latency") <= r.key("latency")
    cmp = compare_paths(net, coster, baselines=("optimal", "greedy"))
    assert cmp.hardware.cycles <= cmp.results["optimal"].cycles
    d = cmp.to_dict()
    assert {s["engine"] for s in d["results"]["hardware"]["steps"]} == {"tiny"}
    assert d["gain_latency"] >= 1.0


def test_training_costs_include_backward_steps():
    net = ttm([2, 3, 2], [3, 2, 2], [2, 2], 2, input_grad=False)
    inf = search_path(net, FakeCoster(), training=False)
    tr = search_path(net, FakeCoster(), training=True)
    assert len(inf.steps) == 3 and len(tr.steps) == 3 + 5
    assert tr.cycles > inf.cycles
    assert {s.contraction.phase for s in tr.steps} == {"forward", "backward"}


def test_baselines_and_errors():
    net = ttm([4, 4, 4], [4, 4, 4], 4, 8)
    for name in ("optimal", "dp", "greedy"):
        t = baseline_tree(net, name)
        assert tree_macs(net, t) >= tree_macs(net, baseline_tree(net, "optimal"))
    with pytest.raises(SearchError, match="unknown baseline"):
        baseline_tree(net, "magic")
    with pytest.raises(SearchError, match="unknown path method 'fast'"):
        search_path(net, FakeCoster(), method="fast")
    with pytest.raises(SearchError, match="unknown objective"):
        MapperCoster(make_engine(tiny_arch()), objective="speed")
    with pytest.raises(SearchError, match="trees"):
        all_trees(12)


def test_cotengra_baseline_when_installed():
    pytest.importorskip("cotengra")
    net = ttm([4, 4, 4, 4], [4, 4, 4, 4], 4, 8)
    t = baseline_tree(net, "cotengra", seed=1)
    assert sorted(tree_leaves(t)) == list(range(5))


def test_objective_key_orders():
    assert objective_key("latency", 10, 5) < objective_key("latency", 10, 6) < objective_key("latency", 11, 0)
    assert objective_key("energy", 100, 5) < objective_key("energy", 1, 6)
    assert objective_key("edp", 2, 3) == (6, 2)
