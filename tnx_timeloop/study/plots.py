"""Figures of study reports (matplotlib, imported lazily): each is saved as PNG and SVG.

Every function takes plain rows (dicts, as read from the journal) and a path stem
(``plots/pareto-alexnet``) and returns the files written. Files are written with fixed
metadata (no dates, a fixed SVG hash salt) so that a re-render of the same results gives
the same images.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["available", "pareto_front", "scatter_pareto", "stacked_breakdown", "roofline", "heatmap",
           "timeline", "relative_errors", "bars"]


def available() -> bool:
    """Whether matplotlib is installed (plots are skipped, with a note, otherwise)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "tnx-study"
    plt.rcParams["font.size"] = 9
    return plt


def _save(fig: Any, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    fig.tight_layout()
    fig.savefig(png, dpi=110, metadata={"Software": None})
    fig.savefig(svg, metadata={"Date": None, "Creator": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return [png, svg]


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats in both coordinates (minimising both), by x.

    Notes
    -----
    O(n log n): sort by (x, y), keep each point whose y is below every y before it.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    front: list[int] = []
    best_y = math.inf
    for i in order:
        if points[i][1] < best_y:
            front.append(i)
            best_y = points[i][1]
    return front


def scatter_pareto(stem: Path, groups: Mapping[str, Sequence[tuple[float, float]]], *, xlabel: str, ylabel: str,
                   title: str, highlight: Mapping[str, tuple[float, float]] | None = None, logx: bool = True,
                   logy: bool = True, maximize_y: bool = False, note: str | None = None) -> list[Path]:
    """Points of several groups and the Pareto front over all of them (minimising x; y minimised or maximised)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    allpts: list[tuple[float, float]] = []
    for name, pts in groups.items():
        pts = [(x, y) for x, y in pts if _finite(x) and _finite(y)]
        if not pts:
            continue
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=18, alpha=0.75, label=name)
        allpts += pts
    if allpts:
        key = [(x, -y if maximize_y else y) for x, y in allpts]
        front = [allpts[i] for i in pareto_front(key)]
        ax.plot([p[0] for p in front], [p[1] for p in front], "k--", lw=1, label="Pareto front")
    for name, (x, y) in (highlight or {}).items():
        if _finite(x) and _finite(y):
            ax.scatter([x], [y], marker="*", s=160, edgecolor="k", zorder=5, label=name)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if groups or highlight:
        ax.legend(fontsize=7, loc="best")
    if note:
        fig.text(0.01, 0.01, note, fontsize=6, wrap=True)
    return _save(fig, stem)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def stacked_breakdown(stem: Path, energy: Mapping[str, Mapping[str, float]], cycles: Mapping[str, float], *,
                      title: str, total_cycles: float | None = None) -> list[Path]:
    """Energy per level stacked by data-space (left) and cycles per level (right).

    ``energy[level][dataspace]`` in pJ; ``cycles[level]`` in cycles (levels outermost first).
    """
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    levels = list(energy)
    dataspaces: list[str] = []
    for lv in levels:
        for ds in energy[lv]:
            if ds not in dataspaces:
                dataspaces.append(ds)
    bottom = [0.0] * len(levels)
    for ds in dataspaces:
        vals = [energy[lv].get(ds, 0.0) / 1e6 for lv in levels]
        ax1.bar(levels, vals, bottom=bottom, label=ds)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax1.set_ylabel("energy (uJ)")
    ax1.set_title("energy by level and data-space")
    ax1.legend(fontsize=7)
    ax1.tick_params(axis="x", rotation=30)
    names = list(cycles)
    ax2.bar(names, [cycles[n] for n in names], color="tab:gray")
    if total_cycles is not None:
        ax2.axhline(total_cycles, color="tab:red", ls="--", lw=1, label=f"latency {total_cycles:,.0f}")
        ax2.legend(fontsize=7)
    ax2.set_ylabel("cycles")
    ax2.set_title("cycles each level needs (a layer takes the max)")
    ax2.tick_params(axis="x", rotation=30)
    fig.suptitle(title)
    return _save(fig, stem)


def roofline(stem: Path, series: Mapping[str, dict[str, Any]], *, title: str) -> list[Path]:
    """A roofline per architecture point: ``series[name] = {peak, bw, points: [(intensity, perf, label)]}``.

    Intensity in MACs per DRAM word, performance in MACs per cycle; the roof is
    ``min(peak, bw x intensity)`` (``bw`` in DRAM words per cycle; None: compute roof only).
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    xs = [p[0] for s in series.values() for p in s["points"] if _finite(p[0])]
    if not xs:
        xs = [1.0]
    lo, hi = min(xs) / 4, max(xs) * 4
    cmap = plt.get_cmap("tab10")
    for k, (name, s) in enumerate(series.items()):
        colour = cmap(k % 10)
        grid = [lo * (hi / lo) ** (i / 100) for i in range(101)]
        bw = s.get("bw")
        roof = [min(s["peak"], bw * x) if bw else s["peak"] for x in grid]
        ax.plot(grid, roof, color=colour, lw=1.2)
        pts = [p for p in s["points"] if _finite(p[0]) and _finite(p[1])]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], color=colour, s=20, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operational intensity (MACs per DRAM word)")
    ax.set_ylabel("performance (MACs per cycle)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, stem)


def heatmap(stem: Path, xs: Sequence[Any], ys: Sequence[Any], values: Mapping[tuple[Any, Any], float], *,
            xlabel: str, ylabel: str, title: str, metric: str) -> list[Path]:
    """A grid of ``values[(x, y)]`` (missing cells blank), annotated, with a log colour scale when wide."""
    import numpy as np

    plt = _plt()
    grid = np.full((len(ys), len(xs)), np.nan)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            v = values.get((x, y))
            if v is not None and _finite(v):
                grid[i, j] = v
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 + 0.9 * len(xs)), max(3.6, 1.4 + 0.6 * len(ys))))
    finite = grid[np.isfinite(grid)]
    from matplotlib.colors import LogNorm

    norm = LogNorm() if finite.size and finite.min() > 0 and finite.max() / finite.min() > 20 else None
    im = ax.imshow(grid, cmap="viridis_r", norm=norm, aspect="auto", origin="lower")
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_yticks(range(len(ys)), [str(y) for y in ys])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    for i in range(len(ys)):
        for j in range(len(xs)):
            if np.isfinite(grid[i, j]):
                shade = im.norm(grid[i, j])  # viridis_r: low values are light, high values dark
                colour = "w" if np.ma.is_masked(shade) or float(shade) > 0.5 else "k"
                ax.text(j, i, f"{grid[i, j]:.4g}", ha="center", va="center", fontsize=7, color=colour)
    fig.colorbar(im, ax=ax, label=metric)
    ax.set_title(title, fontsize=9)
    return _save(fig, stem)


def timeline(stem: Path, events: Sequence[Mapping[str, Any]], core_names: Sequence[str], *, title: str,
             note: str | None = None) -> list[Path]:
    """A Gantt chart of saved simulation events: cores first, then the memory and the busiest links."""
    plt = _plt()
    rows = [f"core {i}" for i in range(len(core_names))]
    busy: dict[str, int] = {}
    for e in events:
        if e["resource"] not in rows and e["category"] != "compute-tile":
            busy[e["resource"]] = busy.get(e["resource"], 0) + e["end_cycle"] - e["start_cycle"]
    rows += [r for r, _ in sorted(busy.items(), key=lambda kv: (-kv[1], kv[0]))][: max(0, 16 - len(rows))]
    index = {r: i for i, r in enumerate(rows)}
    nodes = list(dict.fromkeys(e["node"] or e["name"] for e in events if e["category"] == "compute"))
    cmap = plt.get_cmap("tab20")
    colour = {n: cmap(i % 20) for i, n in enumerate(nodes)}
    fig, ax = plt.subplots(figsize=(11, 0.45 * len(rows) + 1.8))
    for e in events:
        if e["resource"] not in index or e["end_cycle"] <= e["start_cycle"]:
            continue
        c = colour.get(e["node"] or e["name"], (0.7, 0.7, 0.7, 1.0))
        ax.barh(index[e["resource"]], e["end_cycle"] - e["start_cycle"], left=e["start_cycle"], height=0.8, color=c,
                edgecolor="none")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r} ({core_names[int(r[5:])]})" if r.startswith("core ") else r for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("cycle")
    ax.set_title(title, fontsize=8)
    if nodes:
        from matplotlib.patches import Patch

        shown = nodes[:20]
        handles = [Patch(color=colour[n], label=n) for n in shown]
        if len(nodes) > len(shown):
            handles.append(Patch(color=(0.7, 0.7, 0.7, 1.0), label=f"... {len(nodes) - len(shown)} more"))
        ax.legend(handles=handles, fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if note:
        fig.text(0.01, 0.01, note, fontsize=6, wrap=True)
    return _save(fig, stem)


def relative_errors(stem: Path, labels: Sequence[str], errors: Sequence[float | None], *, threshold: float,
                    title: str) -> list[Path]:
    """Horizontal bars of (modelled - published) / published, with the 'far' band shaded."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(labels) + 1.5))
    vals = [0.0 if e is None else 100 * e for e in errors]
    colours = ["tab:gray" if e is None else ("tab:red" if abs(e) > threshold else "tab:green") for e in errors]
    ax.barh(range(len(labels)), vals, color=colours)
    ax.axvspan(-100 * threshold, 100 * threshold, color="tab:green", alpha=0.08)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("relative error, % (modelled vs published)")
    ax.set_title(title)
    return _save(fig, stem)


def bars(stem: Path, groups: Mapping[str, Mapping[str, float]], *, ylabel: str, title: str,
         logy: bool = False) -> list[Path]:
    """Grouped bars: ``groups[series][category] = value``."""
    plt = _plt()
    cats: list[str] = []
    for g in groups.values():
        for c in g:
            if c not in cats:
                cats.append(c)
    fig, ax = plt.subplots(figsize=(min(12.0, max(5.0, 0.35 * len(cats) * max(1, len(groups)) + 2)), 4))
    width = 0.8 / max(1, len(groups))
    for k, (name, g) in enumerate(groups.items()):
        ax.bar([i + k * width for i in range(len(cats))], [g.get(c, 0.0) for c in cats], width, label=name)
    ax.set_xticks([i + width * (len(groups) - 1) / 2 for i in range(len(cats))], cats, rotation=30, ha="right")
    if logy:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _save(fig, stem)
