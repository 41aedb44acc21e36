"""Multi-core architectures: parsing, located and collected errors, round trips, topology, the package view."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from tnx_timeloop import api, library
from tnx_timeloop.errors import SpecError, SpecErrors
from tnx_timeloop.mapper import search_mappings
from tnx_timeloop.spec.multicore import (
    MultiCoreArchitecture,
    NocSpec,
    as_single_architecture,
    load_multicore_file,
    multicore_to_dict,
    parse_multicore,
)

ROOT = library.library_root()
MULTI = [e for e in library.list_archs(ROOT) if e.kind == "multi-core"]
EYERISS_LIKE = str(ROOT / "arch/single-core/eyeriss-like.yaml")


def _doc(**overrides):
    doc = {
        "name": "t",
        "clock_hz": 1e9,
        "cores": [{"name": "a", "arch": EYERISS_LIKE, "count": 4}],
        "noc": {"topology": "mesh2d", "dims": [2, 2], "link_bandwidth_bits_per_cycle": 64,
                "hop_latency_cycles": 1, "energy_pj_per_bit_hop": 0.1},
        "memory": {"type": "LPDDR4", "bandwidth_bits_per_cycle": 128, "energy_pj_per_bit": 8.0},
    }
    doc.update(overrides)
    return doc


@pytest.mark.parametrize("entry", MULTI, ids=lambda e: e.name)
def test_library_files_parse_and_round_trip(entry):
    mc = load_multicore_file(entry.path)
    assert isinstance(mc, MultiCoreArchitecture)
    assert mc.noc.nodes == mc.total_cores
    assert mc.clock_hz and mc.clock_hz > 0
    # write -> parse gives the same architecture (core files resolved from the file's folder)
    assert parse_multicore(multicore_to_dict(mc), base_dir=entry.path.parent) == mc
    # inline form: the same cores, without file references
    inline = parse_multicore(yaml.safe_load(yaml.safe_dump(_plain(multicore_to_dict(mc, inline=True)), sort_keys=False)))
    assert [c.arch for c in inline.cores] == [c.arch for c in mc.cores]
    assert inline == dataclasses.replace(
        mc, cores=tuple(dataclasses.replace(c, source=None, variables=()) for c in mc.cores)
    )


def _plain(x):
    """TaggedDicts as plain data with the v0.4 tag dropped (the parser guesses it back)."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    return x


def test_library_packages():
    quad = load_multicore_file(ROOT / "arch/multi-core/quad-core-edge-tpu.yaml")
    assert (quad.total_cores, quad.noc.topology, quad.noc.dims) == (4, "mesh2d", (2, 2))
    assert quad.peak_macs_per_cycle == 4 * 4096 and quad.homogeneous
    simba = load_multicore_file(ROOT / "arch/multi-core/simba-multichip-6x6.yaml")
    assert simba.total_cores == 36 and simba.peak_macs_per_cycle == 36 * 1024
    assert 2 * simba.peak_macs_per_cycle * simba.clock_hz / 1e12 == pytest.approx(128, rel=1e-3)
    assert load_multicore_file(ROOT / "arch/multi-core/simba-multichip-2x2.yaml").total_cores == 4
    bl = load_multicore_file(ROOT / "arch/multi-core/big-little.yaml")
    assert not bl.homogeneous
    assert [(c.name, c.count, c.arch.compute.instances) for c in bl.cores] == [("big", 1, 1024), ("little", 2, 64)]
    assert dict(bl.cores[0].variables)["rows"] == 32
    assert load_multicore_file(ROOT / "arch/multi-core/quad-core-eyeriss-like.yaml").homogeneous


def test_inline_core_and_defaults():
    arch_section = yaml.safe_load(Path(EYERISS_LIKE).read_text().replace("!Container", "").replace(
        "!Component", "").replace("!Parallel", ""))["architecture"]
    doc = _doc(cores=[{"name": "e", "architecture": arch_section, "count": 2}],
               noc={"topology": "ring", "link_bandwidth_bits_per_cycle": 32})
    mc = parse_multicore(doc)
    assert mc.cores[0].source is None
    assert mc.noc.dims == (2,) and mc.noc.hop_latency_cycles == 1.0 and mc.noc.energy_pj_per_bit_hop == 0.0
    assert mc.cores[0].arch.compute.instances == 168


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"cores": []}, "at least one core"),
        ({"cores": [{"name": "a", "count": 1}]}, "exactly one of 'arch'"),
        ({"cores": [{"name": "a", "arch": "missing.yaml"}]}, "not found"),
        ({"cores": [{"name": "a", "arch": EYERISS_LIKE, "count": 0}]}, "must be >= 1"),
        ({"noc": {"topology": "torus", "link_bandwidth_bits_per_cycle": 1}}, "unknown topology 'torus'"),
        ({"noc": {"topology": "mesh2d", "dims": [3, 2], "link_bandwidth_bits_per_cycle": 1}}, "6 nodes"),
        ({"noc": {"topology": "mesh2d", "link_bandwidth_bits_per_cycle": 1}}, r"needs 'dims: \[X, Y\]'"),
        ({"noc": {"topology": "ring", "dims": [2, 2], "link_bandwidth_bits_per_cycle": 1}}, r"takes dims \[nodes\]"),
        ({"noc": {"topology": "bus", "link_bandwidth_bits_per_cycle": -5}}, "must be > 0"),
        ({"memory": {"type": "DDR4", "bandwidth_bits_per_cycle": 0, "energy_pj_per_bit": 1}}, "must be > 0"),
        ({"clock_hz": "fast"}, "expected a number"),
    ],
)
def test_errors_name_the_key_path(change, message):
    with pytest.raises(SpecError, match=message) as info:
        parse_multicore(_doc(**change))
    assert "multicore" in str(info.value)


def test_errors_are_collected_and_located(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"multicore": _doc(
        cores=[{"name": "a", "arch": "nothere.yaml"}, {"name": "b", "count": 2}],
        noc={"topology": "torus", "link_bandwidth_bits_per_cycle": 1},
    )}))
    with pytest.raises(SpecErrors) as info:
        load_multicore_file(path)
    text = str(info.value)
    assert len(info.value.errors) == 3
    assert f"{path}:multicore.cores[0].arch" in text
    assert "multicore.cores[1]" in text and "multicore.noc.topology" in text


def test_duplicate_core_names_and_inline_variables():
    with pytest.raises(SpecError, match="core names repeat"):
        parse_multicore(_doc(cores=[{"name": "a", "arch": EYERISS_LIKE, "count": 2},
                                    {"name": "a", "arch": EYERISS_LIKE, "count": 2}]))
    with pytest.raises(SpecError, match="variables apply to a templated"):
        parse_multicore(_doc(cores=[{"name": "a", "architecture": {"version": 0.4, "nodes": []},
                                     "variables": {"x": 1}, "count": 4}]))


def test_core_errors_point_into_the_core_file(tmp_path):
    core = tmp_path / "core.yaml"
    core.write_text("architecture:\n  version: 0.4\n  nodes:\n  - !Component\n    name: DRAM\n    class: DRAM\n"
                    "    attributes: {width: 60, datawidth: 16}\n")
    with pytest.raises(SpecError) as info:
        parse_multicore(_doc(cores=[{"name": "a", "arch": "core.yaml", "count": 4}]), base_dir=tmp_path)
    assert f"{core}:architecture.nodes[0].attributes.width" in str(info.value)


def test_template_variables_reach_the_core_file():
    tt = str(ROOT / "arch/single-core/tt-kernel.yaml")
    mc = parse_multicore(_doc(cores=[{"name": "a", "arch": tt, "count": 4, "variables": {"rows": 4, "cols": 4}}]))
    assert mc.cores[0].arch.compute.instances == 16


def test_hops():
    mesh = NocSpec(topology="mesh2d", dims=(3, 2), link_bandwidth_bits_per_cycle=1, hop_latency_cycles=1,
                   energy_pj_per_bit_hop=0)
    assert mesh.hops(0, 5) == 3 and mesh.hops(1, 4) == 1 and mesh.hops(2, 2) == 0
    ring = dataclasses.replace(mesh, topology="ring", dims=(6,))
    assert ring.hops(0, 5) == 1 and ring.hops(0, 3) == 3
    assert dataclasses.replace(mesh, topology="crossbar", dims=(6,)).hops(0, 5) == 1
    with pytest.raises(IndexError):
        mesh.hops(0, 6)


def test_core_of_node():
    bl = load_multicore_file(ROOT / "arch/multi-core/big-little.yaml")
    assert [bl.core_of_node(i).name for i in range(3)] == ["big", "little", "little"]
    with pytest.raises(IndexError):
        bl.core_of_node(3)


def test_package_view_replicates_the_core():
    mc = load_multicore_file(ROOT / "arch/multi-core/simba-multichip-2x2.yaml")
    core = mc.cores[0].arch
    pkg = as_single_architecture(mc)
    assert [s.name for s in pkg.storage] == [s.name for s in core.storage]
    assert pkg.fanout(0) == 4 and pkg.fanout_xy(0) == (2, 2)
    for ours, theirs in zip(pkg.storage[1:], core.storage[1:], strict=True):
        assert ours.instances == 4 * theirs.instances
    assert pkg.compute.instances == 4 * 1024
    assert pkg.storage[0].read_bandwidth == pytest.approx(256 / 8)
    assert pkg.storage[1].write_bandwidth == pytest.approx(115 / 8)
    assert library.clock_hz_of(pkg) == pytest.approx(mc.clock_hz)
    assert pkg.constraints == core.constraints
    spec = api.load_spec([ROOT / "workloads/layers/gemm64.yaml"])
    result = search_mappings(pkg, spec.problem, budget=1000, seed=0)
    assert result.best_mapping is not None and bool(result.best_report.valid[0])


def test_package_view_refuses_heterogeneous():
    with pytest.raises(SpecError, match="homogeneous"):
        as_single_architecture(load_multicore_file(ROOT / "arch/multi-core/big-little.yaml"))
