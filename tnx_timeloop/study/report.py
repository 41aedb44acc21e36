"""Render a study's results folder: Markdown tables, PNG and SVG plots, and ``report.md``.

:func:`render_report` reads only what a run saved -- ``config.json``, ``manifest.json``,
``provenance.json``, ``journal.jsonl`` and ``artifacts/`` -- so ``tnx study report DIR``
re-renders without evaluating anything (also for a partial, interrupted run: the report
then says how many tasks are missing). Each study kind has one renderer that turns the
journal rows into sections; a section holds Markdown text and the files it refers to.

The same results give the same ``report.md`` and tables (numbers are formatted from the
stored values; plots are written with fixed metadata).
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.study import plots as P
from tnx_timeloop.study import store

__all__ = ["ReportData", "load_report_data", "render_report", "update_report_settings", "markdown_table", "fmt"]

MAX_PLOTS_PER_KIND = 12
"""At most this many figures of one kind (per-workload Pareto fronts, heat maps ...) in a report."""

MAX_TABLE_ROWS = 40
"""Rows of a table shown inline in report.md (the full table is in ``tables/``)."""


# ---------------------------------------------------------------------------
# the saved results
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything a renderer needs, read from the results folder.

    Attributes
    ----------
    out : Path
        The results folder.
    config : dict
        The resolved configuration (``config.json`` ``resolved``).
    manifest : dict
    provenance : dict
    entries : list of JournalEntry
        Finished tasks, in task order.
    """

    out: Path
    config: dict[str, Any]
    manifest: dict[str, Any]
    provenance: dict[str, Any]
    entries: list[store.JournalEntry]

    @property
    def kind(self) -> str:
        """The study kind."""
        return str(self.config.get("kind", self.manifest.get("kind", "")))

    @property
    def report(self) -> dict[str, Any]:
        """The ``report`` settings (title, plots, heatmap)."""
        return dict(self.config.get("report") or {})

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The ``results`` rows in task order."""
        return [r for e in self.entries for r in e.result.get("rows", [])]

    def table(self, name: str) -> list[dict[str, Any]]:
        """The rows of a further table (``breakdown``, ``layers`` ...) in task order."""
        return [r for e in self.entries for r in (e.result.get("tables") or {}).get(name, [])]

    def wants(self, plot: str) -> bool:
        """Whether the study's ``report.plots`` asks for ``plot`` (all when not given)."""
        plots = self.report.get("plots")
        return plots is None or plot in plots

    def artifact(self, entry: store.JournalEntry, name: str) -> Path | None:
        """A saved artifact of a task, or None when absent."""
        path = store.artifact_dir(self.out, entry.key) / name
        return path if path.exists() else None


def _read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.exists():
        raise SpecError(Where(path.parent), f"not a study results folder: {path.name} is missing ({what}); "
                                            "run `tnx study run STUDY.yaml --out DIR` first")
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as err:
        raise SpecError(Where(path), f"unreadable {what}: {err}") from None


def load_report_data(out_dir: Path | str) -> ReportData:
    """Read a results folder.

    Raises
    ------
    SpecError
        When the folder holds no study (no ``manifest.json``/``config.json``) or a file is unreadable.
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise SpecError(Where(out), "no such results folder")
    manifest = _read_json(out / store.MANIFEST, "the study manifest")
    config = _read_json(out / store.CONFIG, "the resolved configuration").get("resolved", {})
    prov_path = out / store.PROVENANCE
    provenance = _read_json(prov_path, "the provenance") if prov_path.exists() else {}
    keys = {t["key"]: t["index"] for t in manifest.get("tasks", [])}
    entries = sorted((e for e in store.read_journal(out) if e.key in keys), key=lambda e: e.index)
    return ReportData(out, dict(config), manifest, provenance, entries)


# ---------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------


def fmt(value: Any, digits: int = 4) -> str:
    """A table cell: integers with thousands separators, floats to ``digits`` significant digits."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e7 or abs(value) < 1e-3):
            return f"{value:.{digits - 1}e}"
        if float(value).is_integer() and abs(value) < 1e7:
            return f"{int(value):,}"
        return f"{value:.{digits}g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _runs(value: Any) -> str:
    """``0 0 0 1 1 3`` -> ``0x3 1x2 3`` (a layer-to-core allocation, compactly)."""
    items = str(value or "").split()
    out: list[str] = []
    i = 0
    while i < len(items):
        j = i
        while j < len(items) and items[j] == items[i]:
            j += 1
        out.append(items[i] if j - i == 1 else f"{items[i]}x{j - i}")
        i = j
    return " ".join(out)


def _pct(value: Any) -> str:
    return "" if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{100 * value:+.1f} %"


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]],
                   formats: Mapping[str, Callable[[Any], str]] | None = None) -> str:
    """A GitHub Markdown table of ``rows``; ``columns`` are ``(key, header)`` pairs."""
    formats = formats or {}
    head = "| " + " | ".join(h for _, h in columns) + " |"
    sep = "| " + " | ".join("---" for _ in columns) + " |"
    body = ["| " + " | ".join(formats.get(k, fmt)(r.get(k)) for k, _ in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body]) if rows else "_(no rows)_"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "x"


@dataclass
class _Doc:
    """report.md being assembled, and the files written for it."""

    data: ReportData
    lines: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    plot_notes: list[str] = field(default_factory=list)

    def add(self, *text: str) -> None:
        self.lines.extend(text)

    def heading(self, level: int, title: str) -> None:
        self.lines += ["", "#" * level + " " + title, ""]

    def table(self, name: str, title: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]],
              formats: Mapping[str, Callable[[Any], str]] | None = None, *, inline: int = MAX_TABLE_ROWS) -> None:
        """Write ``tables/NAME.md`` and show (up to ``inline`` rows of) it here."""
        text = markdown_table(rows, columns, formats)
        path = store.atomic_write_text(self.data.out / "tables" / f"{name}.md", f"# {title}\n\n{text}\n")
        self.files.append(path)
        shown = list(rows)[:inline]
        self.add("", markdown_table(shown, columns, formats))
        more = f"{len(rows) - len(shown)} more rows in " if len(rows) > len(shown) else ""
        self.add("", f"_{more}[tables/{name}.md](tables/{name}.md)_")

    def figure(self, files: Sequence[Path], caption: str, note: str | None = None) -> None:
        """Reference a PNG (and its SVG) with a caption and an optional note beside it."""
        if not files:
            return
        self.files += list(files)
        png = next((f for f in files if f.suffix == ".png"), files[0])
        svg = next((f for f in files if f.suffix == ".svg"), None)
        rel = png.relative_to(self.data.out).as_posix()
        self.add("", f"![{caption}]({rel})", "")
        extra = f" ([SVG]({svg.relative_to(self.data.out).as_posix()}))" if svg is not None else ""
        self.add(f"*{caption}*{extra}")
        if note:
            self.add("", f"> {note}")

    def plots_ok(self) -> bool:
        if P.available():
            return True
        msg = "matplotlib is not installed: plots were skipped (pip install matplotlib)."
        if msg not in self.plot_notes:
            self.plot_notes.append(msg)
        return False

    def stem(self, name: str) -> Path:
        return self.data.out / "plots" / _slug(name)


# ---------------------------------------------------------------------------
# the common parts
# ---------------------------------------------------------------------------


def _provenance_section(doc: _Doc) -> None:
    d = doc.data
    p = d.provenance
    pkg = p.get("tnx_timeloop") or {}
    git = pkg.get("git") or {}
    py = p.get("python") or {}
    host = p.get("host") or {}
    deps = p.get("dependencies") or {}
    runs = p.get("runs") or []
    tools = p.get("tools") or {}
    doc.heading(2, "Provenance")
    git_text = "not a git checkout"
    if git:
        git_text = f"`{git.get('describe') or git.get('commit')}`" + (" (uncommitted changes)" if git.get("dirty") else "")
    rows = [
        {"item": "tnx_timeloop", "value": f"{pkg.get('version')} -- git {git_text}"},
        {"item": "study", "value": f"{d.manifest.get('name')} (kind {d.kind}), config hash `{str(d.manifest.get('config_hash'))[:16]}`"},
        {"item": "seeds", "value": ", ".join(str(s) for s in p.get("seeds", d.config.get("seeds", [])))},
        {"item": "backends / evaluators", "value": ", ".join(p.get("backends") or [])},
        {"item": "energy source", "value": ", ".join(str(e) for e in (p.get("energy_sources") or []))},
        {"item": "Python", "value": f"{py.get('version')} ({py.get('implementation')})"},
        {"item": "dependencies", "value": ", ".join(f"{k} {v}" for k, v in deps.items() if v)},
        {"item": "tools on PATH", "value": ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in tools.items())},
        {"item": "host", "value": f"{host.get('name')} ({host.get('system')}, {host.get('cpus')} CPUs)"},
        {"item": "started (UTC)", "value": d.manifest.get("created_utc")},
        {"item": "runs", "value": "; ".join(
            f"#{i + 1} {r.get('status')} ({r.get('executor')}, {r.get('jobs')} workers, computed "
            f"{r.get('computed', '?')}, reused {r.get('reused', 0)})" for i, r in enumerate(runs))},
    ]
    doc.add(markdown_table(rows, [("item", "item"), ("value", "value")]))
    doc.add("", "Full record: [provenance.json](provenance.json); resolved configuration: "
                "[config.json](config.json); the study file as run: [study.yaml](study.yaml).")


def _files_section(doc: _Doc) -> None:
    out = doc.data.out
    doc.heading(2, "Files")
    items = []
    for name in sorted(p.name for p in out.glob("*.csv") if p.name != "timing.csv"):
        items.append(f"- [{name}]({name})")
        pq = out / name.replace(".csv", ".parquet")
        if pq.exists():
            items.append(f"- [{pq.name}]({pq.name})")
    if not any(out.glob("*.parquet")):
        items.append("- Parquet files: skipped (pyarrow is not installed; `pip install pyarrow`)")
    items.append("- [journal.jsonl](journal.jsonl): one line per finished task (the record resumed runs continue)")
    items.append("- `timing.csv`: wall time per task (kept apart from the results, which do not depend on it)")
    doc.add(*items)
    for note in doc.plot_notes:
        doc.add("", f"> {note}")


def _study_file(d: ReportData) -> str:
    """The study file as run: relative to the checkout when it lies in it (e.g. ``studies/tnn-dse.yaml``)."""
    source = (d.provenance.get("study") or {}).get("file")
    if not source:
        return "STUDY.yaml"
    location = (d.provenance.get("tnx_timeloop") or {}).get("location")
    if location:
        try:
            return Path(source).relative_to(Path(location).parent).as_posix()
        except ValueError:
            pass
    return str(source)


def _status(doc: _Doc) -> None:
    d = doc.data
    total = len(d.manifest.get("tasks", []))
    done = len(d.entries)
    if done < total:
        doc.add("", f"> **Partial results: {done} of {total} tasks are finished.** Continue with "
                    f"`tnx study run {_study_file(d)} --out {d.out} --resume`; the tables and figures "
                    "below cover the finished tasks only.")
    else:
        doc.add("", f"All {total} tasks finished.")


# ---------------------------------------------------------------------------
# sweep and native-vs-timeloop
# ---------------------------------------------------------------------------


_SETTING_KEYS = ("objective", "budget", "algorithm", "energy", "seed")


def _arch_point(row: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, Any], ...]]:
    return str(row.get("arch")), tuple((k[5:], v) for k, v in row.items() if k.startswith("arch."))


def _point_label(point: tuple[str, tuple[tuple[str, Any], ...]]) -> str:
    name, variables = point
    return name + ("" if not variables else " " + " ".join(f"{k}={v}" for k, v in variables))


def _setting(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row.get(k) for k in _SETTING_KEYS)


def _varying(rows: Sequence[Mapping[str, Any]], keys: Iterable[str]) -> list[str]:
    return [k for k in keys if len({json.dumps(r.get(k), default=str) for r in rows}) > 1]


def _metric(row: Mapping[str, Any], metric: str) -> float | None:
    v = row.get(metric)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _workload_totals(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (workload, architecture point, setting, evaluator): totals over the workload's layers x counts."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in rows:
        key = (r.get("workload"), _arch_point(r), _setting(r), r.get("evaluator"))
        groups.setdefault(key, []).append(r)
    out = []
    for (workload, point, setting, evaluator), rs in groups.items():
        ok = all(r.get("status") == "ok" for r in rs)
        row: dict[str, Any] = {"workload": workload, "point": point, "arch_point": _point_label(point),
                               "evaluator": evaluator, "layers": len(rs), "ok": ok,
                               **dict(zip(_SETTING_KEYS, setting, strict=True))}
        if ok:
            cycles = sum(int(r.get("count") or 1) * int(r["cycles"]) for r in rs)
            energy = sum(int(r.get("count") or 1) * float(r["energy_pj"]) for r in rs)
            macs = sum(int(r.get("count") or 1) * int(r.get("macs") or 0) for r in rs)
            lat = [r.get("latency_s") for r in rs]
            row.update({"cycles": cycles, "energy_pj": energy, "edp": cycles * energy,
                        "energy_uj": energy / 1e6, "macs": macs,
                        "utilization": macs / (cycles * max(1, int(rs[0].get("peak_macs_per_cycle") or 1)))
                        if cycles else None,
                        "latency_ms": None if any(x is None for x in lat) else
                        1e3 * sum(int(r.get("count") or 1) * float(r["latency_s"]) for r in rs),
                        "bound": ", ".join(sorted({str(r.get("bound")) for r in rs}))})
        else:
            bad = next(r for r in rs if r.get("status") != "ok")
            row.update({"status": bad.get("status"), "reason": bad.get("reason")})
        out.append(row)
    return out


def _render_sweep(doc: _Doc) -> None:
    d = doc.data
    rows = d.rows
    metric = (d.report.get("heatmap") or {}).get("metric") or "edp"
    totals = _workload_totals(rows)
    ok_totals = [t for t in totals if t["ok"]]
    varying = _varying(rows, _SETTING_KEYS)
    evaluators = list(dict.fromkeys(r.get("evaluator") for r in rows))

    if d.kind == "native-vs-timeloop":
        _agreement(doc, rows, evaluators)

    doc.heading(2, "Results per workload and architecture point")
    doc.add(f"Totals over each workload's layers (times their counts). Metric for 'best': {metric}.")
    cols = [("workload", "workload"), ("arch_point", "architecture"), ("evaluator", "evaluator"),
            *[(k, k) for k in varying], ("cycles", "cycles"), ("latency_ms", "latency ms"),
            ("energy_uj", "energy uJ"), ("edp", "EDP pJ*cycle"), ("utilization", "MAC util"), ("bound", "bound by")]
    doc.table("workload-totals", "Totals per workload, architecture point and evaluator",
              sorted(ok_totals, key=lambda t: (str(t["workload"]), str(t["evaluator"]), t.get(metric) or math.inf)),
              cols)
    best = _best_per_workload(ok_totals, metric)
    if best:
        doc.add("", "Best architecture point per workload and evaluator:", "")
        doc.table("best", "Best point per workload", best,
                  [("workload", "workload"), ("evaluator", "evaluator"), ("arch_point", "architecture"),
                   *[(k, k) for k in varying], ("cycles", "cycles"), ("energy_uj", "energy uJ"),
                   ("edp", "EDP pJ*cycle")])
    layer_cols = [("workload", "workload"), ("layer", "layer"), ("count", "count"), ("arch", "arch"),
                  *[(k, k[5:]) for k in dict.fromkeys(k for r in rows for k in r if k.startswith("arch."))],
                  *[(k, k) for k in varying], ("evaluator", "evaluator"), ("status", "status"), ("cycles", "cycles"),
                  ("energy_pj", "energy pJ"), ("utilization", "util"), ("dram_words", "DRAM words"),
                  ("bound", "bound by"), ("mapper_evaluated", "mappings evaluated")]
    doc.heading(3, "Per layer")
    shown = [r for r in rows if r.get("status") != "unavailable"]
    if len(shown) < len(rows):
        doc.add(f"({len(rows) - len(shown)} rows of evaluators that are not installed are left out; they are in "
                "results.csv with status `unavailable`.)", "")
    doc.table("layers", "Per layer", shown, layer_cols, inline=20)
    problems = [r for r in rows if r.get("status") == "error"]
    if problems:
        doc.heading(3, "Evaluations that failed")
        doc.table("errors", "Failed evaluations", problems,
                  [("workload", "workload"), ("layer", "layer"), ("arch", "arch"), ("evaluator", "evaluator"),
                   ("reason", "reason")])
    if not doc.plots_ok():
        return
    _sweep_pareto(doc, ok_totals)
    _sweep_breakdowns(doc, d.table("breakdown"), best)
    _sweep_roofline(doc, rows)
    _sweep_heatmaps(doc, ok_totals, metric)


def _best_per_workload(totals: Sequence[Mapping[str, Any]], metric: str) -> list[dict[str, Any]]:
    best: dict[tuple, Mapping[str, Any]] = {}
    for t in totals:
        key = (t["workload"], t["evaluator"])
        v = _metric(t, metric)
        if v is None:
            continue
        if key not in best or v < (_metric(best[key], metric) or math.inf):
            best[key] = t
    return [dict(best[k]) for k in best]


def _agreement(doc: _Doc, rows: Sequence[Mapping[str, Any]], evaluators: Sequence[Any]) -> None:
    doc.heading(2, "Native versus Timeloop")
    others = [e for e in evaluators if e != "native"]
    unavailable: dict[str, set[str]] = {}
    for r in rows:
        if r.get("status") == "unavailable":
            unavailable.setdefault(str(r.get("evaluator")), set()).add(str(r.get("reason")))
    ok_other = [e for e in others if any(r.get("evaluator") == e and r.get("status") == "ok" for r in rows)]
    if unavailable:
        doc.add("**The Timeloop side of this comparison was skipped** for the evaluators below: their tools are "
                "not installed on the machine that ran the study. Only the native model and mapper were run; no "
                "Timeloop numbers are shown or estimated. Install Timeloop v3 (build NVlabs/timeloop from source "
                "and put `timeloop-model` and `timeloop-mapper` on PATH) and run the study into a new folder to "
                "fill in this section.", "")
        for ev in sorted(unavailable):
            doc.add(f"- `{ev}`: " + "; ".join(sorted(unavailable[ev])))
    if not ok_other:
        if not others:
            doc.add("No Timeloop evaluator was requested (add `evaluators: [native, timeloop-model, timeloop-mapper]`).")
        return
    native = {(r.get("workload"), r.get("layer"), _arch_point(r), _setting(r)): r for r in rows
              if r.get("evaluator") == "native" and r.get("status") == "ok"}
    table = []
    for r in rows:
        if r.get("evaluator") not in ok_other or r.get("status") != "ok":
            continue
        n = native.get((r.get("workload"), r.get("layer"), _arch_point(r), _setting(r)))
        if n is None:
            continue
        table.append({"workload": r.get("workload"), "layer": r.get("layer"), "arch": _point_label(_arch_point(r)),
                      "evaluator": r.get("evaluator"), "native_cycles": n.get("cycles"), "other_cycles": r.get("cycles"),
                      "cycles_ratio": r["cycles"] / n["cycles"] if n.get("cycles") else None,
                      "native_energy_pj": n.get("energy_pj"), "other_energy_pj": r.get("energy_pj"),
                      "energy_ratio": r["energy_pj"] / n["energy_pj"] if n.get("energy_pj") else None})
    doc.add("", "Ratios are Timeloop / native (1.0 = identical).", "")
    doc.table("agreement", "Native versus Timeloop", table,
              [("workload", "workload"), ("layer", "layer"), ("arch", "architecture"), ("evaluator", "evaluator"),
               ("native_cycles", "native cycles"), ("other_cycles", "Timeloop cycles"), ("cycles_ratio", "cycles ratio"),
               ("native_energy_pj", "native pJ"), ("other_energy_pj", "Timeloop pJ"), ("energy_ratio", "energy ratio")])
    if table and doc.data.wants("agreement") and doc.plots_ok():
        groups: dict[str, list[tuple[float, float]]] = {}
        for t in table:
            groups.setdefault(str(t["evaluator"]), []).append((float(t["native_cycles"]), float(t["other_cycles"])))
        files = P.scatter_pareto(doc.stem("agreement-cycles"), groups, xlabel="native cycles",
                                 ylabel="Timeloop cycles", title="cycles: Timeloop versus native", maximize_y=False)
        doc.figure(files, "Timeloop cycles against native cycles (one point per layer and architecture)")


def _sweep_pareto(doc: _Doc, totals: Sequence[Mapping[str, Any]]) -> None:
    if not doc.data.wants("pareto"):
        return
    doc.heading(2, "Pareto fronts (latency versus energy)")
    workloads = list(dict.fromkeys(t["workload"] for t in totals))
    for w in workloads[:MAX_PLOTS_PER_KIND]:
        ts = [t for t in totals if t["workload"] == w]
        multi_eval = len({t["evaluator"] for t in ts}) > 1
        groups: dict[str, list[tuple[float, float]]] = {}
        for t in ts:
            name = str(t["point"][0]) + (f" [{t['evaluator']}]" if multi_eval else "")
            groups.setdefault(name, []).append((float(t["cycles"]), float(t["energy_pj"]) / 1e6))
        files = P.scatter_pareto(doc.stem(f"pareto-{w}"), groups, xlabel="latency (cycles)", ylabel="energy (uJ)",
                                 title=f"{w}: every architecture point")
        doc.figure(files, f"{w}: latency versus energy of every architecture point and setting; dashed: Pareto front")


def _sweep_breakdowns(doc: _Doc, breakdown: Sequence[Mapping[str, Any]], best: Sequence[Mapping[str, Any]]) -> None:
    if not doc.data.wants("breakdown") or not breakdown:
        return
    doc.heading(2, "Energy and latency breakdowns (best point per workload)")
    shown = 0
    for b in best:
        if shown >= MAX_PLOTS_PER_KIND:
            break
        rs = [r for r in breakdown if r.get("workload") == b["workload"] and r.get("evaluator") == b["evaluator"]
              and _arch_point(r) == b["point"] and _setting(r) == tuple(b[k] for k in _SETTING_KEYS)]
        if not rs:
            continue
        energy: dict[str, dict[str, float]] = {}
        cycles: dict[str, float] = {}
        seen: set[tuple[Any, Any]] = set()
        for r in rs:
            n = int(r.get("count") or 1)
            lv, ds = str(r["level"]), str(r["dataspace"])
            energy.setdefault(lv, {})
            energy[lv][ds] = energy[lv].get(ds, 0.0) + n * float(r.get("energy_pj") or 0.0)
            if (r.get("layer"), lv) not in seen:
                seen.add((r.get("layer"), lv))
                cycles[lv] = cycles.get(lv, 0.0) + n * float(r.get("level_cycles") or 0)
        files = P.stacked_breakdown(doc.stem(f"breakdown-{b['workload']}-{b['evaluator']}"), energy, cycles,
                                    title=f"{b['workload']} on {b['arch_point']} ({b['evaluator']})",
                                    total_cycles=float(b["cycles"]))
        doc.figure(files, f"{b['workload']} on {b['arch_point']}: energy by level and data-space, cycles each level "
                          "needs (summed over layers)")
        shown += 1


def _sweep_roofline(doc: _Doc, rows: Sequence[Mapping[str, Any]]) -> None:
    if not doc.data.wants("roofline"):
        return
    ok = [r for r in rows if r.get("status") == "ok" and r.get("macs_per_dram_word") and r.get("macs_per_cycle")]
    if not ok:
        return
    by_point: dict[str, dict[str, Any]] = {}
    edp: dict[str, float] = {}
    for r in ok:
        name = _point_label(_arch_point(r)) + ("" if r.get("evaluator") == "native" else f" [{r.get('evaluator')}]")
        s = by_point.setdefault(name, {"peak": float(r["peak_macs_per_cycle"]), "bw": r.get("dram_words_per_cycle"),
                                       "points": []})
        s["points"].append((float(r["macs_per_dram_word"]), float(r["macs_per_cycle"]), str(r.get("layer"))))
        edp[name] = edp.get(name, 0.0) + float(r.get("edp") or 0.0)
    names = sorted(by_point, key=lambda n: (edp[n], n))[:8]
    series = {n: by_point[n] for n in sorted(names)}
    doc.heading(2, "Roofline")
    files = P.roofline(doc.stem("roofline"), series, title="layers on each architecture point")
    note = None if len(by_point) <= 8 else f"{len(names)} of {len(by_point)} architecture points shown (lowest EDP)."
    doc.figure(files, "Roofline: MACs per cycle against MACs per DRAM word; lines: min(peak, DRAM bandwidth x "
                      "intensity) of each point", note)


def _sweep_heatmaps(doc: _Doc, totals: Sequence[Mapping[str, Any]], metric: str) -> None:
    if not doc.data.wants("heatmap"):
        return
    hm = doc.data.report.get("heatmap") or {}
    done = 0
    header = False
    for arch in dict.fromkeys(t["point"][0] for t in totals):
        ts = [t for t in totals if t["point"][0] == arch and t["evaluator"] == "native"] or \
             [t for t in totals if t["point"][0] == arch]
        names = [k for k, _ in ts[0]["point"][1]] if ts else []
        grid = [k for k in names if len({dict(t["point"][1]).get(k) for t in ts}) > 1]
        if not grid:
            continue
        x = hm.get("x") if hm.get("x") in grid else grid[0]
        y = hm.get("y") if hm.get("y") in grid and hm.get("y") != x else next((g for g in grid if g != x), None)
        for w in dict.fromkeys(t["workload"] for t in ts):
            if done >= MAX_PLOTS_PER_KIND:
                return
            wt = [t for t in ts if t["workload"] == w] if y is not None else ts
            values: dict[tuple[Any, Any], float] = {}
            for t in wt:
                v = dict(t["point"][1])
                key = (v.get(x), v.get(y) if y is not None else t["workload"])
                m = _metric(t, metric)
                if m is not None and (key not in values or m < values[key]):
                    values[key] = m
            xs = sorted({k[0] for k in values}, key=_sort_key)
            ys = sorted({k[1] for k in values}, key=_sort_key)
            if not header:
                doc.heading(2, "Parameter-sweep heat maps")
                header = True
            title = f"{arch}: {metric}" + (f" of {w}" if y is not None else "")
            files = P.heatmap(doc.stem(f"heatmap-{arch}-{w if y is not None else 'all'}"), xs, ys, values,
                              xlabel=x, ylabel=y or "workload", title=title, metric=metric)
            others = [g for g in grid if g not in (x, y)]
            note = None if not others else f"Each cell: the minimum over {', '.join(others)} and the other settings."
            doc.figure(files, f"{title} over {x} x {y or 'workload'}", note)
            done += 1
            if y is None:
                break


def _sort_key(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, str(v))


# ---------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------


def _render_compare(doc: _Doc) -> None:
    d = doc.data
    rows = d.rows
    layers = d.table("layers")
    for e in d.entries:
        meta = e.result.get("meta") or {}
        rs = [r for r in e.result.get("rows", [])]
        if not rs:
            continue
        name = rs[0]["comparison"]
        seed = rs[0].get("seed")
        doc.heading(2, f"{meta.get('title') or name}")
        doc.add(f"Architecture `{rs[0].get('arch')}`, mapper budget {rs[0].get('budget')} per layer, seed {seed}, "
                f"energy: {meta.get('energy_detail') or meta.get('energy')}. Figures further than "
                f"{100 * float(meta.get('far_threshold') or 0.25):.0f} % from the paper are marked `far`.")
        summary = [r for r in rs if r.get("scope") in ("architecture", "network")]
        doc.add("")
        doc.table(f"{_slug(name)}-seed{seed}-figures", f"{name}: published versus modelled", summary,
                  [("network", "network"), ("label", "figure"), ("unit", "unit"), ("published", "published"),
                   ("modelled", "modelled"), ("rel_error", "error"), ("far", "far"), ("source", "source")],
                  {"rel_error": _pct})
        far = [r for r in rs if r.get("far") and r.get("why")]
        if far:
            doc.add("", "Why the far figures differ:", "")
            doc.add(*[f"- **{r.get('label')}** ({r.get('network') or 'architecture'}"
                      f"{' ' + r['layer'] if r.get('layer') else ''}): {r['why']}" for r in far])
        per_layer = [r for r in rs if r.get("scope") == "layer"]
        if per_layer:
            doc.add("")
            doc.table(f"{_slug(name)}-seed{seed}-layer-figures", f"{name}: per-layer figures", per_layer,
                      [("network", "network"), ("layer", "layer"), ("label", "figure"), ("unit", "unit"),
                       ("published", "published"), ("modelled", "modelled"), ("rel_error", "error"), ("far", "far")],
                      {"rel_error": _pct}, inline=20)
        lt = [r for r in layers if r.get("comparison") == name and r.get("seed") == seed]
        if lt:
            doc.add("")
            doc.table(f"{_slug(name)}-seed{seed}-layers", f"{name}: modelled layers", lt,
                      [("network", "network"), ("layer", "layer"), ("count", "count"), ("macs", "MACs"),
                       ("cycles", "cycles"), ("energy_pj", "energy pJ"), ("dram_words", "DRAM words"),
                       ("active_pes", "active PEs"), ("utilization", "util"), ("bound", "bound by")], inline=20)
        if doc.plots_ok() and d.wants("comparison"):
            labels = [f"{r.get('label')} ({r.get('network') or 'arch'}{' ' + r['layer'] if r.get('layer') else ''})"
                      for r in rs if r.get("rel_error") is not None]
            errs = [r.get("rel_error") for r in rs if r.get("rel_error") is not None]
            if labels:
                files = P.relative_errors(doc.stem(f"errors-{name}-seed{seed}"), labels, errs,
                                          threshold=float(meta.get("far_threshold") or 0.25),
                                          title=f"{name}: modelled versus published")
                doc.figure(files, f"{name}: relative error of every published figure (red: far)")
        if doc.plots_ok() and d.wants("breakdown") and lt:
            total_c = sum(int(r.get("count") or 1) * float(r.get("cycles") or 0) for r in lt) or 1.0
            total_e = sum(int(r.get("count") or 1) * float(r.get("energy_pj") or 0) for r in lt) or 1.0
            groups: dict[str, dict[str, float]] = {"share of latency": {}, "share of energy": {}}
            for r in lt:
                n = int(r.get("count") or 1)
                label = f"{r['network']}/{r['layer']}" if len({x['network'] for x in lt}) > 1 else str(r["layer"])
                groups["share of latency"][label] = 100 * n * float(r.get("cycles") or 0) / total_c
                groups["share of energy"][label] = 100 * n * float(r.get("energy_pj") or 0) / total_e
            files = P.bars(doc.stem(f"layers-{name}-seed{seed}"), groups, ylabel="% of the network total",
                           title=f"{name}: modelled latency and energy by layer")
            doc.figure(files, f"{name}: each layer's share (times its count) of the modelled latency and energy")
        if meta.get("assumptions"):
            doc.add("", "Assumptions:", "", *[f"- {a}" for a in meta["assumptions"]])
        if meta.get("sources"):
            doc.add("", "Sources:", "", *[f"- [{k}] {v}" for k, v in sorted(meta["sources"].items())])
    if not rows:
        doc.add("_(no finished comparisons)_")


# ---------------------------------------------------------------------------
# tnn-dse
# ---------------------------------------------------------------------------


def _render_tnn(doc: _Doc) -> None:
    d = doc.data
    rows = d.rows
    summary = d.table("summary")
    layers = d.table("layers")
    cfg = d.config
    hw = cfg.get("hardware") or {}
    grid = hw.get("grid") or {}
    doc.heading(2, "Tensorized versus dense")
    lim = cfg.get("limits") or {}
    se = cfg.get("search") or {}
    doc.add(f"Hardware template `{(hw.get('template') or {}).get('spec')}` (engines {', '.join(hw.get('engines') or [])}), "
            f"grid {', '.join(f'{k} in {v}' for k, v in grid.items())}; limits: "
            + (", ".join(f"{k} = {v}" for k, v in lim.items() if v is not None) or "none")
            + f". Objective {se.get('objective')}, path search {se.get('method')}, mapper budget "
              f"{se.get('mapper_budget')} per step, tolerance {se.get('tolerance')}"
            + (", every configuration evaluated" if se.get("exhaustive") else "") + ".", "")
    doc.table("summary", "Tensorized versus dense", summary,
              [("model", "model"), ("mode", "mode"), ("seed", "seed"), ("tensorized_cycles", "tensorized cycles"),
               ("dense_cycles", "dense cycles"), ("speedup", "speedup"),
               ("speedup_same_config", "speedup (same HW)"), ("energy_ratio", "energy ratio (dense/TT)"),
               ("compression", "compression"), ("tensorized_config", "tensorized best config"),
               ("dense_config", "dense best config"), ("tensorized_evaluated", "TT configs evaluated"),
               ("candidates", "configs in budget")])
    doc.add("", "Speed-up and energy ratio: dense / tensorized, each on its own best configuration "
                "(same HW: the dense model on the tensorized model's configuration).")
    notes = sorted({n for e in d.entries for n in (e.result.get("meta") or {}).get("notes", [])})
    if notes:
        doc.add("", *[f"> note: {n}" for n in notes])
    doc.heading(3, "Per layer on the best configurations")
    doc.table("layers", "Per layer", layers,
              [("model", "model"), ("mode", "mode"), ("variant", "variant"), ("layer", "layer"), ("count", "count"),
               ("cycles", "cycles each"), ("share", "share"), ("utilization", "util"), ("engines", "engines"),
               ("path", "path")], {"share": lambda v: "" if v is None else f"{100 * v:.1f} %"}, inline=30)
    doc.heading(3, "Configurations evaluated")
    hw_cols = [(k, k[3:]) for k in dict.fromkeys(k for r in rows for k in r if k.startswith("hw."))]
    doc.table("configs", "Configurations evaluated", rows,
              [("model", "model"), ("mode", "mode"), ("variant", "variant"), *hw_cols, ("pes", "PEs"),
               ("on_chip_kib", "KiB"), ("area_mm2", "mm^2"), ("cycles", "cycles"), ("energy_pj", "energy pJ"),
               ("best", "best")], inline=20)
    if not doc.plots_ok():
        return
    keys = list(dict.fromkeys((r["model"], r["mode"], r["seed"]) for r in rows))
    if d.wants("pareto"):
        doc.heading(2, "Pareto fronts of the configurations")
        for model, mode, seed in keys[:MAX_PLOTS_PER_KIND]:
            rs = [r for r in rows if (r["model"], r["mode"], r["seed"]) == (model, mode, seed)]
            groups: dict[str, list[tuple[float, float]]] = {}
            highlight = {}
            for r in rs:
                if r["variant"] == "dense-on-tensorized-config":
                    highlight["dense on the tensorized best config"] = (float(r["cycles"]), float(r["energy_pj"]) / 1e6)
                    continue
                groups.setdefault(r["variant"], []).append((float(r["cycles"]), float(r["energy_pj"]) / 1e6))
                if r.get("best"):
                    highlight[f"best {r['variant']}"] = (float(r["cycles"]), float(r["energy_pj"]) / 1e6)
            files = P.scatter_pareto(doc.stem(f"pareto-{model}-{mode}-seed{seed}"), groups, xlabel="latency (cycles)",
                                     ylabel="energy (uJ)", title=f"{model} ({mode})", highlight=highlight)
            doc.figure(files, f"{model}, {mode}: every configuration evaluated, tensorized and dense; stars: the best")
    if d.wants("breakdown") and layers:
        doc.heading(2, "Latency by layer")
        for model, mode, seed in keys[:MAX_PLOTS_PER_KIND]:
            groups2: dict[str, dict[str, float]] = {}
            for r in layers:
                if (r["model"], r["mode"], r["seed"]) != (model, mode, seed):
                    continue
                groups2.setdefault(r["variant"], {})[r["layer"]] = int(r["count"]) * float(r["cycles"]) / 1e6
            files = P.bars(doc.stem(f"layers-{model}-{mode}-seed{seed}"), groups2, ylabel="cycles x count (millions)",
                           title=f"{model} ({mode}): latency by layer")
            doc.figure(files, f"{model}, {mode}: cycles of each layer (times its count) on the best configurations")
    hm = d.report.get("heatmap") or {}
    names = list(grid)
    if d.wants("heatmap") and len(names) >= 1:
        x = hm.get("x") if hm.get("x") in names else names[0]
        y = hm.get("y") if hm.get("y") in names and hm.get("y") != x else next((n for n in names if n != x), None)
        metric = hm.get("metric") or "edp"
        if y is not None:
            doc.heading(2, "Heat maps over the hardware grid")
            for model, mode, seed in keys[:MAX_PLOTS_PER_KIND]:
                rs = [r for r in rows if (r["model"], r["mode"], r["seed"]) == (model, mode, seed)
                      and r["variant"] == "tensorized"]
                values: dict[tuple[Any, Any], float] = {}
                for r in rs:
                    k = (r.get(f"hw.{x}"), r.get(f"hw.{y}"))
                    m = _metric(r, metric)
                    if m is not None and (k not in values or m < values[k]):
                        values[k] = m
                if len(values) < 3:
                    doc.add("", f"> {model}, {mode}: no heat map -- the branch and bound evaluated configurations "
                                f"in only {len(values)} of the {len(grid[x]) * len(grid[y])} {x} x {y} cells (the "
                                "others were pruned or over budget); set `search.exhaustive: true` for the whole "
                                "landscape.")
                    continue
                files = P.heatmap(doc.stem(f"heatmap-{model}-{mode}-seed{seed}"), sorted(grid[x], key=_sort_key),
                                  sorted(grid[y], key=_sort_key), values, xlabel=x, ylabel=y,
                                  title=f"{model} ({mode}), tensorized: {metric}", metric=metric)
                others = [n for n in names if n not in (x, y)]
                parts = []
                if len(values) < len(grid[x]) * len(grid[y]):
                    parts.append("Blank cells: no configuration evaluated there (over the resource budget, or "
                                 "pruned by the branch and bound).")
                if others:
                    parts.append(f"Each cell: the minimum over {', '.join(others)} of the configurations evaluated.")
                doc.figure(files, f"{model}, {mode}: {metric} of the tensorized model over {x} x {y}",
                           " ".join(parts) or None)


# ---------------------------------------------------------------------------
# eenn
# ---------------------------------------------------------------------------


def _render_eenn(doc: _Doc) -> None:
    d = doc.data
    rows = d.rows
    provs = {}
    for e in d.entries:
        m = e.result.get("meta") or {}
        if m.get("statistics_provenance"):
            provs[m.get("statistics_file")] = (m.get("statistics_provenance_kind"), m["statistics_provenance"])
    doc.heading(2, "Exit statistics")
    for f, (kind, text) in provs.items():
        flag = "ASSUMED, not measured" if str(kind).lower() in ("assumption", "assumed") else str(kind)
        doc.add(f"- `{Path(str(f)).name}` (**{flag}**): {text}")
    if not provs:
        doc.add("_(no finished tasks)_")

    def prov_note(network: str) -> str | None:
        for e in d.entries:
            if any(r.get("network") == network for r in e.result.get("rows", [])):
                m = e.result.get("meta") or {}
                if m.get("statistics_provenance"):
                    return (f"Accuracies and exit rates come from exit statistics of kind "
                            f"'{m.get('statistics_provenance_kind')}': {m['statistics_provenance']}")
        return None

    keys = list(dict.fromkeys((r["network"], r["platform"], r["memory"], r["seed"]) for r in rows))
    doc.heading(2, "EDP reductions against the static (no-exit) baselines")
    red = d.table("reductions")
    doc.table("reductions", "EDP reductions", red,
              [("network", "network"), ("platform", "platform"), ("memory", "memory"), ("seed", "seed"),
               ("condition", "condition"), ("baseline_accuracy", "baseline acc."), ("accuracy", "accuracy"),
               ("edp_reduction", "EDP"), ("energy_reduction", "energy"), ("delay_reduction", "delay"),
               ("design", "design")],
              {k: (lambda v: "" if v is None else f"{100 * v:.1f} %")
               for k in ("edp_reduction", "energy_reduction", "delay_reduction")})
    doc.heading(2, "Pareto fronts")
    base = [r for r in rows if str(r.get("role", "")).startswith("baseline")]
    doc.table("baselines", "Static baselines", base,
              [("network", "network"), ("platform", "platform"), ("memory", "memory"), ("role", "role"),
               ("accuracy", "accuracy"), ("edp", "EDP pJ*cycle"), ("energy_pj", "energy pJ"),
               ("interval_cycles", "interval cycles"), ("latency_cycles", "latency cycles"),
               ("allocation", "cores (core x layers)")], {"allocation": _runs})
    doc.add("")
    pareto = [r for r in rows if r.get("role") == "pareto"]
    doc.table("pareto", "Pareto designs", pareto,
              [("network", "network"), ("platform", "platform"), ("memory", "memory"), ("accuracy", "accuracy"),
               ("edp", "EDP pJ*cycle"), ("energy_pj", "energy pJ"), ("interval_cycles", "interval"),
               ("worst_latency_cycles", "worst latency"), ("exit_overhead", "exit overhead"), ("backbone", "backbone"),
               ("exit_precision", "exit prec."), ("threshold", "threshold"), ("exits", "exits"),
               ("head_sizes", "heads"), ("allocation", "cores (core x layers)")], {"allocation": _runs},
              inline=25)
    if doc.plots_ok() and d.wants("pareto"):
        for net, plat, mem, seed in keys[:MAX_PLOTS_PER_KIND]:
            rs = [r for r in rows if (r["network"], r["platform"], r["memory"], r["seed"]) == (net, plat, mem, seed)]
            groups: dict[str, list[tuple[float, float]]] = {}
            for r in rs:
                if r["role"] == "pareto":
                    groups.setdefault(f"exits, backbone {r['backbone']}", []).append((float(r["edp"]), float(r["accuracy"])))
            highlight = {f"static {r['role'][9:]}": (float(r["edp"]), float(r["accuracy"]))
                         for r in rs if str(r["role"]).startswith("baseline")}
            files = P.scatter_pareto(doc.stem(f"pareto-{net}-{plat}-{mem}-seed{seed}"), groups,
                                     xlabel="EDP (pJ x cycles)", ylabel="expected accuracy",
                                     title=f"{net} on {plat} ({mem} memory)", highlight=highlight, logy=False,
                                     maximize_y=True)
            doc.figure(files, f"{net} on {plat}, {mem} memory: accuracy versus EDP of the Pareto designs and the "
                              "static baselines", prov_note(net))
    tl = d.table("timeline")
    if tl or any((e.result.get("meta") or {}).get("timeline_error") for e in d.entries):
        doc.heading(2, "Multi-core timelines")
        doc.add("The lowest-EDP design within one accuracy point of the best static baseline, simulated on the "
                "package for a stream of inputs (exit decisions drawn from the statistics with the study seed).", "")
        doc.table("timeline", "Simulated timelines", tl,
                  [("network", "network"), ("platform", "platform"), ("memory", "memory"), ("design", "design"),
                   ("n_inputs", "inputs"), ("schedule", "schedule"), ("makespan_cycles", "makespan cycles"),
                   ("throughput_inputs_per_cycle", "inputs/cycle"), ("energy_pj", "energy pJ"),
                   ("noc_bytes", "NoC bytes"), ("mac_utilization", "MAC util")])
        for e in d.entries:
            err = (e.result.get("meta") or {}).get("timeline_error")
            if err:
                doc.add("", f"> timeline of {e.label} not simulated: {err}")
        if doc.plots_ok() and d.wants("timeline"):
            shown = 0
            for e in d.entries:
                path = d.artifact(e, "timeline.json")
                if path is None or shown >= MAX_PLOTS_PER_KIND:
                    continue
                data = json.loads(path.read_text(encoding="utf-8"))
                s = data.get("summary", {})
                rs = e.result.get("rows", [])
                net = rs[0]["network"] if rs else e.label
                files = P.timeline(doc.stem(f"timeline-{_slug(e.label)}"), data.get("events", []),
                                   s.get("core_names", []), title=f"{e.label}\n{s.get('design', '')}")
                trace = d.artifact(e, "trace.json")
                note = prov_note(net) or ""
                if trace is not None:
                    note += f" Full trace (Chrome/Perfetto): [{trace.relative_to(d.out).as_posix()}]" \
                            f"({trace.relative_to(d.out).as_posix()})."
                doc.figure(files, f"{e.label}: {s.get('n_inputs')} inputs, {s.get('schedule')} schedule "
                                  f"(makespan {fmt(s.get('makespan_cycles'))} cycles)", note.strip() or None)
                shown += 1


# ---------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------


def update_report_settings(out_dir: Path | str, cfg: Any) -> None:
    """Take ``report:``, ``description:`` and the title of study ``cfg`` into the folder's ``config.json``.

    Report settings are not part of the configuration hash, so a study file whose other
    settings match the folder's may change what the report shows.

    Raises
    ------
    SpecError
        When ``cfg`` is another configuration than the folder's (naming what changed).
    """
    from tnx_timeloop.study.runner import describe_config_change

    out = Path(out_dir)
    manifest = _read_json(out / store.MANIFEST, "the study manifest")
    saved = _read_json(out / store.CONFIG, "the resolved configuration")
    if manifest.get("config_hash") != cfg.config_hash:
        changed = describe_config_change(saved.get("portable", {}), cfg.to_dict(portable=True))
        raise SpecError(Where(cfg.source), "this study file is another configuration than the one the folder ran"
                                           + (f" (changed: {', '.join(changed[:8])})" if changed else "")
                                           + "; only report:, description: may differ")
    resolved = dict(saved.get("resolved", {}))
    resolved["report"] = cfg.report.to_dict()
    resolved["description"] = cfg.description
    saved["resolved"] = resolved
    store.atomic_write_text(out / store.CONFIG, json.dumps(saved, indent=2, default=str))

_RENDERERS: dict[str, Callable[[_Doc], None]] = {
    "sweep": _render_sweep,
    "native-vs-timeloop": _render_sweep,
    "compare": _render_compare,
    "tnn-dse": _render_tnn,
    "eenn": _render_eenn,
}


def render_report(out_dir: Path | str) -> list[Path]:
    """(Re-)render ``tables/``, ``plots/`` and ``report.md`` of a results folder from its saved results.

    Nothing is evaluated. Old tables and plots are removed first, so the folder shows
    exactly what this rendering produced.

    Returns
    -------
    list of Path
        The files written (report.md last).

    Raises
    ------
    SpecError
        When the folder holds no study or an unknown kind.
    """
    data = load_report_data(out_dir)
    if data.kind not in _RENDERERS:
        raise SpecError(Where(data.out / store.CONFIG, ("kind",)),
                        f"unknown study kind {data.kind!r}; choose one of {sorted(_RENDERERS)}")
    for sub in ("tables", "plots"):
        if (data.out / sub).is_dir():
            shutil.rmtree(data.out / sub)
    doc = _Doc(data)
    title = data.report.get("title") or data.config.get("name") or data.manifest.get("name")
    doc.add(f"# {title}")
    if data.config.get("description"):
        doc.add("", str(data.config["description"]).strip())
    doc.add("", f"Study `{data.manifest.get('name')}` (kind `{data.kind}`): re-run with "
                f"`tnx study run {_study_file(data)} --out NEW_DIR`; re-render with `tnx study report {data.out}`.")
    _status(doc)
    _RENDERERS[data.kind](doc)
    _provenance_section(doc)
    _files_section(doc)
    text = "\n".join(doc.lines).strip() + "\n"
    text = re.sub(r"\n{3,}", "\n\n", text)
    report = store.atomic_write_text(data.out / "report.md", text)
    return [*doc.files, report]
