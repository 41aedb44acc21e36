"""``tnx arch``: validate and describe architecture files, list the library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tnx_timeloop.cli import emit_json, handle_errors

__all__ = ["register", "arch", "format_summary", "format_list"]


def _fmt_num(x: float | int | None, unit: str = "") -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:.4g}{unit}"
    return f"{int(x)}{unit}"


def _fmt_clock(hz: float | None) -> str:
    if hz is None:
        return "no clock given"
    if hz >= 1e9:
        return f"{hz / 1e9:.4g} GHz"
    return f"{hz / 1e6:.4g} MHz"


def _table(headers: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    out = [indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for r in rows:
        out.append(indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return out


def _single_lines(s: dict[str, Any], indent: str = "") -> list[str]:
    lines = [f"{indent}levels (outermost first; capacity and bandwidth per instance):"]
    rows = []
    for lv in s["levels"]:
        cls = lv["class"] + (f"/{lv['subclass']}" if lv["subclass"] else "")
        fan = f"{lv['fanout']} ({lv['fanout_xy'][0]}x{lv['fanout_xy'][1]})"
        if lv["dummy"]:
            cap, kib = "0 (spatial only)", "-"
        elif lv["size_words"] is None:
            cap, kib = "unbounded", "-"
        else:
            cap, kib = str(lv["size_words"]), f"{lv['size_kib']:.4g}"
        bw = f"{_fmt_num(lv['read_bandwidth'])}/{_fmt_num(lv['write_bandwidth'])}"
        rows.append([
            lv["name"], cls, str(lv["instances"]), f"{lv['mesh'][0]}x{lv['mesh'][1]}", fan, cap, kib,
            str(lv["word_bits"]), str(lv["block_size"]), bw,
        ])
    lines += _table(
        ["level", "class", "instances", "mesh", "fan-out", "words", "KiB", "bits", "block", "rd/wr words/cycle"],
        rows, indent + "  ",
    )
    c = s["compute"]
    cls = c["class"] + (f"/{c['subclass']}" if c["subclass"] else "")
    lines.append(f"{indent}compute: {c['name']} ({cls}) x {c['instances']}, mesh {c['mesh'][0]}x{c['mesh'][1]}, "
                 f"{c['word_bits']}-bit")
    peak = f"{indent}peak: {s['peak_macs_per_cycle']} MACs/cycle"
    if s["peak_tops"] is not None:
        peak += f" = {s['peak_tops']:.4g} TOPS at {_fmt_clock(s['clock_hz'])} (2 ops per MAC)"
    else:
        peak += " (no clock given: set global_cycle_seconds for TOPS)"
    lines.append(peak)
    lines.append(f"{indent}on-chip storage: {s['on_chip_kib']:,.1f} KiB over all instances; "
                 f"inline constraints: {s['constraints']}")
    e = s["energy"]
    lines.append(f"{indent}energy per action ({e['source']}), pJ per vector access of one instance:")
    rows = [
        [lv["name"], str(lv["words_per_access"]), f"{lv['read_pj']:.4g}", f"{lv['fill_pj']:.4g}",
         f"{lv['update_pj']:.4g}", f"{lv['read_pj_per_word']:.4g}"]
        for lv in e["levels"]
    ]
    lines += _table(["level", "words/access", "read", "fill", "update", "read/word"], rows, indent + "  ")
    lines.append(f"{indent}  {s['compute']['name']}: {e['compute_pj_per_mac']:.4g} pJ per MAC ({e['compute_source']})")
    return lines


def format_summary(s: dict[str, Any]) -> str:
    """Human-readable text of a :func:`tnx_timeloop.library.summarize_file` result."""
    if s["kind"] == "single-core":
        head = (f"{s['name']} ({s['file']}): single-core, v{s['version']}, "
                f"{s['technology'] or 'no technology given'}, {_fmt_clock(s['clock_hz'])}")
        return "\n".join([head, *_single_lines(s)])
    noc, mem = s["noc"], s["memory"]
    lines = [
        f"{s['name']} ({s['file']}): multi-core, {s['total_cores']} cores, {_fmt_clock(s['clock_hz'])}",
        f"noc: {noc['topology']} {' x '.join(map(str, noc['dims']))}, "
        f"{_fmt_num(noc['link_bandwidth_bits_per_cycle'])} bits/cycle per link, "
        f"{_fmt_num(noc['hop_latency_cycles'])} cycles and {_fmt_num(noc['energy_pj_per_bit_hop'])} pJ/bit per hop",
        f"memory: {mem['type']}, {_fmt_num(mem['bandwidth_bits_per_cycle'])} bits/cycle, "
        f"{_fmt_num(mem['energy_pj_per_bit'])} pJ/bit"
        + (f", {mem['size_bytes'] / 2**30:.4g} GiB" if mem.get("size_bytes") else ""),
    ]
    peak = f"peak: {s['peak_macs_per_cycle']} MACs/cycle"
    if s["peak_tops"] is not None:
        peak += f" = {s['peak_tops']:.4g} TOPS at {_fmt_clock(s['clock_hz'])}"
    lines.append(peak)
    lines.append(f"on-chip storage: {s['on_chip_kib']:,.1f} KiB over all cores")
    for core in s["cores"]:
        src = core["source"] or "inline"
        var = f" {core['variables']}" if core["variables"] else ""
        lines.append(f"core {core['name']!r} x {core['count']} ({src}{var}):")
        lines += _single_lines(core["summary"], indent="  ")
    return "\n".join(lines)


def format_list(rows: list[dict[str, Any]]) -> str:
    """One line per library architecture (see ``tnx arch list``)."""
    table = []
    for r in rows:
        if "error" in r:
            table.append([r["name"], r["kind"], "-", "-", "-", f"ERROR: {r['error']}"])
            continue
        table.append([
            r["name"] + (" *" if r["template"] else ""), r["kind"], str(r["pes"]), f"{r['on_chip_kib']:.0f}",
            r["technology"] or "-", r["description"],
        ])
    lines = _table(["name", "kind", "PEs", "on-chip KiB", "tech", "description"], table, indent="")
    lines.append("(* = Jinja template, shown with its default variables)")
    return "\n".join(lines)


@click.group(name="arch")
def arch() -> None:
    """Check architecture files and list the architecture library."""


@arch.command(name="check")
@click.argument("file", type=str)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Template variable for Jinja archs.")
@click.option("--energy", "energy_source", default="auto", show_default=True,
              help="Energy source for the per-action table: auto, timeloop, tables (see tnx model --help).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def check(file: str, sets: tuple[str, ...], energy_source: str, as_json: bool) -> None:
    """Validate an architecture FILE (a path or a library name) and describe it.

    Accepts single-core files (Timeloop v0.3 tree or v0.4 nodes form) and multi-core
    files (top-level 'multicore'); Jinja templates are rendered with --set. Prints
    the hierarchy (outermost first), peak MACs/cycle and TOPS at the clock, and the
    per-action energy table. A problem in the file exits with status 2 and a message
    naming the file, the key path and the fix.
    """
    from tnx_timeloop import library
    from tnx_timeloop.cli.model_cmd import parse_sets

    path = library.find_arch(file)
    summary = library.summarize_file(path, variables=parse_sets(sets), energy=energy_source)
    if as_json:
        emit_json(summary)
    else:
        click.echo(format_summary(summary))


def _list_rows(energy_source: str) -> list[dict[str, Any]]:
    from tnx_timeloop import library
    from tnx_timeloop.errors import TnxError

    rows: list[dict[str, Any]] = []
    for entry in library.list_archs():
        row: dict[str, Any] = {
            "name": entry.name,
            "kind": entry.kind,
            "path": str(entry.path),
            "template": entry.template,
            "description": entry.description,
        }
        try:
            s = library.summarize_file(entry.path, energy=energy_source)
        except TnxError as err:
            row["error"] = str(err)
            rows.append(row)
            continue
        if s["kind"] == "single-core":
            tech = s["technology"]
        else:
            techs = sorted({c["summary"]["technology"] or "-" for c in s["cores"]})
            tech = "/".join(techs)
        row.update({
            "pes": s["peak_macs_per_cycle"],
            "on_chip_kib": s["on_chip_kib"],
            "technology": tech,
            "clock_hz": s["clock_hz"],
            "peak_tops": s["peak_tops"],
        })
        rows.append(row)
    return rows


@arch.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def list_cmd(as_json: bool) -> None:
    """List the library architectures: name, kind, PEs, on-chip KiB, technology, description."""
    from tnx_timeloop import library

    root = library.library_root()
    rows = _list_rows("auto")
    if as_json:
        emit_json({"root": str(root), "archs": rows})
    else:
        click.echo(f"library: {Path(root)}")
        click.echo(format_list(rows))
    if any("error" in r for r in rows):
        raise SystemExit(2)


def register(cli: click.Group) -> None:
    """Add the ``arch`` group to the ``tnx`` command."""
    cli.add_command(arch)
