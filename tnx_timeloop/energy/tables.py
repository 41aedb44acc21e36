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
from tnx_timeloop.spec.arch import Architecture, ComputeLevel, StorageLevel

__all__ = ["LevelEnergy", "ArchEnergy", "resolve_energy", "timeloop_builtin_energy", "table_energy", "ENERGY_SOURCES", "select_energy"]


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


def _component_attributes(level: StorageLevel | ComputeLevel) -> dict[str, object]:
    """Attributes an Accelergy-style estimator reads, rebuilt from the typed level."""
    attrs: dict[str, object] = dict(level.attributes)
    if isinstance(level, StorageLevel):
        attrs["datawidth"] = level.word_bits
        if level.size_words is not None:
            attrs["depth"] = max(1, level.size_words // level.block_size)
        if level.width_bits is not None:  # otherwise the estimator applies Accelergy's default
            attrs["width"] = level.width_bits
        attrs["block_size"] = level.block_size
        attrs["cluster_size"] = level.cluster_size
    else:
        attrs.setdefault("datawidth", level.word_bits)
    return attrs


def table_energy(arch: Architecture) -> ArchEnergy:
    """Energies from the built-in CACTI/Accelergy-fitted tables (:mod:`tnx_timeloop.energy.builtin`).

    Raises
    ------
    EnergyError
        Naming a component class the tables do not know.
    """
    from tnx_timeloop.energy.builtin import estimate_component

    levels = []
    for level in arch.storage:
        if level.is_dummy:
            levels.append(LevelEnergy(0.0, 0.0, 0.0, 0.0, "dummy"))
            continue
        est = estimate_component(level.class_name, _component_attributes(level), subclass=level.subclass)
        acts = est.actions_pj
        levels.append(
            LevelEnergy(
                read_pj=acts["read"],
                fill_pj=acts["write"],
                update_pj=acts.get("update", acts["write"]),
                area_um2=est.area_um2,
                source=est.source,
            )
        )
    c = arch.compute
    est = estimate_component(c.class_name, _component_attributes(c), subclass=c.subclass)
    return ArchEnergy(tuple(levels), est.actions_pj["mac_random"], est.area_um2, est.source)


ENERGY_SOURCES = ("auto", "ert", "timeloop", "tables")


def select_energy(arch: Architecture, source: str = "auto", table: ActionTable | None = None) -> ArchEnergy:
    """Energies for ``arch`` from the chosen source.

    ``auto``: the given ERT (missing entries from Timeloop's built-in model), else
    Timeloop's built-in model, as ``timeloop-model`` does; ``ert``: require an
    ERT; ``timeloop``: Timeloop's built-in model even if an ERT is given;
    ``tables``: the CACTI/Accelergy-fitted tables (technology and bit-width aware).
    """
    from tnx_timeloop.errors import EnergyError

    key = source.lower()
    if key == "auto":
        return resolve_energy(arch, table)
    if key == "ert":
        if table is None:
            raise EnergyError("energy source 'ert' needs an ERT file (pass ERT.yaml among the inputs)")
        return resolve_energy(arch, table)
    if key in ("timeloop", "timeloop-builtin", "pat"):
        return resolve_energy(arch, None)
    if key in ("tables", "builtin", "builtin-tables"):
        return table_energy(arch)
    if key in ("hwcomponents", "accelergy"):
        from tnx_timeloop.energy.external import external_energy

        return external_energy(arch, key)
    raise EnergyError(f"unknown energy source {source!r}; choose one of {list(ENERGY_SOURCES) + ['hwcomponents', 'accelergy']}")
