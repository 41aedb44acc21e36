"""Per-action energies of an architecture, resolved from an energy source.

The model needs, for every storage level, the energy of one vector (block)
read, fill and update, and for the compute level the energy of one MAC.
:func:`resolve_energy` gets them from a user ERT (as Timeloop reads it: ``read``
for reads, ``write`` for fills and updates, the maximum over argument variants;
``mac_random`` or ``compute`` for MACs) and falls back on Timeloop's built-in
model for anything the ERT does not give.
"""

from __future__ import annotations

from dataclasses import dataclass

from tnx_timeloop.energy.ert import ActionTable
from tnx_timeloop.energy.timeloop_pat import compute_energy_pj, storage_vector_energy_pj
from tnx_timeloop.spec.arch import Architecture

__all__ = ["LevelEnergy", "ArchEnergy", "resolve_energy", "timeloop_builtin_energy"]


@dataclass(frozen=True, slots=True)
class LevelEnergy:
    """Energy of one vector access of one instance of a storage level (pJ)."""

    read_pj: float
    fill_pj: float
    update_pj: float
    area_um2: float | None = None
    source: str = "timeloop-builtin"


@dataclass(frozen=True, slots=True)
class ArchEnergy:
    """Energies for every level of an architecture (storage outermost first)."""

    storage: tuple[LevelEnergy, ...]
    compute_pj: float
    compute_area_um2: float | None = None
    compute_source: str = "timeloop-builtin"

    def describe(self) -> str:
        """A short label of where the figures come from (e.g. ``"ERT"`` or ``"timeloop-builtin"``)."""
        sources = sorted({lv.source for lv in self.storage} | {self.compute_source})
        return "+".join(sources)


_MAC_ACTIONS = ("mac_random", "compute", "mac", "multiply_accumulate")


def resolve_energy(arch: Architecture, table: ActionTable | None = None) -> ArchEnergy:
    """Energies of ``arch``'s levels from ``table`` (an ERT/ART), else Timeloop's built-in model."""
    levels = []
    for level in arch.storage:
        builtin = storage_vector_energy_pj(level)
        acts = table.actions(level.name) if table is not None else {}
        area = table.area(level.name) if table is not None else None
        read = acts.get("read")
        write = acts.get("write")
        if level.is_dummy:
            levels.append(LevelEnergy(0.0, 0.0, 0.0, 0.0, "dummy"))
        elif read is not None or write is not None:
            levels.append(
                LevelEnergy(
                    read_pj=read if read is not None else builtin,
                    fill_pj=write if write is not None else builtin,
                    update_pj=write if write is not None else builtin,
                    area_um2=area,
                    source="ERT",
                )
            )
        else:
            levels.append(LevelEnergy(builtin, builtin, builtin, area, "timeloop-builtin"))
    acts = table.actions(arch.compute.name) if table is not None else {}
    mac = next((acts[a] for a in _MAC_ACTIONS if a in acts), None)
    area = table.area(arch.compute.name) if table is not None else None
    if mac is None:
        return ArchEnergy(tuple(levels), compute_energy_pj(arch.compute), area, "timeloop-builtin")
    return ArchEnergy(tuple(levels), mac, area, "ERT")


def timeloop_builtin_energy(arch: Architecture) -> ArchEnergy:
    """Energies from Timeloop's built-in model only (what ``timeloop-model`` uses without an ERT)."""
    return resolve_energy(arch, None)
