"""The constrained NSGA-II search: constraints respected, baselines, seeded reproducibility."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tnx_timeloop.errors import SearchError
from tnx_timeloop.frontends.early_exit import parse_network
from tnx_timeloop.frontends.exit_stats import ExitCurve, ExitStatistics, Provenance, calibrated_power_curve
from tnx_timeloop.search.eenn import EENNEvaluator, Platform
from tnx_timeloop.search.eenn_search import (
    DesignEncoding,
    SearchSettings,
    format_pareto_table,
    pareto_mask,
    search_eenn,
)

PRECISIONS = ("int8", "int4")
THRESHOLDS = (0.5, 0.7, 0.9, 0.99)


def _network():
    layers = [{"name": f"c{i}", "type": "conv", "out": 16, "kernel": 3} for i in range(6)]
    layers += [{"name": "pool", "type": "pool", "kind": "avg", "global": True}, {"name": "fc", "type": "fc", "out": 10}]
    return parse_network({
        "name": "six", "input": [16, 8, 8], "classes": 10, "layers": layers,
        "exits": {"candidates": ["c1", "c3", "c4"],
                  "head": {"sizes": {"s": {"w": 8}, "l": {"w": 32}},
                           "layers": [{"type": "pwconv", "out": "{w}"}, {"type": "pool", "kind": "avg", "global": True},
                                      {"type": "fc", "out": "{classes}"}]}},
    })


def _stats():
    curves = []
    base = {"c1": 0.55, "c3": 0.7, "c4": 0.8}
    for b in PRECISIONS:
        drop = 0.0 if b == "int8" else 0.02
        r, a = calibrated_power_curve(0.9 - drop, THRESHOLDS, 10)
        curves.append(ExitCurve("final", "*", b, "*", 0.9 - drop, tuple(r), tuple(a)))
        for e, acc in base.items():
            for size, dh in (("s", -0.02), ("l", 0.0)):
                for x in PRECISIONS:
                    v = acc + dh - drop - (0.0 if x == "int8" else 0.01)
                    r, a = calibrated_power_curve(v, THRESHOLDS, 10)
                    curves.append(ExitCurve(e, size, b, x, v, tuple(r), tuple(a)))
    return ExitStatistics("six", "confidence", THRESHOLDS, Provenance("assumption", "synthetic test curves"), tuple(curves))


@pytest.fixture
def evaluator(two_core_platform, fake_mapper):
    return EENNEvaluator(_network(), _stats(), two_core_platform, precisions=PRECISIONS)


def test_encoding_round_trip(evaluator):
    enc = DesignEncoding(evaluator)
    d = evaluator.balanced_allocation(evaluator.static_design("int4", (0,) * 8))
    d = replace(d, exits=("c1", "c4"), head_sizes=("l", "s"), threshold_index=2)
    assert enc.decode(enc.encode(d)) == d
    assert enc.n_var == 2 * 3 + 3 + 8


def test_search_is_reproducible_with_a_seed(evaluator):
    s = SearchSettings(population=16, generations=6, seed=7)
    a = search_eenn(evaluator, s)
    b = search_eenn(evaluator, s)
    assert [(p.design, p.cost.edp) for p in a.pareto] == [(p.design, p.cost.edp) for p in b.pareto]
    assert a.reductions == b.reductions
    assert set(a.baselines) == set(PRECISIONS)
    assert "assumption" in format_pareto_table(a)


def test_minimum_accuracy_constraint(evaluator):
    res = search_eenn(evaluator, SearchSettings(population=16, generations=6, seed=1, min_accuracy=0.85))
    assert res.pareto and all(p.cost.accuracy >= 0.85 for p in res.pareto)
    with pytest.raises(SearchError, match="no feasible design"):
        search_eenn(evaluator, SearchSettings(population=8, generations=2, seed=1, min_accuracy=0.99))


def test_latency_bound_constraint(evaluator):
    static = evaluator.static_baseline("int8")[1]
    bound = 1.01 * static.worst_latency_cycles  # exit heads lengthen the worst case: few exits fit
    free = search_eenn(evaluator, SearchSettings(population=16, generations=6, seed=2))
    assert any(p.cost.worst_latency_cycles > bound for p in free.pareto)
    res = search_eenn(evaluator, SearchSettings(population=16, generations=6, seed=2, latency_bound_cycles=bound))
    assert res.pareto and all(p.cost.worst_latency_cycles <= bound for p in res.pareto)
    with pytest.raises(SearchError, match="no feasible design"):
        search_eenn(evaluator, SearchSettings(population=8, generations=2, seed=2, latency_bound_cycles=0.5 * bound))


def test_memory_per_core_constraint(two_core_platform, fake_mapper):
    core = two_core_platform.core_types[0]
    sram = core.storage[0]
    # 6 x 2304 int8 weights = 110.6 kbit: a 90 kbit memory per core forces the work onto both cores
    small = replace(core, storage=(replace(sram, size_words=90_000 // sram.word_bits), *core.storage[1:]))
    plat = replace(two_core_platform, core_types=(small,))
    ev = EENNEvaluator(_network(), _stats(), plat, precisions=["int8"])
    assert ev.evaluate(ev.static_design("int8", (0,) * 8)).memory_violation > 0
    d, c = ev.static_baseline("int8")
    assert len(set(d.allocation)) == 2 and c.memory_violation <= 0
    res = search_eenn(ev, SearchSettings(population=16, generations=5, seed=0))
    assert all(p.cost.memory_violation <= 0 for p in res.pareto)
    assert all(len(set(p.design.allocation)) == 2 for p in res.pareto)


def test_reductions_compare_with_the_same_precision(evaluator):
    res = search_eenn(evaluator, SearchSettings(population=16, generations=6, seed=3))
    for r in res.reductions:
        base = res.baselines[r["baseline"]]
        assert r["baseline_edp"] == pytest.approx(base.cost.edp)
        if r["found"]:
            assert r["edp_reduction"] == pytest.approx(1 - r["edp"] / base.cost.edp)


def test_pareto_mask_matches_brute_force():
    rng = np.random.default_rng(0)
    f = rng.integers(0, 6, size=(300, 3)).astype(float)
    le = (f[None, :, :] <= f[:, None, :]).all(axis=2)
    lt = (f[None, :, :] < f[:, None, :]).any(axis=2)
    assert (pareto_mask(f) == ~(le & lt).any(axis=1)).all()


def test_two_core_platform_is_a_platform(two_core_platform):
    assert isinstance(two_core_platform, Platform) and two_core_platform.n_cores == 2
