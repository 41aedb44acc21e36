"""``tnx energy``: the per-action energies and areas an architecture gets from an energy source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tnx_timeloop.cli import emit_json, handle_errors

__all__ = ["energy", "register", "energy_rows", "render_rows"]

_SOURCES = ["auto", "ert", "timeloop", "tables", "hwcomponents", "accelergy"]


def energy_rows(arch: Any, energy: Any) -> list[dict[str, Any]]:
    """One row per (component, action): name, class, instances, action, pJ per action, area, source.

    Parameters
    ----------
    arch : Architecture
        The architecture.
    energy : ArchEnergy
        Its energies (pJ per vector access; um^2 per instance).

    Returns
    -------
    list of dict
        Keys ``component``, ``class``, ``instances``, ``action``, ``energy_pj``, ``area_um2``
        (None if unknown), ``source``; storage actions ``read``, ``fill``, ``update``; the
        compute level's ``mac``.
    """
    rows: list[dict[str, Any]] = []
    for level, e in zip(arch.storage, energy.storage, strict=True):
        for action, pj in (("read", e.read_pj), ("fill", e.fill_pj), ("update", e.update_pj)):
            rows.append({
                "component": level.name, "class": level.class_name, "instances": level.instances,
                "action": action, "energy_pj": float(pj), "area_um2": e.area_um2, "source": e.source,
            })
    c = arch.compute
    rows.append({
        "component": c.name, "class": c.class_name, "instances": c.instances, "action": "mac",
        "energy_pj": float(energy.compute_pj), "area_um2": energy.compute_area_um2, "source": energy.compute_source,
    })
    return rows


def render_rows(rows: list[dict[str, Any]]) -> str:
    """An aligned text table of :func:`energy_rows` (area and source shown once per component)."""
    header = ("component", "class", "action", "pJ/action", "area um^2", "source")
    body = []
    previous = None
    for r in rows:
        first = r["component"] != previous
        previous = r["component"]
        area = "-" if r["area_um2"] is None else f"{r['area_um2']:.6g}"
        body.append((
            r["component"] if first else "", r["class"] if first else "", r["action"], f"{r['energy_pj']:.6g}",
            area if first else "", r["source"] if first else "",
        ))
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for b in body:
        lines.append("  ".join(v.ljust(w) for v, w in zip(b, widths, strict=True)).rstrip())
    return "\n".join(lines)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--energy", "energy_source", type=click.Choice(_SOURCES, case_sensitive=False), default="auto",
              show_default=True,
              help="auto (ERT if given, else Timeloop's built-in), ert, timeloop, tables, hwcomponents, accelergy.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def energy(files: tuple[Path, ...], energy_source: str, as_json: bool) -> None:
    """Print the energy per action (pJ) and area (um^2) of every component of an architecture.

    FILES hold the architecture (and optionally an ERT/ART), merged as timeloop-model merges
    them. Storage actions are per vector access of one instance (Timeloop's meaning): read,
    fill (write) and update; the compute level's is one MAC.
    """
    from tnx_timeloop import api

    spec = api.load_spec(files)
    spec.require("arch")
    arch_energy = api.energy_for(spec, energy_source)
    rows = energy_rows(spec.arch, arch_energy)
    if as_json:
        emit_json({"energy_source": energy_source, "describe": arch_energy.describe(), "components": rows})
    else:
        click.echo(render_rows(rows))


def register(cli: click.Group) -> None:
    """Add ``tnx energy`` to the ``tnx`` group."""
    cli.add_command(energy)
