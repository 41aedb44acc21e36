"""Architectures re-derived at a precision: capacities, blocks, bandwidths, MACs, energies."""

from __future__ import annotations

import pytest
from eenn_data import ROOT

from tnx_timeloop.energy.tables import select_energy
from tnx_timeloop.errors import SpecError
from tnx_timeloop.mapper import search_mappings
from tnx_timeloop.model.batch import MappingBatch
from tnx_timeloop.model.evaluate import evaluate_batch
from tnx_timeloop.spec.arch import parse_architecture
from tnx_timeloop.spec.problem import load_problem_file
from tnx_timeloop.spec.quantize import (
    arch_for_bits,
    arch_for_precision,
    check_precision,
    kept_dataspaces,
    parse_precision,
)


@pytest.mark.parametrize(("bits", "sram_words", "block", "read_bw", "reg_bits"), [
    (8, 8 * 2**20, 64, 128.0, 8),
    (4, 16 * 2**20, 128, 256.0, 4),
    (16, 4 * 2**20, 32, 64.0, 16),
])
def test_capacities_blocks_and_bandwidths_scale(edge_core, bits, sram_words, block, read_bw, reg_bits):
    a = arch_for_bits(edge_core, bits, bits, 32)
    sram = a.storage[a.level_index("SRAM")]
    assert sram.word_bits == bits
    assert sram.size_words == sram_words
    assert sram.size_words * sram.word_bits == 8 * 2**20 * 8  # 8 MiB whatever the word
    assert sram.block_size == block
    assert sram.read_bandwidth == read_bw
    acc = a.storage[a.level_index("Accumulators")]
    assert acc.word_bits == 32 and acc.size_words == 65536  # keeps Outputs only: the accumulator width
    reg = a.storage[a.level_index("weight_reg")]
    assert reg.word_bits == reg_bits and reg.size_words == 1  # a datapath register keeps one word
    assert a.compute.word_bits == bits
    assert dict(a.compute.attributes)["multiplier_width"] == bits


def test_fp32_uses_a_float_mac(edge_core):
    a = arch_for_precision(edge_core, "fp32")
    assert a.compute.class_name == "fpmac"
    e32 = select_energy(a, "tables").compute_pj
    e8 = select_energy(arch_for_precision(edge_core, "int8"), "tables").compute_pj
    e4 = select_energy(arch_for_precision(edge_core, "int4"), "tables").compute_pj
    assert e32 > e8 > e4 > 0


def test_mixed_precision_levels(edge_core):
    a = arch_for_precision(edge_core, "w4a8")
    assert a.storage[a.level_index("weight_reg")].word_bits == 4
    assert a.storage[a.level_index("SRAM")].word_bits == 8  # holds weights and activations: the wider
    assert kept_dataspaces(edge_core, "Accumulators") == ("Outputs",)
    assert kept_dataspaces(edge_core, "SRAM") == ("Weights", "Inputs", "Outputs")


def test_four_bit_layer_costs_less_energy_on_the_same_mapping(edge_core):
    problem = load_problem_file(ROOT / "workloads" / "layers" / "conv3x3_c64m64_p14.yaml")
    a8 = arch_for_precision(edge_core, "int8")
    a4 = arch_for_precision(edge_core, "int4")
    e8, e4 = select_energy(a8, "tables"), select_energy(a4, "tables")
    best = search_mappings(a8, problem, budget=500, seed=0, energy=e8)
    batch = MappingBatch.from_mappings([best.best_mapping])
    r8 = evaluate_batch(a8, problem, batch, e8)
    r4 = evaluate_batch(a4, problem, batch, e4)
    assert bool(r8.valid[0]) and bool(r4.valid[0])
    assert r4.energy_pj[0] < r8.energy_pj[0]
    assert r4.compute_energy_pj[0] < r8.compute_energy_pj[0]
    assert r4.cycles[0] <= r8.cycles[0]


@pytest.mark.parametrize(("name", "expected"), [
    ("int8", (8, 8, 32, "int")), ("int4", (4, 4, 32, "int")), ("fp32", (32, 32, 32, "fp32")),
    ("w4a8", (4, 8, 32, "int")), ("W2A4ACC16", (2, 4, 16, "int")),
])
def test_parse_precision(name, expected):
    p = parse_precision(name)
    assert (p.weight_bits, p.act_bits, p.acc_bits, p.kind) == expected


def test_unknown_precision_lists_the_known_ones():
    with pytest.raises(SpecError, match=r"unknown precision 'int3'; choose one of \['int2', 'int4'"):
        parse_precision("int3")


def test_precision_the_core_does_not_declare(edge_core):
    from dataclasses import replace

    declared = replace(edge_core.compute, attributes=(*edge_core.compute.attributes, ("precisions", ("int8", "fp32"))))
    core = replace(edge_core, compute=declared)
    check_precision(core, "int8")
    with pytest.raises(SpecError, match=r"unsupported bit-width 'int4' for core"):
        check_precision(core, "int4")


def test_words_that_do_not_pack_into_a_memory_access():
    arch = parse_architecture({"version": 0.4, "nodes": [
        {"name": "sys", "attributes": {"technology": "45nm"}},
        {"class": "DRAM", "name": "DRAM", "attributes": {"width": 64, "datawidth": 8}},
        {"class": "SRAM", "name": "buf", "attributes": {"depth": 64, "width": 24, "datawidth": 8}},
        {"class": "intmac", "name": "mac", "attributes": {"datawidth": 8}},
    ]})
    with pytest.raises(SpecError, match=r"unsupported bit-width: 16-bit words do not pack into the 24-bit accesses of level 'buf'"):
        arch_for_precision(arch, "int16")
    assert arch_for_precision(arch, "int4").storage[1].size_words == 64 * 6
