"""``tnx eenn``: early-exit networks -- describe, cost, simulate, profile, search, sweep, import.

Every command takes ``--json`` (one JSON object on stdout), exits 0 on success and
2 on bad input (statistics that do not match the network, rates above 1, an exit
after the last layer, a precision a core does not support, a layer that fits no
core, ...) with an error naming the file and the entry.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from tnx_timeloop.cli import emit_json, handle_errors

__all__ = ["register", "eenn"]

_NET = click.argument("network", type=click.Path(path_type=Path))
_ARCH = click.argument("arch", type=click.Path(path_type=Path))


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _progress(enabled: bool, what: str) -> Any:
    if not enabled or not sys.stderr.isatty():
        return None
    state = {"last": 0.0}

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - state["last"] > 0.5:
            state["last"] = now
            click.echo(f"\r{what} {done}/{total}", err=True, nl=done == total)

    return report


def _load(network: Path, stats_path: Path | None) -> tuple[Any, Any]:
    from tnx_timeloop.errors import SpecError, Where
    from tnx_timeloop.frontends.early_exit import load_network
    from tnx_timeloop.frontends.exit_stats import load_statistics

    net = load_network(network)
    path = stats_path or net.statistics_path()
    if path is None:
        raise SpecError(Where(network, ("eenn", "statistics")),
                        "no exit statistics: give --stats FILE or a 'statistics:' entry in the network file")
    return net, load_statistics(path)


def _evaluator(network: Path, arch: Path, stats: Path | None, *, precisions: str, exit_precisions: str | None,
               memory: str, delay: str, budget: int, seed: int, pad: bool, jobs: int | None, no_cache: bool,
               cache_dir: Path | None, quiet: bool) -> Any:
    from tnx_timeloop.cache import EvaluationCache
    from tnx_timeloop.search.eenn import EENNEvaluator, load_platform

    net, st = _load(network, stats)
    platform = load_platform(arch, memory=memory)
    cache = None if no_cache else EvaluationCache((cache_dir / "cache.sqlite") if cache_dir else None)
    return EENNEvaluator(net, st, platform, precisions=_csv(precisions), exit_precisions=_csv(exit_precisions) or None,
                         budget=budget, seed=seed, pad=pad, cache=cache, jobs=jobs, delay=delay,
                         progress=_progress(not quiet, "mapping layers"))


def _common(fn: Any) -> Any:
    options = [
        click.option("--stats", "stats", type=click.Path(path_type=Path), default=None,
                     help="Exit statistics file (default: the network file's 'statistics:')."),
        click.option("--memory", type=click.Choice(["onchip", "package"]), default="onchip", show_default=True,
                     help="onchip: parameters and activations stay in each core's on-chip memory; package: every layer "
                          "reads and writes the shared memory."),
        click.option("--delay", type=click.Choice(["interval", "latency"]), default="interval", show_default=True,
                     help="Delay of the EDP: cycles per input in a long stream (interval) or single-input latency."),
        click.option("--budget", type=int, default=5000, show_default=True, help="Mapper evaluations per layer."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the mapper (and of the search)."),
        click.option("--pad", is_flag=True, help="Let the mapper pad badly-factoring dimensions."),
        click.option("--jobs", type=int, default=None, help="Mapping processes (default: all CPUs)."),
        click.option("--no-cache", is_flag=True, help="Do not read or write the evaluation cache."),
        click.option("--cache-dir", type=click.Path(path_type=Path), default=None, help="Cache folder."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object."),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def _design_options(fn: Any) -> Any:
    """The options that describe one design (exits, heads, precisions, threshold, allocation)."""
    options = [
        click.option("--exits", "exits", default="", help="Chosen exits, comma-separated (default: none)."),
        click.option("--heads", default="",
                     help="Head size per exit, comma-separated, or one for all (default: each exit's first)."),
        click.option("--backbone", default="int8", show_default=True, help="Backbone precision (fp32, int8, int4, ...)."),
        click.option("--exit-precision", default=None, help="Exit-head precision (default: the backbone's)."),
        click.option("--threshold", default=None,
                     help="Confidence threshold: a value from the statistics (default: the highest)."),
        click.option("--allocation", default="balanced", show_default=True,
                     help="balanced (contiguous split balancing the expected work), single (all on core 0), "
                          "or a core index per layer."),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


@click.group("eenn")
def eenn() -> None:
    """Early-exit networks: lowering, quantization, expected cost, multi-objective search."""


# ---------------------------------------------------------------------------
# describe
# ---------------------------------------------------------------------------


@eenn.command("describe")
@_NET
@click.option("--stats", "stats", type=click.Path(path_type=Path), default=None, help="Exit statistics to check and summarise.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def describe(network: Path, stats: Path | None, as_json: bool) -> None:
    """Layers with shapes, operations and lowered problems; candidate exits; statistics and their provenance."""
    from tnx_timeloop.frontends.early_exit import load_network, lower_layer
    from tnx_timeloop.frontends.exit_stats import FINAL_EXIT, check_statistics, load_statistics

    net = load_network(network)
    st = None
    path = stats or net.statistics_path()
    if path is not None:
        st = load_statistics(path)
        check_statistics(st, net.exit_names, network=net.name, heads={e.name: e.sizes for e in net.exits})
    total = net.macs
    layers = []
    cum = 0
    for layer in net.layers:
        cum += layer.macs
        prob = lower_layer(layer)
        layers.append({"name": layer.name, "type": layer.kind, "inputs": list(layer.inputs),
                       "in": layer.in_shape.as_list(), "out": layer.out_shape.as_list(), "kernel": list(layer.kernel),
                       "stride": list(layer.stride), "macs": layer.macs, "weights": layer.weight_words,
                       "problem": prob.name, "bounds": dict(zip(prob.dimensions, prob.bounds, strict=True)),
                       "cumulative_macs_fraction": cum / total})
    exits = []
    for e in net.exits:
        before = sum(lay.macs for lay in net.layers[: e.position + 1])
        exits.append({"name": e.name, "after": e.after, "position": e.position, "backbone_macs_fraction": before / total,
                      "heads": [{"size": h.size, "macs": h.macs, "weights": h.weight_words,
                                 "layers": [lay.name for lay in h.layers]} for h in e.heads]})
    out: dict[str, Any] = {"name": net.name, "file": str(network), "input": net.input_shape.as_list(),
                           "classes": net.classes, "macs": total, "weights": net.weight_words, "layers": layers,
                           "exits": exits}
    if st is not None:
        out["statistics"] = {
            "file": str(path), "criterion": st.criterion, "thresholds": list(st.thresholds),
            "provenance": {"kind": st.provenance.kind, "text": st.provenance.text, "model": st.provenance.model,
                           "data": st.provenance.data, "citation": st.provenance.citation},
            "curves": len(st.curves),
            "final_accuracy": {c.backbone: c.accuracy for c in st.curves if c.exit == FINAL_EXIT},
        }
    if as_json:
        emit_json(out)
        return
    click.echo(f"{net.name}: input {net.input_shape}, {net.classes} classes, {len(net.layers)} layers, "
               f"{total / 1e6:.2f} M operations, {net.weight_words / 1e6:.3f} M weights")
    click.echo(f"{'layer':<16} {'type':<7} {'in':>11} {'out':>11} {'k/s':>5} {'MACs':>10} {'weights':>9} {'cum %':>6}  problem")
    for lay in layers:
        ks = f"{lay['kernel'][0]}/{lay['stride'][0]}"
        b = lay["bounds"]
        bounds = " ".join(f"{d}={v}" for d, v in b.items() if v != 1)
        click.echo(f"{lay['name']:<16} {lay['type']:<7} {'x'.join(map(str, lay['in'])):>11} {'x'.join(map(str, lay['out'])):>11} "
                   f"{ks:>5} {lay['macs']:>10} {lay['weights']:>9} {100 * lay['cumulative_macs_fraction']:6.1f}  "
                   f"{lay['problem']} {bounds}")
    click.echo("")
    click.echo(f"candidate exits ({len(exits)}):")
    for e in exits:
        heads = ", ".join(f"{h['size']} {h['macs'] / 1e3:.0f} kMAC/{h['weights']} w" for h in e["heads"])
        click.echo(f"  {e['name']:<14} after {e['after']:<14} ({100 * e['backbone_macs_fraction']:5.1f} % of the backbone)  {heads}")
    if st is not None:
        s = out["statistics"]
        click.echo("")
        click.echo(f"statistics {path}: {s['curves']} curves, criterion {s['criterion']}, thresholds {s['thresholds']}")
        click.echo(f"  final accuracy: {', '.join(f'{k} {v:.4f}' for k, v in s['final_accuracy'].items())}")
        click.echo(f"  provenance: {st.provenance.summary()}")
        click.echo(f"    {st.provenance.text}")


# ---------------------------------------------------------------------------
# cost
# ---------------------------------------------------------------------------


def _design(ev: Any, exits: str, heads: str, threshold: str | None, allocation: str) -> Any:
    """The design the --exits/--heads/--threshold/--allocation options describe, checked against ``ev``."""
    from tnx_timeloop.errors import SpecError, Where
    from tnx_timeloop.search.eenn import Design

    net = ev.network
    chosen = _csv(exits)
    for name in chosen:
        if name not in net.exit_names:
            raise SpecError(Where(None, ("--exits",)), f"unknown exit {name!r}; candidates: {list(net.exit_names)}")
    chosen = sorted(chosen, key=lambda n: net.exit(n).position)
    sizes = _csv(heads)
    if len(sizes) == 1:
        sizes = sizes * len(chosen)
    if not sizes:
        sizes = [net.exit(n).sizes[0] for n in chosen]
    if len(sizes) != len(chosen):
        raise SpecError(Where(None, ("--heads",)), f"{len(sizes)} head sizes for {len(chosen)} exits")
    th = ev.stats.thresholds
    if threshold is None:
        t_index = len(th) - 1
    else:
        matches = [i for i, t in enumerate(th) if abs(t - float(threshold)) < 1e-9]
        if not matches:
            raise SpecError(Where(ev.stats.source, ("eenn_statistics", "thresholds")),
                            f"threshold {threshold} is not in the statistics; choose one of {list(th)}")
        t_index = matches[0]
    n_layers = len(net.layers)
    base = Design(tuple(chosen), tuple(sizes), ev.precisions[0], ev.exit_precisions[0], t_index, (0,) * n_layers)
    if allocation == "single":
        design = base
    elif allocation == "balanced":
        design = ev.balanced_allocation(base)
    else:
        cores = [int(x) for x in _csv(allocation)]
        if len(cores) != n_layers:
            raise SpecError(Where(None, ("--allocation",)), f"{len(cores)} core indices for {n_layers} layers")
        design = Design(base.exits, base.head_sizes, base.backbone, base.exit_precision, t_index, tuple(cores))
    return design


@eenn.command("cost")
@_NET
@_ARCH
@_design_options
@_common
@handle_errors
def cost(network: Path, arch: Path, exits: str, heads: str, backbone: str, exit_precision: str | None, threshold: str | None,
         allocation: str, stats: Path | None, memory: str, delay: str, budget: int, seed: int, pad: bool, jobs: int | None,
         no_cache: bool, cache_dir: Path | None, as_json: bool) -> None:
    """Expected (dynamic) and worst-case cost of one early-exit configuration on ARCH."""

    e_prec = exit_precision or backbone
    precs = ",".join(dict.fromkeys([backbone]))
    ev = _evaluator(network, arch, stats, precisions=precs, exit_precisions=e_prec, memory=memory, delay=delay,
                    budget=budget, seed=seed, pad=pad, jobs=jobs, no_cache=no_cache, cache_dir=cache_dir, quiet=as_json)
    design = _design(ev, exits, heads, threshold, allocation)
    net, th, t_index = ev.network, ev.stats.thresholds, design.threshold_index
    c = ev.evaluate(design)
    st = ev.stats
    out = {"network": net.name, "platform": ev.platform.name, "memory": memory, "threshold": th[t_index],
           "design": {"exits": list(design.exits), "head_sizes": list(design.head_sizes), "backbone": design.backbone,
                      "exit_precision": design.exit_precision, "allocation": list(design.allocation)},
           "statistics_provenance": f"{st.provenance.summary()} -- {st.provenance.text}", **c.to_dict()}
    if as_json:
        emit_json(out)
        return
    click.echo(f"{net.name} on {ev.platform.name} ({memory}), backbone {design.backbone}, exits {design.exit_precision}, "
               f"threshold {th[t_index]:g} ({st.criterion})")
    click.echo(f"{'exit':<16} {'leaves %':>8} {'reaches %':>9} {'energy uJ':>10} {'latency cyc':>11}")
    for pe in c.per_exit:
        click.echo(f"{pe['exit']:<16} {100 * pe['fraction']:8.2f} {100 * pe['reach']:9.2f} {pe['energy_pj'] / 1e6:10.3f} "
                   f"{pe['latency_cycles']:11.0f}")
    click.echo("")
    click.echo(f"expected:   accuracy {c.accuracy:.4f}, energy {c.energy_pj / 1e6:.3f} uJ, latency {c.latency_cycles:.0f} cycles, "
               f"interval {c.interval_cycles:.0f} cycles, EDP {c.edp:.4g} pJ*cycles ({delay})")
    click.echo(f"worst case: energy {c.worst_energy_pj / 1e6:.3f} uJ, latency {c.worst_latency_cycles:.0f} cycles, "
               f"interval {c.worst_interval_cycles:.0f} cycles, EDP {c.worst_edp:.4g}")
    click.echo(f"exit overhead {100 * c.exit_overhead:.2f} % of the energy; NoC {c.noc_energy_pj / 1e6:.3f} uJ; "
               f"input load {c.memory_energy_pj / 1e6:.3f} uJ")
    used = sorted(set(design.allocation))
    for core in used:
        cap = c.capacity_bits[core]
        cap_s = "unbounded" if cap == float("inf") else f"{cap / 8 / 2**20:.2f} MiB"
        click.echo(f"  core {core}: {design.allocation.count(core)} layers, busy {c.core_busy_cycles[core]:.0f} cycles/input, "
                   f"memory {c.memory_bits[core] / 8 / 2**20:.3f} MiB of {cap_s}")
    click.echo(f"statistics: {st.provenance.summary()}")


# ---------------------------------------------------------------------------
# simulate
# ---------------------------------------------------------------------------


def _interval(value: str) -> int | str:
    if value == "expected":
        return value
    try:
        cycles = int(value)
    except ValueError:
        cycles = -1
    if cycles < 0:
        raise click.BadParameter(f"give cycles >= 0 or 'expected', got {value!r}", param_hint="--interval")
    return cycles


@eenn.command("simulate")
@_NET
@_ARCH
@_design_options
@click.option("--inputs", "n_inputs", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Inputs in the simulated stream.")
@click.option("--sim-seed", type=int, default=0, show_default=True, help="Seed of the exit decisions.")
@click.option("--interval", "interval", default="0", show_default=True,
              help="Cycles between input arrivals: 0 (all waiting: throughput and energy), N, or 'expected' "
                   "(the design's expected interval: latency under a sustainable load).")
@click.option("--trace", "trace_dir", type=click.Path(path_type=Path), default=None,
              help="Write the Chrome/Perfetto trace and the Gantt chart (PNG) into this folder.")
@_common
@handle_errors
def simulate(network: Path, arch: Path, exits: str, heads: str, backbone: str, exit_precision: str | None,
             threshold: str | None, allocation: str, n_inputs: int, sim_seed: int, interval: str, trace_dir: Path | None,
             stats: Path | None, memory: str, delay: str, budget: int, seed: int, pad: bool, jobs: int | None,
             no_cache: bool, cache_dir: Path | None, as_json: bool) -> None:
    """Run a stream of inputs through one early-exit configuration in the multi-core simulator.

    Each input leaves at an exit drawn (seeded) from the statistics; layers and heads cost
    what the mapper found on their core; activations cross the NoC with contention. Prints
    the simulated energy per input and cycles per input beside the expected-cost model's,
    the exit counts, the latency distribution and per-core utilization.
    """
    from tnx_timeloop.search.eenn_dynamic import simulate_stream, write_timeline

    arrivals = _interval(interval)
    e_prec = exit_precision or backbone
    ev = _evaluator(network, arch, stats, precisions=backbone, exit_precisions=e_prec, memory=memory, delay=delay,
                    budget=budget, seed=seed, pad=pad, jobs=jobs, no_cache=no_cache, cache_dir=cache_dir, quiet=as_json)
    design = _design(ev, exits, heads, threshold, allocation)
    t0 = time.perf_counter()
    res = simulate_stream(ev, design, n_inputs=n_inputs, seed=sim_seed, arrival_interval_cycles=arrivals)
    seconds = time.perf_counter() - t0
    files = write_timeline(res, trace_dir) if trace_dir is not None else {}
    st = ev.stats
    out = {"network": ev.network.name, "platform": ev.platform.name, "memory": memory,
           "threshold": st.thresholds[design.threshold_index],
           "design": {"exits": list(design.exits), "head_sizes": list(design.head_sizes), "backbone": design.backbone,
                      "exit_precision": design.exit_precision, "allocation": list(design.allocation)},
           "statistics_provenance": f"{st.provenance.summary()} -- {st.provenance.text}",
           "simulation": res.to_dict(), "files": files, "seconds": seconds}
    if as_json:
        emit_json(out)
        return
    d = res.to_dict()
    exp = d["expected"]
    click.echo(f"{ev.network.name} on {ev.platform.name}: {design.describe()}, {n_inputs} inputs "
               f"(arrivals every {res.arrival_interval_cycles} cycles), simulated in {seconds:.2f} s")
    click.echo(f"{'':<22} {'simulated':>14} {'expected':>14}")
    click.echo(f"{'energy / input (uJ)':<22} {res.energy_per_input_pj / 1e6:14.3f} {exp['energy_pj'] / 1e6:14.3f}")
    click.echo(f"{'cycles / input':<22} {res.interval_cycles:14.0f} {exp['interval_cycles']:14.0f}")
    lat = d["latency_cycles"]
    click.echo(f"{'latency mean (cycles)':<22} {lat['mean']:14.0f} {exp['latency_cycles']:14.0f}")
    click.echo(f"latency p50 {lat['p50']:.0f}, p99 {lat['p99']:.0f}, max {lat['max']:.0f} cycles; makespan "
               f"{res.makespan_cycles} cycles")
    fractions = dict(zip([*design.exits, "final"], exp["exit_fractions"], strict=False))
    click.echo("exits: " + ", ".join(f"{k} {v} ({100 * v / n_inputs:.1f} %, expected {100 * fractions.get(k, 0.0):.1f} %)"
                                     for k, v in res.exit_counts.items()))
    click.echo("utilization: " + ", ".join(f"core {i} {100 * u:.1f} %" for i, u in enumerate(res.utilization)))
    for kind, path in files.items():
        click.echo(f"{kind}: {path}")
    click.echo(f"statistics: {st.provenance.summary()}")


# ---------------------------------------------------------------------------
# search
# ---------------------------------------------------------------------------


@eenn.command("search")
@_NET
@_ARCH
@click.option("--precisions", default="fp32,int8,int4", show_default=True, help="Backbone precisions to search.")
@click.option("--exit-precisions", default=None, help="Exit-head precisions (default: --precisions).")
@click.option("--population", type=int, default=128, show_default=True, help="NSGA-II population.")
@click.option("--generations", type=int, default=150, show_default=True, help="NSGA-II generations.")
@click.option("--min-accuracy", type=float, default=None, help="Constraint: expected accuracy >= this.")
@click.option("--latency-bound", type=float, default=None, help="Constraint: worst-case single-input latency <= this (cycles).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Folder for result.json, pareto.csv and pareto.png.")
@click.option("--limit", type=int, default=25, show_default=True, help="Pareto rows printed (all are in the files).")
@_common
@handle_errors
def search(network: Path, arch: Path, precisions: str, exit_precisions: str | None, population: int, generations: int,
           min_accuracy: float | None, latency_bound: float | None, out_dir: Path | None, limit: int, stats: Path | None,
           memory: str, delay: str, budget: int, seed: int, pad: bool, jobs: int | None, no_cache: bool,
           cache_dir: Path | None, as_json: bool) -> None:
    """Constrained multi-objective search (NSGA-II): exits, head sizes, precisions, threshold, layer-to-core allocation.

    Objectives: accuracy (from the statistics), EDP and exit overhead; constraints:
    minimum accuracy, memory per core, worst-case latency. Prints the Pareto front,
    the static baselines (no exits) and the EDP reductions against them.
    """
    from tnx_timeloop.search.eenn_search import SearchSettings, format_pareto_table, plot_pareto, search_eenn

    start = time.monotonic()
    ev = _evaluator(network, arch, stats, precisions=precisions, exit_precisions=exit_precisions, memory=memory,
                    delay=delay, budget=budget, seed=seed, pad=pad, jobs=jobs, no_cache=no_cache, cache_dir=cache_dir,
                    quiet=as_json)
    mapped = time.monotonic() - start
    settings = SearchSettings(population=population, generations=generations, seed=seed, min_accuracy=min_accuracy,
                              latency_bound_cycles=latency_bound)
    result = search_eenn(ev, settings, progress=_progress(not as_json, "generation"))
    wall = time.monotonic() - start
    data = result.to_dict()
    data["mapping_seconds"] = round(mapped, 3)
    data["wall_seconds"] = round(wall, 3)
    data["memory"] = memory
    data["mapper"] = {"budget": budget, "seed": seed, "pad": pad, "energy": "tables"}
    files: dict[str, str] = {}
    if out_dir is not None:
        import json

        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "result.json").write_text(json.dumps(data, indent=2, default=float))
        files["result"] = str(out_dir / "result.json")
        lines = ["accuracy,edp_pj_cycles,energy_pj,interval_cycles,latency_cycles,worst_latency_cycles,exit_overhead,"
                 "backbone,exit_precision,threshold,exits,head_sizes,allocation"]
        for pt in result.pareto:
            d, c = pt.design, pt.cost
            lines.append(f"{c.accuracy:.6f},{c.edp:.6g},{c.energy_pj:.6g},{c.interval_cycles:.1f},{c.latency_cycles:.1f},"
                         f"{c.worst_latency_cycles:.1f},{c.exit_overhead:.6f},{d.backbone},{d.exit_precision},"
                         f"{result.thresholds[d.threshold_index]:g},{' '.join(d.exits)},{' '.join(d.head_sizes)},"
                         f"{' '.join(map(str, d.allocation))}")
        (out_dir / "pareto.csv").write_text("\n".join(lines) + "\n")
        files["pareto_csv"] = str(out_dir / "pareto.csv")
        files["plot"] = str(plot_pareto(result, out_dir / "pareto.png"))
    data["files"] = files
    if as_json:
        emit_json(data)
        return
    click.echo(format_pareto_table(result, limit=limit))
    click.echo("")
    click.echo(f"mapping {mapped:.1f} s ({memory} memory, budget {budget}, seed {seed}), search {result.seconds:.1f} s, "
               f"wall {wall:.1f} s")
    for k, v in files.items():
        click.echo(f"{k}: {v}")


# ---------------------------------------------------------------------------
# sweep
# ---------------------------------------------------------------------------


@eenn.command("sweep")
@_NET
@_ARCH
@click.option("--layer", required=True, help="The layer whose channel count is moved.")
@click.option("--range", "span", type=int, default=16, show_default=True, help="Move the channels by -RANGE..+RANGE.")
@click.option("--step", type=int, default=1, show_default=True, help="Step of the move.")
@click.option("--precision", default="int8", show_default=True, help="Precision of the layer.")
@click.option("--with-consumers", is_flag=True, help="Also re-map the conv/FC layers that read its output.")
@click.option("--plot", "plot_path", type=click.Path(path_type=Path), default=None, help="Write a PNG plot here.")
@click.option("--memory", type=click.Choice(["onchip", "package"]), default="onchip", show_default=True,
              help="Core memory mode (see tnx eenn search --help).")
@click.option("--budget", type=int, default=5000, show_default=True, help="Mapper evaluations per point.")
@click.option("--seed", type=int, default=0, show_default=True, help="Mapper seed.")
@click.option("--pad", is_flag=True, help="Let the mapper pad badly-factoring dimensions.")
@click.option("--jobs", type=int, default=None, help="Mapping processes (default: all CPUs).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the evaluation cache.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None, help="Cache folder.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def sweep(network: Path, arch: Path, layer: str, span: int, step: int, precision: str, with_consumers: bool,
          plot_path: Path | None, memory: str, budget: int, seed: int, pad: bool, jobs: int | None, no_cache: bool,
          cache_dir: Path | None, as_json: bool) -> None:
    """EDP of a layer as its channel count moves in small steps around the nominal value (dimension alignment)."""
    from tnx_timeloop.cache import EvaluationCache
    from tnx_timeloop.errors import SpecError, Where
    from tnx_timeloop.frontends.early_exit import load_network
    from tnx_timeloop.search.eenn import load_platform
    from tnx_timeloop.search.eenn_sweep import format_sweep_table, plot_sweep, sweep_channels

    if step < 1 or span < 0:
        raise SpecError(Where(None, ("--step",)), "--step must be >= 1 and --range >= 0")
    net = load_network(network)
    platform = load_platform(arch, memory=memory)
    cache = None if no_cache else EvaluationCache((cache_dir / "cache.sqlite") if cache_dir else None)
    result = sweep_channels(net, platform, layer, deltas=range(-span, span + 1, step), precision=precision,
                            with_consumers=with_consumers, budget=budget, seed=seed, pad=pad, cache=cache, jobs=jobs,
                            progress=_progress(not as_json, "mapping"))
    data = result.to_dict()
    if plot_path is not None:
        data["plot"] = str(plot_sweep(result, plot_path))
    if as_json:
        emit_json(data)
        return
    click.echo(format_sweep_table(result))
    if plot_path is not None:
        click.echo(f"plot: {plot_path}")


# ---------------------------------------------------------------------------
# profile and import (optional extras)
# ---------------------------------------------------------------------------


def _load_object(spec: str, what: str) -> Any:
    """``path/to/file.py:name`` or ``package.module:name``."""
    import importlib
    import importlib.util

    from tnx_timeloop.errors import SpecError, Where

    if ":" not in spec:
        raise SpecError(Where(None, (what,)), f"expected MODULE:NAME or FILE.py:NAME, got {spec!r}")
    mod_name, attr = spec.rsplit(":", 1)
    try:
        if mod_name.endswith(".py"):
            path = Path(mod_name)
            if not path.exists():
                raise SpecError(Where(path), "file not found")
            module_spec = importlib.util.spec_from_file_location(f"_tnx_user_{path.stem}", path)
            if module_spec is None or module_spec.loader is None:
                raise SpecError(Where(path), "cannot load this file as a Python module")
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(mod_name)
    except ImportError as err:
        raise SpecError(Where(None, (what,)), f"cannot import {mod_name!r}: {err}") from err
    if not hasattr(module, attr):
        raise SpecError(Where(None, (what,)), f"{mod_name!r} has no {attr!r}")
    return getattr(module, attr)


def _need_torch() -> None:
    from tnx_timeloop.errors import SpecError, Where

    try:
        import torch  # noqa: F401
    except ImportError as err:
        raise SpecError(Where(None, ("torch",)), "this command needs the optional extra torch: pip install torch") from err


@eenn.command("profile")
@click.argument("model")
@click.option("--data", "data", required=True, help="MODULE:NAME or FILE.py:NAME of a function returning a loader of (inputs, labels).")
@click.option("--network", "network_name", required=True, help="Name of the network description the statistics are for.")
@click.option("--exit-names", required=True, help="Names of the early exits, in output order, comma-separated.")
@click.option("--thresholds", default="0.5,0.6,0.7,0.8,0.85,0.9,0.95,0.99", show_default=True, help="Increasing thresholds.")
@click.option("--criterion", type=click.Choice(["confidence", "entropy"]), default="confidence", show_default=True,
              help="confidence: max softmax >= t exits; entropy: normalised entropy <= t exits.")
@click.option("--precisions", default="fp32", show_default=True,
              help="BACKBONE[/EXIT] pairs to measure with fake quantization, e.g. fp32,int8,int8/int4,int4.")
@click.option("--head", default="*", show_default=True, help="Head-size name to record the curves under.")
@click.option("--model-name", required=True, help="Provenance: the model (architecture, training) in words.")
@click.option("--data-name", required=True, help="Provenance: the data set and split in words.")
@click.option("--note", default="", help="Provenance: anything else to record.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True, help="Statistics file to write.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def profile(model: str, data: str, network_name: str, exit_names: str, thresholds: str, criterion: str, precisions: str,
            head: str, model_name: str, data_name: str, note: str, out_path: Path, as_json: bool) -> None:
    """Measure exit statistics of a PyTorch early-exit MODEL (MODULE:NAME or FILE.py:NAME returning the model).

    The model's forward returns the logits of every exit, final last. Needs the
    optional extra torch.
    """
    _need_torch()
    from tnx_timeloop.frontends.eenn_profile import profile_exits
    from tnx_timeloop.frontends.exit_stats import Provenance, statistics_to_dict, write_statistics

    factory = _load_object(model, "model")
    loader_factory = _load_object(data, "data")
    mdl = factory() if callable(factory) and not hasattr(factory, "forward") else factory
    pairs = []
    for item in _csv(precisions):
        b, _, e = item.partition("/")
        pairs.append((b, e or b))
    text = (f"Measured by tnx eenn profile ({criterion} criterion, post-training fake quantization for "
            f"{', '.join(f'{b}/{e}' for b, e in pairs)}): model {model}, data {data}." + (f" {note}" if note else ""))
    prov = Provenance("measured", text, model=model_name, data=data_name)
    st = profile_exits(mdl, loader_factory, network=network_name, exit_names=_csv(exit_names),
                       thresholds=[float(t) for t in _csv(thresholds)], provenance=prov, criterion=criterion,
                       precisions=pairs, head=head)
    write_statistics(st, out_path, header=f"{network_name}: exit statistics MEASURED by tnx eenn profile\n{text}")
    if as_json:
        emit_json({"file": str(out_path), **statistics_to_dict(st)})
        return
    click.echo(f"wrote {out_path}: {len(st.curves)} curves")
    for c in st.curves:
        click.echo(f"  {c.exit:<10} backbone {c.backbone:<5} exit {c.exit_precision:<5} accuracy {c.accuracy:.4f}  "
                   f"rates {' '.join(f'{r:.3f}' for r in c.rates)}")


@eenn.command("import")
@click.argument("source")
@click.option("--name", required=True, help="Network name.")
@click.option("--input-shape", default=None, help="C,H,W of one input (required for PyTorch; ONNX reads it from the graph).")
@click.option("--exit-names", default=None, help="Names of the exits (extra outputs), comma-separated.")
@click.option("--statistics", default=None, help="Statistics file to record in the description.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True, help="Network file to write.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def import_command(source: str, name: str, input_shape: str | None, exit_names: str | None, statistics: str | None,
                   out_path: Path, as_json: bool) -> None:
    """Import a model into a network description: SOURCE is FILE.onnx, or MODULE:NAME / FILE.py:NAME of a PyTorch model."""
    from tnx_timeloop.errors import SpecError, Where
    from tnx_timeloop.frontends.early_exit import network_to_dict, write_network

    shape = [int(x) for x in _csv(input_shape)] if input_shape else None
    names = _csv(exit_names) if exit_names else None
    if source.lower().endswith(".onnx"):
        from tnx_timeloop.frontends.onnx_import import import_onnx

        net = import_onnx(source, name=name, input_shape=shape, exit_names=names)
        if statistics:
            from dataclasses import replace

            net = replace(net, statistics=statistics)
    else:
        _need_torch()
        from tnx_timeloop.frontends.torch_import import import_torch_module

        if shape is None:
            raise SpecError(Where(None, ("--input-shape",)), "give --input-shape C,H,W for a PyTorch model")
        factory = _load_object(source, "model")
        mdl = factory() if callable(factory) and not hasattr(factory, "forward") else factory
        net = import_torch_module(mdl, shape, name=name, exit_names=names, statistics=statistics)
    write_network(net, out_path, header=f"{name}: imported from {source} by tnx eenn import")
    if as_json:
        emit_json({"file": str(out_path), **network_to_dict(net)})
        return
    click.echo(f"wrote {out_path}: {len(net.layers)} layers, {len(net.exits)} exits, {net.macs / 1e6:.3f} M operations")


def register(cli: click.Group) -> None:
    """Add the ``eenn`` group to the ``tnx`` command."""
    cli.add_command(eenn)
