"""Expected cost under dynamic inference against a hand-computed example."""

from __future__ import annotations

import numpy as np
import pytest

from tnx_timeloop.errors import SearchError
from tnx_timeloop.frontends.exit_stats import ExitCurve, exit_distribution
from tnx_timeloop.search.eenn import Design, EENNEvaluator, contiguous_allocation


def test_exit_distribution_hand_example(tiny_stats):
    e = tiny_stats.lookup("c1")
    f = tiny_stats.lookup("final")
    d = exit_distribution([e], f, 1)
    # threshold 0.9: 20 % leave at c1 (accuracy 0.95 on them); the final classifier takes the rest.
    # K_final(0.2) = 0.2 / 0.6 * 0.594 = 0.198, so accuracy = 0.19 + (0.9 - 0.198).
    assert d.fractions == pytest.approx([0.2, 0.8])
    assert d.accuracy == pytest.approx(0.19 + 0.9 - 0.198)
    assert d.reach == pytest.approx([1.0, 0.8])


def test_exit_distribution_nested_rates():
    a = ExitCurve("a", "*", "*", "*", 0.6, (0.3,), (0.9,))
    b = ExitCurve("b", "*", "*", "*", 0.7, (0.2,), (0.95,))  # fewer confident than a: takes nobody new
    f = ExitCurve("final", "*", "*", "*", 0.9, (0.8,), (0.99,))
    d = exit_distribution([a, b], f, 0)
    assert d.fractions == pytest.approx([0.3, 0.0, 0.7])
    assert d.fractions.sum() == pytest.approx(1.0)


def test_no_exit_accuracy_is_final_accuracy(tiny_stats):
    d = exit_distribution([], tiny_stats.lookup("final"), 0)
    assert d.fractions == pytest.approx([1.0])
    assert d.accuracy == pytest.approx(0.9)


def test_expected_cost_hand_computed(tiny_net, tiny_stats, two_core_platform, fake_mapper):
    ev = EENNEvaluator(tiny_net, tiny_stats, two_core_platform, precisions=["int8"])
    # c1 on core 0, the rest on core 1; the exit head runs on core 0 with c1
    d = Design(("c1",), ("s",), "int8", "int8", 1, (0, 1, 1, 1))
    c = ev.evaluate(d)
    macs = {"c1": 4 * 8 * 64 * 9, "c2": 8 * 8 * 64 * 9, "pool": 8 * 64, "fc": 8 * 10}
    head = 8 * 4 * 64 + 4 * 64 + 4 * 10  # pwconv, pool, fc
    transfer_cycles = 8 * 64 * 8 / 64 + 1 * 2  # c1's output (512 int8 words) over one 64-bit link, one hop
    transfer_pj = 8 * 64 * 8 * 1 * 0.5
    upto_exit_cyc = macs["c1"] + head
    upto_exit_pj = 2 * macs["c1"] + 2 * head
    final_cyc = sum(macs.values()) + head + transfer_cycles
    final_pj = 2 * sum(macs.values()) + 2 * head + transfer_pj
    assert c.exit_fractions == pytest.approx([0.2, 0.8])
    assert c.energy_pj == pytest.approx(0.2 * upto_exit_pj + 0.8 * final_pj)
    assert c.latency_cycles == pytest.approx(0.2 * upto_exit_cyc + 0.8 * final_cyc)
    assert c.worst_energy_pj == pytest.approx(final_pj)
    assert c.worst_latency_cycles == pytest.approx(final_cyc)
    busy0 = macs["c1"] + head
    busy1 = 0.8 * (macs["c2"] + transfer_cycles + macs["pool"] + macs["fc"])
    assert c.core_busy_cycles == pytest.approx([busy0, busy1])
    assert c.interval_cycles == pytest.approx(max(busy0, busy1))
    assert c.edp == pytest.approx(c.energy_pj * c.interval_cycles)
    assert c.exit_energy_pj == pytest.approx(2 * head)
    assert c.exit_overhead == pytest.approx(2 * head / c.energy_pj)
    assert c.noc_energy_pj == pytest.approx(0.8 * transfer_pj)
    # parameters + the largest activation working set, in bits, per core
    w_c1, w_head = 4 * 8 * 9, 8 * 4 + 4 * 10
    act0 = (4 * 64 + 8 * 64) * 8
    assert c.memory_bits[0] == pytest.approx((w_c1 + w_head) * 8 + act0)
    assert c.accuracy == pytest.approx(0.19 + 0.9 - 0.198)


def test_per_exit_sum_equals_reach_weighted_sum(tiny_net, tiny_stats, two_core_platform, fake_mapper):
    ev = EENNEvaluator(tiny_net, tiny_stats, two_core_platform, precisions=["int8"])
    c = ev.evaluate(Design(("c1",), ("s",), "int8", "int8", 0, (0, 0, 0, 0)))
    by_exit = sum(pe["fraction"] * pe["energy_pj"] for pe in c.per_exit)
    assert c.energy_pj == pytest.approx(by_exit)
    # one core: interval = expected latency (no transfers)
    assert c.interval_cycles == pytest.approx(c.latency_cycles)


def test_static_design_has_no_exit_overhead(tiny_net, tiny_stats, two_core_platform, fake_mapper):
    ev = EENNEvaluator(tiny_net, tiny_stats, two_core_platform, precisions=["int8"])
    d, c = ev.static_baseline("int8")
    assert d.exits == ()
    assert c.exit_overhead == 0.0
    assert c.energy_pj == pytest.approx(c.worst_energy_pj)
    assert c.accuracy == pytest.approx(0.9)


def test_bad_designs_are_refused(tiny_net, tiny_stats, two_core_platform, fake_mapper):
    ev = EENNEvaluator(tiny_net, tiny_stats, two_core_platform, precisions=["int8"])
    with pytest.raises(SearchError, match="unknown exit"):
        ev.evaluate(Design(("c2",), ("s",), "int8", "int8", 0, (0,) * 4))
    with pytest.raises(SearchError, match="core indices"):
        ev.evaluate(Design((), (), "int8", "int8", 0, (0, 0, 2, 0)))
    with pytest.raises(SearchError, match="not prepared"):
        ev.evaluate(Design((), (), "int4", "int8", 0, (0,) * 4))


@pytest.mark.parametrize(("cycles", "stages", "expected"), [
    ([4, 1, 1, 1, 1], 2, (0, 1, 1, 1, 1)),
    ([1, 1, 1, 1], 2, (0, 0, 1, 1)),
    ([5, 5, 5], 5, (0, 1, 2)),
    ([3, 3], 1, (0, 0)),
])
def test_contiguous_allocation(cycles, stages, expected):
    assert contiguous_allocation(cycles, stages) == expected


def test_simulation_inputs_follow_the_fractions(tiny_net, tiny_stats, two_core_platform, fake_mapper):
    ev = EENNEvaluator(tiny_net, tiny_stats, two_core_platform, precisions=["int8"])
    d = Design(("c1",), ("s",), "int8", "int8", 1, (0, 1, 1, 1))
    inp = ev.simulation_inputs(d, n_inputs=4000, seed=3)
    assert inp == ev.simulation_inputs(d, n_inputs=4000, seed=3)
    head_last = [n["name"] for n in inp["nodes"]][-1]
    share = np.mean([x == head_last for x in inp["exits"]])
    assert share == pytest.approx(0.2, abs=0.03)
    c2 = next(n for n in inp["nodes"] if n["name"] == "c2")
    assert head_last in c2["deps"]  # the decision gates the backbone
    assert inp["allocation"]["c1.s.0_pwconv"] == 0
