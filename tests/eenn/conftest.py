"""Fixtures of the early-exit tests: tiny networks, statistics and a fake mapper."""

from __future__ import annotations

import numpy as np
import pytest
from eenn_data import EDGE_TPU, TINY_NET, TINY_STATS

from tnx_timeloop.frontends.early_exit import parse_network
from tnx_timeloop.frontends.exit_stats import parse_statistics
from tnx_timeloop.search import eenn as eenn_mod
from tnx_timeloop.search.eenn import LayerCost, Platform, core_architecture
from tnx_timeloop.spec.arch import parse_architecture
from tnx_timeloop.spec.yaml_io import load_yaml_file


@pytest.fixture
def tiny_net():
    """A 4-layer network with one candidate exit after its first layer."""
    return parse_network(TINY_NET)


@pytest.fixture
def tiny_stats():
    """Statistics of the tiny network (one exit and the final classifier)."""
    return parse_statistics(TINY_STATS)


@pytest.fixture
def edge_core():
    """The Edge TPU-like core architecture."""
    doc = load_yaml_file(EDGE_TPU)
    return parse_architecture(doc["architecture"])


@pytest.fixture
def two_core_platform(edge_core):
    """Two Edge TPU-like cores one hop apart; 64-bit links, 2 cycles and 0.5 pJ/bit per hop; free input load."""
    view = core_architecture(edge_core, memory="onchip")
    return Platform(name="two", core_types=(view,), core_type_names=("tpu",), core_of=(0, 0),
                    hops=np.array([[0, 1], [1, 0]]), link_bits_per_cycle=64.0, hop_latency_cycles=2.0,
                    noc_pj_per_bit_hop=0.5, memory_bits_per_cycle=float("inf"), memory_pj_per_bit=0.0)


@pytest.fixture
def fake_mapper(monkeypatch):
    """Replace the mapper: every problem costs ``macs`` cycles and ``2 * macs`` pJ on any core and precision."""

    def fake(items, **kwargs):
        return [LayerCost(int(p.macs), 2.0 * p.macs, int(p.macs), 1.0) for _, p in items]

    monkeypatch.setattr(eenn_mod, "map_problems", fake)
    return fake
