"""Multi-core simulation and allocation search: hand-computed timelines on a tiny package, NoC
routes and contention, early exits, traces, ResNet-18 on quad-core-edge-tpu, exact vs heuristic."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tnx_timeloop.cli import cli
from tnx_timeloop.errors import SpecError
from tnx_timeloop.sim.allocation import (
    allocation_options,
    compare_with_layer_by_layer,
    objective_value,
    search_allocation,
)
from tnx_timeloop.sim.multicore import (
    NodeCost,
    TaskNode,
    WorkloadGraph,
    load_workload_graph,
    noc_route,
    node_costs,
    package_core_arch,
    simulate_multicore,
    split_plan,
)
from tnx_timeloop.sim.scalesim_arch import cnn_layer_problem
from tnx_timeloop.spec.multicore import load_multicore_file, parse_multicore

ROOT = Path(__file__).resolve().parents[2]
QUAD = ROOT / "arch" / "multi-core" / "quad-core-edge-tpu.yaml"
RESNET18 = ROOT / "workloads" / "resnet18" / "network.yaml"

CORE = {"version": 0.4, "nodes": [
    {"name": "DRAM", "class": "DRAM", "attributes": {"width": 64, "datawidth": 8}},
    {"name": "Buffer", "class": "SRAM", "attributes": {"entries": 65536, "datawidth": 8}},
    {"name": "mac", "class": "intmac", "spatial": {"meshX": 4}, "attributes": {"datawidth": 8}}]}


def package(topology: str = "mesh2d", dims=(2, 2), hop_latency: int = 2, memory_latency: int = 0):
    noc = {"topology": topology, "link_bandwidth_bits_per_cycle": 128, "hop_latency_cycles": hop_latency,
           "energy_pj_per_bit_hop": 0.5}
    if topology == "mesh2d":
        noc["dims"] = list(dims)
    return parse_multicore({
        "name": "tiny", "cores": [{"name": "c", "count": 4, "architecture": CORE}], "noc": noc,
        "memory": {"type": "LPDDR4", "bandwidth_bits_per_cycle": 256, "energy_pj_per_bit": 4.0,
                   "latency_cycles": memory_latency}})


def layer(c: int = 16, m: int = 16, p: int = 8):
    return cnn_layer_problem(C=c, M=m, R=1, S=1, N=1, P=p, Q=p)


def costs_for(graph: WorkloadGraph, n_cores: int = 4, **fields) -> dict:
    base = {"cycles": 1000, "energy_pj": 100.0, "dram_read_bytes": 0, "dram_write_bytes": 0,
            "compute_energy_pj": 60.0, "onchip_energy_pj": 40.0, "macs": 1000}
    base.update(fields)
    return {(n.name, c): NodeCost(**base) for n in graph.nodes for c in range(n_cores)}


def chain(names=("a", "b", "c"), bytes_out=1600):
    return WorkloadGraph(tuple(TaskNode(n, layer(), (names[i - 1],) if i else (), bytes_out=bytes_out)
                               for i, n in enumerate(names)), name="chain")


# ---------------------------------------------------------------------------------------------
# graph, routes, splits
# ---------------------------------------------------------------------------------------------


def test_graph_validation_and_order():
    p = layer()
    g = WorkloadGraph((TaskNode("b", p, ("a",)), TaskNode("a", p), TaskNode("c", p, ("a",))))
    assert g.order == ("a", "b", "c") and g.successors("a") == ("b", "c")
    with pytest.raises(SpecError, match="unknown dependencies"):
        WorkloadGraph((TaskNode("a", p, ("x",)),))
    with pytest.raises(SpecError, match="cycle"):
        WorkloadGraph((TaskNode("a", p, ("b",)), TaskNode("b", p, ("a",))))
    with pytest.raises(SpecError, match="repeat"):
        WorkloadGraph((TaskNode("a", p), TaskNode("a", p)))


def test_network_file_is_a_chain():
    g = load_workload_graph(RESNET18)
    assert len(g.nodes) == 21 and g.order[0] == "conv1" and g.order[-1] == "fc"
    assert g.node("l1_3x3_c64m64_1").deps == ("l1_3x3_c64m64_0",)


def test_graph_file(tmp_path):
    (tmp_path / "l.yaml").write_text((ROOT / "workloads" / "layers" / "gemm64.yaml").read_text())
    (tmp_path / "g.yaml").write_text(
        "graph:\n  name: diamond\n  nodes:\n"
        "    - {name: a, problem: l.yaml}\n    - {name: b, problem: l.yaml, deps: [a]}\n"
        "    - {name: c, problem: l.yaml, deps: a}\n    - {name: d, problem: l.yaml, deps: [b, c], bytes_out: 64}\n")
    g = load_workload_graph(tmp_path / "g.yaml")
    assert g.order == ("a", "b", "c", "d") and g.node("d").output_bytes() == 64
    (tmp_path / "bad.yaml").write_text("graph:\n  nodes:\n    - {name: a, problem: l.yaml, colour: red}\n")
    with pytest.raises(SpecError, match="unknown key"):
        load_workload_graph(tmp_path / "bad.yaml")


def test_noc_routes():
    mesh = package()
    assert noc_route(mesh, 0, 3) == ("0,0>1,0", "1,0>1,1")  # X first, then Y
    assert noc_route(mesh, 3, 0) == ("1,1>0,1", "0,1>0,0")
    assert noc_route(mesh, 2, 2) == ()
    ring = package("ring", hop_latency=1)
    assert noc_route(ring, 0, 3) == ("0>3",) and noc_route(ring, 0, 2) == ("0>1", "1>2")
    assert noc_route(package("crossbar"), 1, 2) == ("out1", "in2")
    assert noc_route(package("bus"), 1, 2) == ("bus",)


def test_split_plan_picks_the_cheaper_cut():
    fc = TaskNode("fc", cnn_layer_problem(C=512, M=1000, R=1, S=1, N=1, P=1, Q=1))
    plan = split_plan(fc, 4)
    assert plan.dim == "M" and plan.weight_fraction == pytest.approx(0.25) and plan.input_fraction == 1.0
    conv = TaskNode("conv", cnn_layer_problem(C=3, M=8, R=3, S=3, N=1, P=64, Q=64))
    plan = split_plan(conv, 2)
    assert plan.dim in ("P", "Q") and plan.weight_fraction == 1.0 and plan.input_fraction < 0.6
    with pytest.raises(SpecError, match="cannot split"):
        split_plan(TaskNode("tiny", cnn_layer_problem(C=4, M=1, R=1, S=1, N=1, P=1, Q=1)), 2)


# ---------------------------------------------------------------------------------------------
# hand-computed timelines
# ---------------------------------------------------------------------------------------------


def test_hand_two_cores_with_noc_transfer():
    # a on core 0, b on core 1 (one hop). a reads 3200 B of weights: the memory takes 25600/256 = 100
    # cycles, the core's port 25600/128 = 200, so a computes 200..1200. a's 1600 B of outputs cross
    # one link in 12800/128 = 100 cycles plus 2 of hop latency: b computes 1302..2302.
    mc = package()
    g = chain(("a", "b"))
    costs = costs_for(g)
    costs[("a", 0)] = NodeCost(cycles=1000, energy_pj=100.0, dram_read_bytes=3200, dram_write_bytes=0,
                               compute_energy_pj=60.0, onchip_energy_pj=40.0, weight_read_bytes=3200, macs=1000)
    r = simulate_multicore(mc, g, {"a": 0, "b": 1}, schedule="pipelined", costs=costs, tiles=1)
    spans = {e.name: (e.start_cycle, e.end_cycle) for e in r.events if e.category == "compute"}
    assert spans == {"a[0]": (0, 1200), "b[0]": (1302, 2302)}
    assert r.makespan_cycles == 2302 and list(r.latency_cycles) == [2302]
    assert r.dram_read_bytes == 3200 and r.noc_bytes == 1600
    assert r.energy_pj["memory_offchip"] == pytest.approx(3200 * 8 * 4.0)
    assert r.energy_pj["noc"] == pytest.approx(1600 * 8 * 1 * 0.5)
    assert r.energy_pj["compute"] == pytest.approx(120.0) and r.energy_pj["memory_onchip"] == pytest.approx(80.0)
    assert r.utilization.tolist() == pytest.approx([1000 / 2302, 1000 / 2302, 0, 0])
    # on the same core the data stays: b starts when a ends
    r = simulate_multicore(mc, g, {"a": 0, "b": 0}, schedule="pipelined", costs=costs, tiles=1)
    assert r.makespan_cycles == 2200 and r.noc_bytes == 0


def test_hand_link_contention():
    # a (core 0) and b (core 1) both send 1600 B to c (core 3); routes 0>1>3 and 1>3 share the
    # link (1,0)>(1,1): the second transfer waits 100 cycles for it.
    mc = package()
    p = layer()
    g = WorkloadGraph((TaskNode("a", p, bytes_out=1600), TaskNode("b", p, bytes_out=1600),
                       TaskNode("c", p, ("a", "b"))))
    costs = costs_for(g)
    r = simulate_multicore(mc, g, {"a": 0, "b": 1, "c": 3}, schedule="pipelined", costs=costs, tiles=1)
    shared = [e for e in r.events if e.resource == "link 1,0>1,1"]
    assert [(e.start_cycle, e.end_cycle) for e in shared] == [(1000, 1100), (1100, 1200)]
    c = next(e for e in r.events if e.name == "c[0]")
    # a's data (two hops) arrives at 1100 + 2 * 2; b's waits for the shared link: 1200 + 1 * 2
    assert c.start_cycle == 1202
    assert r.makespan_cycles == c.end_cycle == 2202


def test_layer_by_layer_versus_pipelined_throughput():
    mc = package()
    g = chain(("a", "b", "c", "d"))
    costs = costs_for(g)
    alloc = {"a": 0, "b": 1, "c": 2, "d": 3}
    lbl = simulate_multicore(mc, g, alloc, schedule="layer-by-layer", n_inputs=4, costs=costs, tiles=1,
                             offchip_activations=False)
    pipe = simulate_multicore(mc, g, alloc, schedule="pipelined", n_inputs=4, costs=costs, tiles=1)
    # one node at a time: 16 tasks of 1000 cycles plus the transfers between them
    assert lbl.makespan_cycles >= 16 * 1000
    # a 4-stage pipeline: a new input every 1000 cycles in steady state
    assert pipe.throughput_inputs_per_cycle == pytest.approx(1 / 1000, rel=1e-9)
    assert pipe.makespan_cycles < lbl.makespan_cycles
    assert list(np.diff(pipe.completion_cycles)) == [1000, 1000, 1000]


def test_exits_skip_later_nodes():
    mc = package()
    g = chain(("a", "b", "c"))
    costs = costs_for(g)
    r = simulate_multicore(mc, g, {"a": 0, "b": 1, "c": 2}, schedule="pipelined", n_inputs=3,
                           exits=["a", None, "b"], costs=costs, tiles=1)
    ran = {e.name for e in r.events if e.category == "compute"}
    assert ran == {"a[0]", "a[1]", "b[1]", "c[1]", "a[2]", "b[2]"}
    assert r.latency_cycles[0] < r.latency_cycles[2] < r.latency_cycles[1]
    with pytest.raises(SpecError, match="one exit per input"):
        simulate_multicore(mc, g, {"a": 0, "b": 1, "c": 2}, n_inputs=2, exits=["a"], costs=costs)
    with pytest.raises(SpecError, match="unknown exit node"):
        simulate_multicore(mc, g, {"a": 0, "b": 1, "c": 2}, exits=["zz"], costs=costs)


def test_bad_allocations():
    mc = package()
    g = chain(("a", "b"))
    costs = costs_for(g)
    with pytest.raises(SpecError, match="without a core"):
        simulate_multicore(mc, g, {"a": 0}, costs=costs)
    with pytest.raises(SpecError, match=r"cores must be in 0\.\.3"):
        simulate_multicore(mc, g, {"a": 0, "b": 7}, costs=costs)
    with pytest.raises(SpecError, match="unknown schedule"):
        simulate_multicore(mc, g, {"a": 0, "b": 1}, schedule="fused", costs=costs)


def test_split_node_runs_on_all_its_cores_and_weights_stay_resident():
    mc = package()
    g = chain(("a", "b"))
    costs = costs_for(g, dram_read_bytes=4096, weight_read_bytes=4096)
    r = simulate_multicore(mc, g, {"a": (0, 1, 2, 3), "b": 0}, schedule="pipelined", n_inputs=2, costs=costs,
                           tiles=2)
    cores = {e.resource for e in r.events if e.category == "compute" and e.name == "a[0]"}
    assert cores == {"core 0", "core 1", "core 2", "core 3"}
    # the weights fit every core's buffer: read once for the first input only
    per_input = [sum(e.args[2][1] for e in r.events if e.category == "dram-read" and e.resource == "memory"
                     and dict(e.args)["input"] == i) for i in (0, 1)]
    assert per_input[0] > 0 and per_input[1] == 0
    never = simulate_multicore(mc, g, {"a": (0, 1, 2, 3), "b": 0}, schedule="pipelined", n_inputs=2, costs=costs,
                               tiles=2, weights_resident="never")
    assert never.dram_read_bytes == 2 * r.dram_read_bytes


def test_trace_and_gantt(tmp_path):
    mc = package()
    g = chain()
    r = simulate_multicore(mc, g, {"a": 0, "b": 1, "c": 3}, schedule="pipelined", n_inputs=2, costs=costs_for(g))
    path = r.to_chrome_trace(tmp_path / "trace.json")
    trace = json.loads(path.read_text())
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert spans and all({"name", "ts", "dur", "pid", "tid"} <= set(e) for e in spans)
    names = {e["args"]["name"] for e in trace["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {"core 0", "core 1", "core 3"} <= names
    pytest.importorskip("matplotlib")
    png = r.gantt_png(tmp_path / "g.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------
# allocation search
# ---------------------------------------------------------------------------------------------


def test_exhaustive_search_is_optimal_on_a_small_graph():
    mc = package()
    p = layer()
    g = WorkloadGraph((TaskNode("a", p, bytes_out=8000), TaskNode("b", p, ("a",), bytes_out=8000),
                       TaskNode("c", p, ("a",), bytes_out=8000), TaskNode("d", p, ("b", "c"))))
    costs = costs_for(g)
    costs[("b", 2)] = NodeCost(cycles=400, energy_pj=100.0, dram_read_bytes=0, dram_write_bytes=0)  # a faster core
    found = search_allocation(mc, g, costs=costs, schedule="pipelined", objective="latency", tiles=1)
    assert found.method == "exhaustive" and found.optimal
    import itertools

    brute = min(simulate_multicore(mc, g, dict(zip(g.order, combo, strict=True)), schedule="pipelined",
                                   costs=costs, tiles=1).makespan_cycles
                for combo in itertools.product(range(4), repeat=4))
    assert found.value == brute
    assert found.evaluated < 4 ** 4  # mesh symmetries are evaluated once


def test_local_search_is_seeded_and_improves_on_its_starts():
    mc = package()
    g = chain(("a", "b", "c", "d", "e", "f"))
    costs = costs_for(g, dram_read_bytes=64000, weight_read_bytes=64000)
    runs = [search_allocation(mc, g, costs=costs, method="local", budget=40, seed=3, splits=(1, 4), n_inputs=2)
            for _ in range(2)]
    assert runs[0].allocation == runs[1].allocation and runs[0].value == runs[1].value
    assert runs[0].method == "local" and not runs[0].optimal and runs[0].evaluated <= 40
    assert list(runs[0].history) == sorted(runs[0].history, reverse=True)
    assert objective_value(runs[0].result, "edp") == runs[0].value
    assert len(allocation_options(mc, (1, 2, 4))) == 4 + 6 + 1


# ---------------------------------------------------------------------------------------------
# the ResNet-18 example on quad-core-edge-tpu (mapper costs), and the CLI
# ---------------------------------------------------------------------------------------------


def test_resnet18_on_quad_core_edge_tpu_under_ten_seconds():
    start = time.process_time()  # CPU time: wall time on a shared machine is noise
    mc = load_multicore_file(QUAD)
    g = load_workload_graph(RESNET18)
    costs = node_costs(mc, g, budget=300, seed=0)
    assert len(costs) == 21 * 4
    arch = package_core_arch(mc, 0)
    assert arch.storage[0].read_bandwidth == 128 / 8  # the port: min(memory 256, link 128) bits/cycle
    pipe = simulate_multicore(mc, g, schedule="pipelined", n_inputs=4, costs=costs)
    single = simulate_multicore(mc, g, {n: 0 for n in g.order}, schedule="layer-by-layer", costs=costs)
    assert time.process_time() - start < 10.0
    assert pipe.makespan_cycles > 0 and 0 < pipe.mac_utilization < 1
    assert pipe.throughput_inputs_per_cycle > 1 / single.makespan_cycles  # four cores beat one
    assert set(pipe.energy_pj) == {"compute", "memory_onchip", "memory_offchip", "memory", "noc", "total"}
    assert pipe.energy_pj["total"] == pytest.approx(
        pipe.energy_pj["compute"] + pipe.energy_pj["memory"] + pipe.energy_pj["noc"])
    assert np.all(pipe.utilization > 0) and np.all(pipe.utilization <= 1)
    assert single.utilization[1:].tolist() == [0, 0, 0]


def test_compare_with_layer_by_layer_reports_the_edp_ratio():
    mc = load_multicore_file(QUAD)
    g = WorkloadGraph(load_workload_graph(RESNET18).nodes[:3], name="resnet18-head")
    out = compare_with_layer_by_layer(mc, g, budget=30, seed=0, mapper_budget=200, splits=(1, 4))
    assert out["edp_ratio"] >= 1.0  # the search starts from layer-by-layer-like allocations
    assert out["baseline"]["edp_pj_cycles"] == pytest.approx(out["baseline"]["energy_pj"] * out["baseline"]["makespan_cycles"])


def test_cli_multi(tmp_path):
    trace = tmp_path / "t.json"
    r = CliRunner().invoke(cli, ["sim", "multi", str(QUAD), str(RESNET18), "--schedule", "pipelined", "--inputs", "2",
                                 "--mapper-budget", "200", "--trace", str(trace), "--json", "--no-cache"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["nodes"] == 21 and len(d["latency_cycles"]) == 2 and d["makespan_cycles"] > 0
    assert set(d["utilization"]) == {"edgetpu[0]", "edgetpu[1]", "edgetpu[2]", "edgetpu[3]"}
    assert json.loads(trace.read_text())["traceEvents"]
    r = CliRunner().invoke(cli, ["sim", "multi", str(QUAD), str(RESNET18), "--allocation", "conv1=9",
                                 "--mapper-budget", "100", "--no-cache"])
    assert r.exit_code == 2 and "error:" in r.output
