"""Plain-text rendering of a report (the human view of ``tnx model`` / ``tnx map``)."""

from __future__ import annotations

from tnx_timeloop.model.report import Report

__all__ = ["render_report", "si"]


def si(value: float, unit: str = "") -> str:
    """``48495309.4, 'J'`` -> ``'48.50 MJ'``-style engineering notation (pJ-aware)."""
    if unit == "pJ":
        for scale, name in ((1e12, "J"), (1e9, "mJ"), (1e6, "uJ"), (1e3, "nJ")):
            if abs(value) >= scale:
                return f"{value / scale:.3f} {name}"
        return f"{value:.3f} pJ"
    for scale, name in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {name}{unit}"
    return f"{value:g} {unit}".strip()


def render_report(report: Report, i: int = 0) -> str:
    """A per-level, per-data-space table of mapping ``i`` with totals over all instances."""
    d = report.to_dict(i)
    lines = []
    if not d["valid"]:
        lines.append(f"INVALID mapping: {d['invalid_reason']}")
        return "\n".join(lines)
    pj_per_mac = d["energy_pj"] / d["macs"] if d["macs"] else 0.0
    lines.append(
        f"cycles {d['cycles']:,}   energy {si(d['energy_pj'], 'pJ')} ({pj_per_mac:.3f} pJ/MAC)   "
        f"EDP {d['edp']:.4g} pJ*cycles   utilization {100 * d['utilization']:.1f}%   MACs {d['macs']:,}"
    )
    lines.append(f"energy source: {d['energy_source']}")
    header = f"{'level / data-space':<26}{'instances':>12}{'tile words':>13}{'reads':>15}{'fills':>15}{'updates':>15}{'energy (pJ)':>16}{'cycles':>12}"
    lines.append("")
    lines.append(header)
    lines.append("-" * len(header))
    for lv in d["levels"]:
        inst = f"{lv['utilized_instances']}/{lv['instances']}"
        lines.append(f"{lv['name']:<26}{inst:>12}{'':>13}{'':>15}{'':>15}{'':>15}{lv['energy_pj']:>16,.1f}{lv['cycles']:>12,}")
        for ds, v in lv["dataspaces"].items():
            if not (v["tile_words"] or v["reads"] or v["fills"] or v["updates"]):
                continue
            lines.append(
                f"  {ds:<24}{'':>12}{v['tile_words']:>13,}{_n(v['reads']):>15}{_n(v['fills']):>15}{_n(v['updates']):>15}"
            )
    c = d["compute"]
    lines.append(
        f"{c['name'] + ' (compute)':<26}{str(c['utilized_instances']) + '/' + str(c['instances']):>12}"
        f"{'':>13}{d['macs']:>15,}{'':>15}{'':>15}{c['energy_pj']:>16,.1f}"
    )
    lines.append("-" * len(header))
    lines.append(f"{'total':<26}{'':>12}{'':>13}{'':>15}{'':>15}{'':>15}{d['energy_pj']:>16,.1f}{d['cycles']:>12,}")
    return "\n".join(lines)


def _n(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"
