"""The result of evaluating a batch of mappings: a frozen record of arrays, mapping index first.

Counts are per level instance (Timeloop's "per-instance" figures) unless a name
says ``total``; the JSON view (:meth:`Report.to_dict`) gives totals over all
utilized instances, as the project's report contract asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Report"]


@dataclass(frozen=True, slots=True)
class Report:
    """Evaluation of ``M`` mappings of one (architecture, problem) pair.

    Shapes: ``M`` mappings, ``L`` storage levels (outermost first), ``T`` data-spaces.

    Attributes
    ----------
    valid : bool (M,)
        Whether the mapping fits (capacity, instances, fan-out).
    violations : uint8 (M, L)
        Bit flags of what each level violates (see :meth:`reason`).
    cycles : int64 (M,)
        Latency in cycles (max over levels after bandwidth throttling).
    compute_cycles : int64 (M,)
        Cycles of the compute level alone (temporal iterations).
    energy_pj : float64 (M,)
        Total energy in pJ.
    reads, fills, updates : float64 (M, L, T)
        Words per instance.
    tile_words : int64 (M, L, T)
        Words of each data-space resident in one instance (0 if bypassed).
    utilized_instances : int64 (M, L)
        Instances of each level the mapping uses.
    level_cycles : int64 (M, L)
        Cycles each storage level needs at its bandwidth.
    energy_by_dataspace_pj : float64 (M, L, T)
        Energy of each level and data-space over all instances, in pJ.
    compute_energy_pj : float64 (M,)
        MAC energy in pJ.
    compute_utilized_instances : int64 (M,)
        MAC units used.
    """

    level_names: tuple[str, ...]
    dataspace_names: tuple[str, ...]
    compute_name: str
    instances: tuple[int, ...]
    compute_instances: int
    macs: int
    valid: np.ndarray
    violations: np.ndarray
    cycles: np.ndarray
    compute_cycles: np.ndarray
    energy_pj: np.ndarray
    reads: np.ndarray
    fills: np.ndarray
    updates: np.ndarray
    tile_words: np.ndarray
    partition_words: np.ndarray
    utilized_instances: np.ndarray
    level_cycles: np.ndarray
    energy_by_dataspace_pj: np.ndarray
    compute_energy_pj: np.ndarray
    compute_utilized_instances: np.ndarray
    capacity_words: np.ndarray  # int64 (L,), -1 = unbounded
    fanout_x: np.ndarray  # int64 (L,)
    fanout_y: np.ndarray  # int64 (L,)
    min_utilization: np.ndarray  # float64 (L,)
    spatial_x: np.ndarray  # int64 (M, L)
    spatial_y: np.ndarray  # int64 (M, L)
    energy_source: str = "timeloop-builtin"

    _PER_MAPPING = frozenset({
        "valid", "violations", "cycles", "compute_cycles", "energy_pj", "reads", "fills", "updates",
        "tile_words", "partition_words", "utilized_instances", "level_cycles", "energy_by_dataspace_pj",
        "compute_energy_pj", "compute_utilized_instances", "spatial_x", "spatial_y",
    })

    def reason(self, i: int) -> str:
        """Why mapping ``i`` is invalid, naming each level and number ('' if valid)."""
        if self.valid[i]:
            return ""
        parts = []
        for lv, name in enumerate(self.level_names):
            flags = int(self.violations[i, lv])
            used = int(self.tile_words[i, lv].sum())
            if flags & 1:
                detail = " + ".join(
                    f"{ds} {int(self.tile_words[i, lv, t])}"
                    for t, ds in enumerate(self.dataspace_names) if self.tile_words[i, lv, t]
                )
                parts.append(f"{name}: tiles need {used} words ({detail}) but its capacity is {int(self.capacity_words[lv])}")
            if flags & 2:
                parts.append(f"{name}: tiles use {used} words, below its min utilization {self.min_utilization[lv]:g}")
            if flags & 4:
                parts.append(f"{name}: uses {int(self.utilized_instances[i, lv])} instances, only {self.instances[lv]} exist")
            if flags & 8:
                parts.append(f"{name}: spatial X factors multiply to {int(self.spatial_x[i, lv])}, its X fan-out is {int(self.fanout_x[lv])}")
            if flags & 16:
                parts.append(f"{name}: spatial Y factors multiply to {int(self.spatial_y[i, lv])}, its Y fan-out is {int(self.fanout_y[lv])}")
        return "; ".join(parts) or "invalid mapping"

    def __len__(self) -> int:
        return int(self.valid.shape[0])

    # -- derived quantities ---------------------------------------------------
    @property
    def energy_by_level_pj(self) -> np.ndarray:
        """float64 (M, L): energy of each storage level in pJ."""
        return self.energy_by_dataspace_pj.sum(axis=2)

    @property
    def utilization(self) -> np.ndarray:
        """float64 (M,): MACs / (cycles x MAC instances)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.cycles > 0, self.macs / (self.cycles * self.compute_instances), 0.0)

    @property
    def edp(self) -> np.ndarray:
        """float64 (M,): energy-delay product in pJ x cycles."""
        return self.energy_pj * self.cycles

    def take(self, index: int | np.ndarray) -> Report:
        """A report of the selected mappings (an int keeps a batch of one)."""
        idx = np.atleast_1d(np.asarray(index))
        fields: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            fields[name] = value[idx] if name in self._PER_MAPPING else value
        return Report(**fields)

    # -- views ----------------------------------------------------------------
    def to_dict(self, i: int = 0) -> dict[str, Any]:
        """The report contract (DESIGN.md) for mapping ``i``: totals over all instances, pJ."""
        levels = []
        for lv, name in enumerate(self.level_names):
            util = int(self.utilized_instances[i, lv])
            dataspaces = {}
            for t, ds in enumerate(self.dataspace_names):
                dataspaces[ds] = {
                    "reads": _num(self.reads[i, lv, t] * util),
                    "fills": _num(self.fills[i, lv, t] * util),
                    "updates": _num(self.updates[i, lv, t] * util),
                    "tile_words": int(self.tile_words[i, lv, t]),
                }
            levels.append({
                "name": name,
                "instances": int(self.instances[lv]),
                "utilized_instances": util,
                "energy_pj": float(self.energy_by_level_pj[i, lv]),
                "cycles": int(self.level_cycles[i, lv]),
                "dataspaces": dataspaces,
            })
        out: dict[str, Any] = {
            "cycles": int(self.cycles[i]),
            "energy_pj": float(self.energy_pj[i]),
            "macs": int(self.macs),
            "utilization": float(self.utilization[i]),
            "edp": float(self.edp[i]),
            "valid": bool(self.valid[i]),
            "levels": levels,
            "compute": {
                "name": self.compute_name,
                "instances": int(self.compute_instances),
                "utilized_instances": int(self.compute_utilized_instances[i]),
                "energy_pj": float(self.compute_energy_pj[i]),
            },
            "energy_source": self.energy_source,
        }
        if not self.valid[i]:
            out["invalid_reason"] = self.reason(i)
        return out


def _num(x: float) -> int | float:
    r = round(float(x))
    return int(r) if abs(float(x) - r) < 1e-9 else float(x)
