"""Shared helpers of the tn tests: a tiny architecture, a deterministic fake step coster, random networks."""

from __future__ import annotations

import hashlib

import numpy as np

from tnx_timeloop.frontends.tensornet import CanonicalContraction, TensorNetwork, from_einsum
from tnx_timeloop.search.stepcost import StepCost, objective_key
from tnx_timeloop.spec.arch import parse_architecture
from tnx_timeloop.spec.yaml_io import load_yaml_text

TINY_ARCH_YAML = """
architecture:
  version: 0.4
  nodes:
  - !Container
    name: tiny
    attributes: {technology: 45nm}
  - !Component
    name: DRAM
    class: DRAM
    attributes: {type: LPDDR4, width: 64, datawidth: 16, read_bandwidth: 4, write_bandwidth: 4}
  - !Component
    name: Buffer
    class: smartbuffer_SRAM
    attributes: {depth: 256, width: 16, datawidth: 16}
  - !Component
    name: acc
    class: regfile
    spatial: {meshX: 2, meshY: 2}
    attributes: {depth: 2, width: 16, datawidth: 16}
  - !Component
    name: mac
    class: intmac
    attributes: {datawidth: 16}
"""


MINI_ARCH_YAML = """
architecture:
  version: 0.4
  nodes:
  - !Container
    name: mini
    attributes: {technology: 45nm}
  - !Component
    name: DRAM
    class: DRAM
    attributes: {type: LPDDR4, width: 64, datawidth: 16, read_bandwidth: 2, write_bandwidth: 2}
  - !Component
    name: Buffer
    class: smartbuffer_SRAM
    spatial: {meshX: 2}
    attributes: {depth: 6, width: 16, datawidth: 16}
  - !Component
    name: mac
    class: intmac
    spatial: {meshX: 2}
    attributes: {datawidth: 16}
"""


def mini_arch():
    """DRAM (2 words/cycle) -> 2 buffers of 6 words -> 4 MACs: small enough for exhaustive mapping."""
    return parse_architecture(load_yaml_text(MINI_ARCH_YAML)["architecture"])


def tiny_arch():
    """DRAM (4 words/cycle) -> 256-word buffer -> 2 x 2 PEs with 2-word accumulators."""
    return parse_architecture(load_yaml_text(TINY_ARCH_YAML)["architecture"])


def _unit(cc: CanonicalContraction, salt: str) -> float:
    h = hashlib.sha256(f"{salt}:{cc}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


class FakeCoster:
    """Deterministic pseudo-random step costs (cycles, pJ) with admissible lower bounds; counts mappings."""

    def __init__(self, objective: str = "latency", tightness: float = 0.5) -> None:
        self.objective = objective
        self.tightness = tightness
        self._known: dict[CanonicalContraction, StepCost] = {}
        self.mapper_calls = 0

    def _true(self, cc: CanonicalContraction) -> tuple[float, float]:
        cycles = float(int(cc.macs * (0.2 + _unit(cc, "c")) + 1))
        energy = float(cc.macs * (0.5 + _unit(cc, "e")) + sum(cc.words))
        return cycles, energy

    def lower_bound(self, cc):
        c, e = self._true(cc)
        f = 1.0 - self.tightness * _unit(cc, "lb")
        return c * f, e * f

    def known(self, cc):
        return self._known.get(cc)

    def costs(self, ccs):
        ccs = list(ccs)
        for cc in ccs:
            if cc not in self._known:
                self.mapper_calls += 1
                c, e = self._true(cc)
                self._known[cc] = StepCost(int(c), e, 0.5, "fake")
        return {cc: self._known[cc] for cc in ccs}

    def key(self, cycles, energy):
        return objective_key(self.objective, cycles, energy)


def random_network(rng: np.random.Generator, n: int, *, hyper: bool = False) -> TensorNetwork:
    """A random connected network of ``n`` tensors (a chain plus random extra bonds and open indices)."""
    tensors: list[list[str]] = [[] for _ in range(n)]
    sizes: dict[str, int] = {}
    k = 0
    order = rng.permutation(n)
    for a, b in zip(order[:-1], order[1:], strict=True):
        name = f"e{k}"
        k += 1
        tensors[a].append(name)
        tensors[b].append(name)
        sizes[name] = int(rng.integers(2, 5))
    for _ in range(int(rng.integers(0, n))):
        a, b = rng.choice(n, size=2, replace=False)
        name = f"e{k}"
        k += 1
        tensors[a].append(name)
        tensors[b].append(name)
        sizes[name] = int(rng.integers(2, 4))
    output = []
    for t in range(n):
        if rng.random() < 0.6:
            name = f"o{t}"
            tensors[t].append(name)
            sizes[name] = int(rng.integers(2, 4))
            output.append(name)
    hyper_idx = []
    if hyper and n >= 3:
        holders = rng.choice(n, size=3, replace=False)
        for t in holders:
            tensors[t].append("h")
        sizes["h"] = 3
        output.append("h")
        hyper_idx = ["h"]
    expr = " * ".join(f"T{t}[{','.join(idx)}]" for t, idx in enumerate(tensors)) + f" -> y[{','.join(output)}]"
    return from_einsum(expr, sizes, hyper=hyper_idx, name=f"random{n}")
