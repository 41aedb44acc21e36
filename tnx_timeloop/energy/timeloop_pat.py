"""Timeloop's own built-in energy model ("PAT"), used when no ERT is given.

These are the formulas ``timeloop-model`` falls back on (``pat/pat.cpp``):

* SRAM / register file, per vector access of ``width`` bits:
  ``(1 + (x - 0.5) * 5 / 99.5) * width / 16`` pJ with ``x = depth * width / 8192``
  (the capacity in KB); the per-instance figure is divided by the cluster size;
* DRAM: ``200 * width / 16`` pJ per vector access (``width = word_bits * block_size``);
* MAC: ``(word_bits / 16) ** 2`` pJ per operation.
"""

from __future__ import annotations

from math import ceil

from tnx_timeloop.spec.arch import ComputeLevel, StorageLevel

__all__ = ["sram_vector_energy_pj", "dram_vector_energy_pj", "mac_energy_pj", "storage_vector_energy_pj"]


def sram_vector_energy_pj(depth: int, width_bits: int) -> float:
    """Energy of one vector access to an SRAM of ``depth`` rows of ``width_bits`` bits (pJ)."""
    if depth <= 0 or width_bits <= 0:
        return 0.0
    kbytes = depth * width_bits / 8192.0
    return (1.0 + (kbytes - 0.5) * 5.0 / 99.5) * width_bits / 16.0


def dram_vector_energy_pj(width_bits: int) -> float:
    """Energy of one DRAM vector access of ``width_bits`` bits (pJ)."""
    return 200.0 * width_bits / 16.0


def mac_energy_pj(word_bits: int) -> float:
    """Energy of one multiply-accumulate of ``word_bits``-bit operands (pJ)."""
    return (word_bits / 16.0) ** 2


def storage_vector_energy_pj(level: StorageLevel) -> float:
    """Per-instance energy of one vector (block) access to ``level``, as Timeloop computes it (pJ)."""
    if level.vector_access_energy_pj is not None:
        return level.vector_access_energy_pj
    if level.is_dram:
        return dram_vector_energy_pj(level.word_bits * level.block_size)
    if level.is_dummy or not level.size_words:
        return 0.0
    height = ceil(level.size_words / level.block_size)
    width = level.word_bits * level.block_size * level.cluster_size
    return sram_vector_energy_pj(height, width) / level.cluster_size


def compute_energy_pj(level: ComputeLevel) -> float:
    """Energy per MAC of the compute level (pJ)."""
    if level.energy_pj is not None:
        return level.energy_pj
    return mac_energy_pj(level.word_bits)


__all__ += ["compute_energy_pj"]
