"""Accelergy Energy/Area Reference Tables (ERT.yaml, ART.yaml) as Timeloop reads them.

Timeloop matches a table entry to an architecture component by the last
dot-separated part of its name, without any ``[0..N]`` suffix
(``system.eyeriss.PE[0..167].ifmap_spad`` -> ``ifmap_spad``), and of the
argument variants of an action it takes the most expensive one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tnx_timeloop.errors import SpecError, Where

__all__ = ["ActionTable", "parse_ert", "parse_art", "component_key"]

_SUFFIX = re.compile(r"\[\s*\d+\s*\.\.\s*\d+\s*\]")


def component_key(name: str) -> str:
    """``system.PE[0..15].Buffer[0..3]`` -> ``Buffer``: the key Timeloop matches on."""
    return _SUFFIX.sub("", name).rsplit(".", 1)[-1].strip()


@dataclass(frozen=True, slots=True)
class ActionTable:
    """Per component (matched by :func:`component_key`): action -> energy in pJ (max over variants)."""

    energy_pj: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = ()
    area_um2: tuple[tuple[str, float], ...] = ()

    def actions(self, component: str) -> dict[str, float]:
        """Action energies (pJ) of ``component``, empty if the table does not know it."""
        for name, acts in self.energy_pj:
            if name == component:
                return dict(acts)
        return {}

    def area(self, component: str) -> float | None:
        """Area in um^2 of one ``component`` instance, if the ART gives it."""
        for name, area in self.area_um2:
            if name == component:
                return area
        return None

    def merged(self, other: ActionTable) -> ActionTable:
        """This table with ``other``'s entries added (other wins on conflicts)."""
        energies = dict(self.energy_pj)
        energies.update(dict(other.energy_pj))
        areas = dict(self.area_um2)
        areas.update(dict(other.area_um2))
        return ActionTable(tuple(energies.items()), tuple(areas.items()))

    @property
    def components(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.energy_pj)


def _energy_of(entry: Any, where: Where) -> float | None:
    if not isinstance(entry, Mapping):
        raise SpecError(where, f"expected an action entry with 'energy', got {entry!r}")
    value = entry.get("energy", entry.get("max_energy"))
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SpecError(where / "energy", f"expected a number, got {value!r}") from None


def parse_ert(data: Mapping[str, Any], *, where: Where | None = None) -> ActionTable:
    """Parse the ``ERT`` (or ``ERT_summary``) section: versions 0.2, 0.3 and 0.4.

    Raises
    ------
    SpecError
        On a malformed table, naming the entry.
    """
    where = where or Where(None, ("ERT",))
    if not isinstance(data, Mapping):
        raise SpecError(where, "ERT must be a mapping with 'tables'")
    tables = data.get("tables", data.get("table_summary"))
    if tables is None:
        raise SpecError(where, "ERT has no 'tables'")
    result: dict[str, dict[str, float]] = {}

    def add(component: str, action: str, energy: float | None) -> None:
        if energy is None:
            return
        acts = result.setdefault(component_key(component), {})
        acts[action] = max(acts.get(action, energy), energy)

    if isinstance(tables, Mapping):  # v0.2: {component: {action: [variants] | {energy}}}
        for comp, actions in tables.items():
            cw = where / "tables" / str(comp)
            if not isinstance(actions, Mapping):
                raise SpecError(cw, "expected a mapping of actions")
            for action, variants in actions.items():
                for j, v in enumerate(variants if isinstance(variants, list) else [variants]):
                    add(str(comp), str(action), _energy_of(v, cw / str(action) / j))
    elif isinstance(tables, list):  # v0.3/v0.4: [{name, actions: [{name, arguments, energy}]}]
        for i, table in enumerate(tables):
            tw = where / "tables" / i
            if not isinstance(table, Mapping) or "name" not in table:
                raise SpecError(tw, "each table needs a 'name' and 'actions'")
            for j, action in enumerate(table.get("actions") or []):
                aw = tw / "actions" / j
                if not isinstance(action, Mapping) or "name" not in action:
                    raise SpecError(aw, "each action needs a 'name' and an 'energy'")
                energy = _energy_of(action, aw)
                if energy is None and "average_energy" in action:
                    energy = float(action.get("max_energy", action["average_energy"]))
                add(str(table["name"]), str(action["name"]), energy)
    else:
        raise SpecError(where / "tables", "expected a list of tables")
    return ActionTable(tuple((k, tuple(sorted(v.items()))) for k, v in result.items()), ())


def parse_art(data: Mapping[str, Any], *, where: Where | None = None) -> ActionTable:
    """Parse the ``ART`` section into an :class:`ActionTable` carrying areas (um^2)."""
    where = where or Where(None, ("ART",))
    tables = data.get("tables") if isinstance(data, Mapping) else None
    if tables is None:
        raise SpecError(where, "ART has no 'tables'")
    areas: dict[str, float] = {}
    items = tables.items() if isinstance(tables, Mapping) else [(t.get("name"), t.get("area")) for t in tables]
    for i, (name, area) in enumerate(items):
        if name is None or area is None:
            raise SpecError(where / "tables" / i, "each ART entry needs a 'name' and an 'area'")
        try:
            areas[component_key(str(name))] = float(area)
        except (TypeError, ValueError):
            raise SpecError(where / "tables" / i / "area", f"expected a number, got {area!r}") from None
    return ActionTable((), tuple(areas.items()))
