"""Dynamic execution of early-exit designs: a simulated stream reproduces the expected cost.

The network and statistics are those of the search tests; the mapper is faked (every layer
costs ``macs`` cycles and ``2 * macs`` pJ) so the expected figures are exact and cheap.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_eenn_search import _network, _stats

from tnx_timeloop.errors import SpecError
from tnx_timeloop.search.eenn import Design, EENNEvaluator
from tnx_timeloop.search.eenn_dynamic import platform_package, simulate_stream, write_timeline
from tnx_timeloop.spec.multicore import CoreSpec, MemorySpec, MultiCoreArchitecture, NocSpec


@pytest.fixture
def evaluator(two_core_platform, fake_mapper):
    return EENNEvaluator(_network(), _stats(), two_core_platform, precisions=("int8", "int4"))


@pytest.fixture
def package(two_core_platform):
    """The two-core platform as the simulator's package: a 2-node ring, free shared memory."""
    p = two_core_platform
    arch = p.core_types[0]
    return MultiCoreArchitecture(
        name="two", cores=(CoreSpec(name="tpu", count=2, arch=arch),),
        noc=NocSpec(topology="ring", dims=(2,), link_bandwidth_bits_per_cycle=p.link_bits_per_cycle,
                    hop_latency_cycles=p.hop_latency_cycles, energy_pj_per_bit_hop=p.noc_pj_per_bit_hop),
        memory=MemorySpec(type="DRAM", bandwidth_bits_per_cycle=1e9, energy_pj_per_bit=0.0))


def _design(ev, exits=("c1", "c3"), threshold_index=1, alloc=None):
    n = len(ev.network.layers)
    base = Design(tuple(exits), ("s",) * len(exits), "int8", "int8", threshold_index, (0,) * n)
    if alloc is None:
        return ev.balanced_allocation(base)
    return Design(base.exits, base.head_sizes, "int8", "int8", threshold_index, tuple(alloc))


def test_long_stream_reproduces_expected_energy_and_interval(evaluator, package):
    design = _design(evaluator)
    res = simulate_stream(evaluator, design, n_inputs=3000, seed=1, package=package)
    exp = evaluator.evaluate(design)
    # energy per input: mapped layer energy + NoC; sampling noise of 3000 exit draws only
    assert res.energy_per_input_pj == pytest.approx(exp.energy_pj, rel=0.02)
    # the saturated stream sustains the busiest core's expected work per input (plus NoC and gating slack)
    assert exp.interval_cycles * 0.9 <= res.interval_cycles <= exp.interval_cycles * 1.15
    # exit counts follow the statistics' fractions
    counts = np.array([res.exit_counts[e] for e in design.exits] + [res.exit_counts["final"]], dtype=float)
    assert counts.sum() == 3000
    assert np.allclose(counts / 3000, exp.exit_fractions, atol=0.03)


def test_early_exits_shorten_latency_and_save_energy(evaluator, package):
    """An input that leaves at an exit does no later work: more exits taken -> less energy per input."""
    strict = simulate_stream(evaluator, _design(evaluator, threshold_index=3), n_inputs=500, package=package,
                             arrival_interval_cycles="expected")
    loose = simulate_stream(evaluator, _design(evaluator, threshold_index=0), n_inputs=500, package=package,
                            arrival_interval_cycles="expected")
    assert loose.exit_counts["final"] < strict.exit_counts["final"]
    assert loose.energy_per_input_pj < strict.energy_per_input_pj
    assert loose.latency_percentile(50) <= strict.latency_percentile(50)


def test_stream_is_seeded(evaluator, package):
    design = _design(evaluator)
    a = simulate_stream(evaluator, design, n_inputs=400, seed=7, package=package)
    b = simulate_stream(evaluator, design, n_inputs=400, seed=7, package=package)
    c = simulate_stream(evaluator, design, n_inputs=400, seed=8, package=package)
    assert a.to_dict() == b.to_dict()
    assert np.array_equal(a.latency_cycles, b.latency_cycles)
    assert a.exit_counts != c.exit_counts or not np.array_equal(a.latency_cycles, c.latency_cycles)


def test_spaced_arrivals_have_no_queueing_at_a_sustainable_rate(evaluator, package):
    """Arrivals every expected interval: the latency stays near one input's latency; all at once: it grows."""
    design = _design(evaluator, exits=(), threshold_index=0)
    spaced = simulate_stream(evaluator, design, n_inputs=200, package=package,
                             arrival_interval_cycles=int(2 * evaluator.evaluate(design).interval_cycles))
    burst = simulate_stream(evaluator, design, n_inputs=200, package=package)
    single = evaluator.evaluate(design).latency_cycles
    assert spaced.latency_percentile(99) <= 1.2 * single
    assert burst.latency_percentile(99) > 10 * single


def test_timeline_files_and_json(evaluator, package, tmp_path):
    res = simulate_stream(evaluator, _design(evaluator), n_inputs=20, package=package)
    files = write_timeline(res, tmp_path / "t")
    trace = json.loads((tmp_path / "t" / "stream.trace.json").read_text())
    assert trace  # Chrome trace events
    assert (tmp_path / "t" / "stream.gantt.png").stat().st_size > 1000
    assert set(files) == {"trace", "gantt"}
    json.dumps(res.to_dict())


def test_bad_stream_settings(evaluator, package):
    design = _design(evaluator)
    with pytest.raises(SpecError, match="n_inputs"):
        simulate_stream(evaluator, design, n_inputs=0, package=package)
    with pytest.raises(SpecError, match="arrival_interval_cycles"):
        simulate_stream(evaluator, design, n_inputs=5, package=package, arrival_interval_cycles="soon")
    # a multi-core platform without its file cannot be simulated without an explicit package
    with pytest.raises(SpecError, match="file"):
        platform_package(evaluator.platform)
