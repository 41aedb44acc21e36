"""The single-core simulator: counts equal the model's, cycles equal it when nothing throttles, and
throttled cases take longer by hand-computed amounts; the event engine orders ties deterministically."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import case_inputs, oracle_cases
from tnx_timeloop import api
from tnx_timeloop.cli import cli
from tnx_timeloop.errors import MappingError, SpecError
from tnx_timeloop.sim.engine import Engine, Resource
from tnx_timeloop.sim.single import SimOptions, chrome_trace_single, simulate_single, systolic_spec
from tnx_timeloop.spec.arch import Architecture, parse_architecture
from tnx_timeloop.spec.mapping import parse_mapping
from tnx_timeloop.spec.problem import parse_problem

CASES = oracle_cases()
BIG = {"ey_vgg02_layer5", "mapper_ey_vgg02_layer5"}  # 344,064 steps: the full walk takes ~1 s


def _spec(case: str):
    return api.load_spec(case_inputs(case, with_energy=False))


def _unlimited(arch: Architecture) -> Architecture:
    return dataclasses.replace(arch, storage=tuple(
        dataclasses.replace(s, read_bandwidth=None, write_bandwidth=None) for s in arch.storage))


# ---------------------------------------------------------------------------------------------
# engine
# ---------------------------------------------------------------------------------------------


def test_engine_orders_by_cycle_priority_then_insertion():
    eng = Engine()
    log = []
    eng.after(5, lambda: log.append("late"))
    eng.after(2, lambda: log.append("b"), priority=1)
    eng.after(2, lambda: log.append("a"), priority=0)
    eng.after(2, lambda: log.append("c"), priority=1)
    eng.after(0, lambda: eng.after(3, lambda: log.append("nested")))
    assert eng.run() == 5
    assert log == ["a", "b", "c", "nested", "late"]
    with pytest.raises(ValueError):
        eng.after(-1, lambda: None)


def test_resource_books_in_request_order():
    r = Resource("port")
    assert r.reserve(10, 5) == 10
    assert r.reserve(0, 3) == 15  # busy until 15
    assert (r.free_cycle, r.busy_cycles, r.jobs) == (18, 8, 2)


# ---------------------------------------------------------------------------------------------
# oracle cases
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_counts_equal_the_model_and_cycles_when_unthrottled(case):
    spec = _spec(case)
    r = simulate_single(spec.arch, spec.problem, spec.mapping)
    rep = r.report
    model = api.evaluate(spec)
    for name in ("reads", "fills", "updates", "tile_words"):
        assert np.array_equal(getattr(rep, name), getattr(model, name)), name
    # the words the simulated transfers move add up to the model's counts
    np.testing.assert_allclose(r.moved_reads, rep.reads[0], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(r.moved_fills, rep.fills[0], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(r.moved_updates, rep.updates[0], rtol=1e-9, atol=1e-6)
    # accounting identities
    assert r.cycles == r.prologue_cycles + r.window_cycles + r.epilogue_cycles
    assert r.window_cycles == r.compute_cycles + r.systolic_cycles + sum(r.stalls.values())
    assert r.compute_cycles == int(model.compute_cycles[0])
    # time only adds to the analytical model
    assert r.cycles >= r.analytical_cycles
    # nothing throttles without bandwidth limits: exactly the analytical cycles
    free = _unlimited(spec.arch)
    u = simulate_single(free, spec.problem, spec.mapping)
    assert u.cycles == u.analytical_cycles == u.compute_cycles
    assert u.stalls == {} and u.prologue_cycles == 0 and u.epilogue_cycles == 0


@pytest.mark.parametrize("case", [c for c in CASES if c not in BIG])
def test_extrapolation_equals_the_full_walk(case):
    spec = _spec(case)
    fast = simulate_single(spec.arch, spec.problem, spec.mapping)
    full = simulate_single(spec.arch, spec.problem, spec.mapping, options=SimOptions(extrapolate=False))
    assert full.simulated_steps == full.steps
    assert fast.exact and fast.simulated_steps <= fast.steps
    assert (fast.cycles, fast.window_cycles, fast.prologue_cycles, fast.stalls) == (
        full.cycles, full.window_cycles, full.prologue_cycles, full.stalls)
    assert np.array_equal(fast.read_busy_cycles, full.read_busy_cycles)
    assert np.array_equal(fast.write_busy_cycles, full.write_busy_cycles)


def test_largest_oracle_case_runs_in_well_under_a_second():
    import time

    spec = _spec("ey_vgg02_layer5")
    start = time.process_time()
    r = simulate_single(spec.arch, spec.problem, spec.mapping)
    assert time.process_time() - start < 1.0
    assert r.steps == 344064 and r.simulated_steps < 5000
    # single-buffered, fully used spads: refills cannot hide behind compute
    assert r.cycles > r.analytical_cycles
    assert max(r.stalls, key=r.stalls.get)[0] == "psum_spad"


# ---------------------------------------------------------------------------------------------
# hand-computed examples: DRAM -> Buffer -> 1 MAC, y[M] = W[M][K] x[K], M = 4, K = 16
# ---------------------------------------------------------------------------------------------

GEMV = {"shape": {"name": "GEMV", "dimensions": ["M", "K"], "data-spaces": [
    {"name": "Weights", "projection": [[["M"]], [["K"]]]},
    {"name": "Inputs", "projection": [[["K"]]]},
    {"name": "Outputs", "projection": [[["M"]]], "read-write": True}]},
    "instance": {"M": 4, "K": 16}}
# one weight row per step (4 steps); the block is the K loop: 16 cycles
GEMV_MAPPING = [{"target": "DRAM", "type": "temporal", "factors": "M=4 K=1", "permutation": "KM"},
                {"target": "Buffer", "type": "temporal", "factors": "M=1 K=16", "permutation": "KM"}]


def _gemv(dram_bw=None, buffer_words=1024, buffering=1, buffer_read_bw=None, latency=None, compute=None,
          options=None):
    dram = {"width": 16, "datawidth": 16}
    if dram_bw is not None:
        dram["read_bandwidth"] = dram_bw
    if latency is not None:
        dram["latency_cycles"] = latency
    buffer = {"entries": buffer_words, "datawidth": 16, "multiple_buffering": buffering}
    if buffer_read_bw is not None:
        buffer["read_bandwidth"] = buffer_read_bw
    arch = parse_architecture({"version": 0.4, "nodes": [
        {"name": "DRAM", "class": "DRAM", "attributes": dram},
        {"name": "Buffer", "class": "SRAM", "attributes": buffer},
        {"name": "mac", "class": "intmac", "attributes": {"datawidth": 16, **(compute or {})}}]})
    problem = parse_problem(GEMV)
    mapping = parse_mapping(GEMV_MAPPING, arch, problem)
    return simulate_single(arch, problem, mapping, options=options or SimOptions(trace_steps=100))


def test_hand_unthrottled():
    r = _gemv()
    assert (r.cycles, r.analytical_cycles, r.compute_cycles, r.steps) == (64, 64, 64, 4)
    assert r.stalls == {}


def test_hand_double_buffered_prefetch_hides_refills():
    # the first weight row (16 words) and the input vector (16) arrive at 1 word/cycle before the
    # first block: prologue 32; every later 16-word row is prefetched during a 16-cycle block.
    r = _gemv(dram_bw=1, buffering=2)
    assert r.depth == (2, 2)
    assert (r.prologue_cycles, r.window_cycles, r.epilogue_cycles) == (32, 64, 0)
    assert r.cycles == 96 and r.analytical_cycles == 80  # Timeloop spreads all 80 DRAM words over the run
    assert r.stalls == {}


def test_hand_fill_bound():
    # 0.5 word/cycle: a row takes 32 cycles > a 16-cycle block; (W + x)/b + 3 W/b + C = 64 + 96 + 16
    r = _gemv(dram_bw=0.5, buffering=2)
    assert r.cycles == 176 and r.prologue_cycles == 64
    assert r.stalls == {("Buffer", "Weights", "fill"): 3 * 16}
    assert r.cycles - r.analytical_cycles == 16  # the last block after the last row


def test_hand_single_buffered_refills_serialise():
    # 33 words hold exactly one tile (row 16 + x 16 + y 1): each refill waits for the block
    r = _gemv(dram_bw=1, buffer_words=33)
    assert r.depth[1] == 1
    assert r.cycles == 32 + 4 * 16 + 3 * 16
    assert r.stalls == {("Buffer", "Weights", "fill"): 3 * 16}
    blocks = [(e.start_cycle, e.end_cycle) for e in r.events if e.kind == "block"]
    assert blocks == [(32, 48), (64, 80), (96, 112), (128, 144)]


def test_hand_dram_latency_is_hidden_after_the_first_tile():
    r = _gemv(latency=10, buffering=2)
    assert (r.prologue_cycles, r.window_cycles, r.cycles) == (10, 64, 74)
    # latency 25 > a 16-cycle block: row 2 can be requested only when block 0 frees its buffer
    # (cycle 41) and arrives at 66, 9 cycles after block 1 ends; row 3 (requested at 57) is in time
    r = _gemv(buffering=2, options=SimOptions(dram_latency_cycles=25))
    assert r.cycles == 25 + 64 + 9
    assert r.stalls == {("Buffer", "Weights", "fill"): 9}


def test_hand_block_bandwidth():
    # the MAC reads 47 words of the Buffer per block (W 16 + x 16 + y psums 15 = 188 / 4 steps,
    # minus the 4 written back); at 1 word/cycle a block takes 46 cycles, write-backs 1 each
    r = _gemv(buffer_read_bw=1)
    assert r.cycles == r.analytical_cycles == 188
    assert set(r.stalls) == {("Buffer", "Weights", "bandwidth")}


def test_hand_systolic_fill_drain():
    # an os array of 4 x 4 PEs: a fold per output (the M loop), each adding R + C - 2 = 6 cycles
    r = _gemv(compute={"dataflow": "os", "rows": 4, "cols": 4})
    assert r.systolic is not None and r.systolic.overhead_cycles == 6 and r.folds == 4
    assert r.cycles == 64 + 4 * 6 and r.systolic_cycles == 24
    # ws: 2R + C - 2 = 10 per fold; K is the innermost loop and moves the stationary weight every
    # cycle, so every MAC is a fold of one cycle (a mapping a systolic array should avoid)
    r = _gemv(compute={"dataflow": "ws", "rows": 4, "cols": 4})
    assert r.systolic.stationary == "Weights" and r.folds == 64 and r.cycles == 64 + 64 * 10
    # a double-buffered per-PE weight register would hide the R-cycle weight load: R + C - 2 = 6
    ws = systolic_spec(
        parse_architecture({"version": 0.4, "nodes": [
            {"name": "DRAM", "class": "DRAM", "attributes": {"width": 16, "datawidth": 16}},
            {"name": "mac", "class": "intmac", "attributes": {"datawidth": 16, "dataflow": "ws"}}]}),
        parse_problem(GEMV))
    assert ws is not None and (ws.rows, ws.cols, ws.overhead_cycles) == (1, 1, 1)
    assert _gemv(compute={"dataflow": "os", "rows": 4, "cols": 4},
                 options=SimOptions(systolic=False)).cycles == 64


def test_systolic_declaration_errors():
    bad = parse_architecture({"version": 0.4, "nodes": [
        {"name": "DRAM", "class": "DRAM", "attributes": {"width": 16, "datawidth": 16}},
        {"name": "mac", "class": "intmac", "attributes": {"datawidth": 16, "dataflow": "xs"}}]})
    with pytest.raises(SpecError, match="unknown dataflow 'xs'"):
        systolic_spec(bad, parse_problem(GEMV))
    bad = dataclasses.replace(bad, compute=dataclasses.replace(
        bad.compute, attributes=(("dataflow", "ws"), ("stationary", "Psums"))))
    with pytest.raises(SpecError, match="stationary data-space 'Psums'"):
        systolic_spec(bad, parse_problem(GEMV))


def test_invalid_mapping_is_refused():
    problem = parse_problem(GEMV)
    arch = parse_architecture({"version": 0.4, "nodes": [
        {"name": "DRAM", "class": "DRAM", "attributes": {"width": 16, "datawidth": 16}},
        {"name": "Buffer", "class": "SRAM", "attributes": {"entries": 8, "datawidth": 16}},
        {"name": "mac", "class": "intmac", "attributes": {"datawidth": 16}}]})
    with pytest.raises(MappingError, match="Buffer: tiles need"):
        simulate_single(arch, problem, parse_mapping(GEMV_MAPPING, arch, problem))


# ---------------------------------------------------------------------------------------------
# trace and CLI
# ---------------------------------------------------------------------------------------------


def test_trace_is_valid_chrome_json():
    r = _gemv(dram_bw=1, buffering=2)
    trace = json.loads(json.dumps(chrome_trace_single(r)))
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert {e["cat"] for e in spans} == {"block", "fill", "write-back"}
    assert all(e["dur"] >= 0 and isinstance(e["ts"], int) for e in spans)


def test_cli_single(tmp_path):
    files = [str(p) for p in case_inputs("t8_conv1d_os", with_energy=False)]
    trace = tmp_path / "t.json"
    r = CliRunner().invoke(cli, ["sim", "single", *files, "--json", "--trace", str(trace)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["cycles"] == d["analytical_cycles"] == 48
    assert d["model"]["cycles"] == 48 and len(d["levels"]) == 2
    assert json.loads(trace.read_text())["traceEvents"]
    r = CliRunner().invoke(cli, ["sim", "single", *files])
    assert r.exit_code == 0 and "analytical model 48" in r.output
    r = CliRunner().invoke(cli, ["sim", "single", files[0], files[1]])
    assert r.exit_code == 2 and "missing 'mapping'" in r.output
