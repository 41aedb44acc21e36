"""``tnx sim``: cycle-level simulation (single core, SCALE-Sim arrays, multi-core schedules)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tnx_timeloop.cli import emit_json, handle_errors
from tnx_timeloop.cli.model_cmd import parse_sets

__all__ = ["sim", "register"]


@click.group()
def sim() -> None:
    """Cycle-level simulation: one mapping, SCALE-Sim arrays, multi-core schedules."""


# ---------------------------------------------------------------------------------------------
# tnx sim single
# ---------------------------------------------------------------------------------------------


@sim.command("single")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--energy", "energy_source", default="auto", show_default=True, help="Energy source (see tnx model --help).")
@click.option("--dram-latency", type=int, default=None, help="Latency of DRAM transfers, cycles (default: the level's latency_cycles, else 0).")
@click.option("--no-extrapolate", is_flag=True, help="Walk every step (slow on large layers; same answer).")
@click.option("--no-systolic", is_flag=True, help="Ignore a compute level's dataflow attribute.")
@click.option("--trace", "trace_path", type=click.Path(path_type=Path), default=None,
              help="Write the first --trace-steps steps as Chrome/Perfetto trace JSON.")
@click.option("--trace-steps", type=int, default=200, show_default=True, help="Steps recorded for --trace.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Template variable for Jinja specs.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def single(files: tuple[Path, ...], energy_source: str, dram_latency: int | None, no_extrapolate: bool,
           no_systolic: bool, trace_path: Path | None, trace_steps: int, sets: tuple[str, ...], as_json: bool) -> None:
    """Simulate one mapping tile by tile: FILES as for tnx model (architecture, problem, mapping).

    Prints the simulated cycles next to the analytical model's, the initial fill and final
    write-back, stall cycles by cause (level, data-space) and each level's busy fraction. The
    access counts are the model's.
    """
    from tnx_timeloop import api
    from tnx_timeloop.sim.single import SimOptions, chrome_trace_single, simulate_single

    spec = api.load_spec(files, variables=parse_sets(sets))
    spec.require("arch", "problem", "mapping")
    assert spec.arch is not None and spec.problem is not None and spec.mapping is not None
    options = SimOptions(dram_latency_cycles=dram_latency, extrapolate=not no_extrapolate,
                         trace_steps=trace_steps if trace_path else 0, systolic=not no_systolic)
    result = simulate_single(spec.arch, spec.problem, spec.mapping, energy=api.energy_for(spec, energy_source),
                             options=options)
    if trace_path is not None:
        trace_path.write_text(json.dumps(chrome_trace_single(result)))
    if as_json:
        d = result.to_dict()
        if trace_path is not None:
            d["trace_file"] = str(trace_path)
        emit_json(d)
        return
    click.echo(_format_single(result))
    if trace_path is not None:
        click.echo(f"trace: {trace_path}")


def _format_single(r: Any) -> str:
    lines = [
        f"cycles {r.cycles:,} (analytical model {r.analytical_cycles:,}; x{r.cycles / max(1, r.analytical_cycles):.3f})",
        f"  initial fill {r.prologue_cycles:,} + blocks {r.window_cycles:,} + final write-back {r.epilogue_cycles:,}",
        f"  blocks = compute {r.compute_cycles:,} + systolic fill/drain {r.systolic_cycles:,} + stalls {r.stall_cycles:,}",
        f"  steps {r.steps:,} (simulated {r.simulated_steps:,}{'' if r.exact else ', extrapolation forced'})",
    ]
    if r.systolic is not None:
        s = r.systolic
        lines.append(f"  systolic {s.dataflow} {s.rows}x{s.cols}, stationary {s.stationary}: {r.folds:,} folds "
                     f"x {s.overhead_cycles} cycles")
    if r.stalls:
        lines.append("stalls (level, data-space, kind):")
        for (lv, ds, kind), v in sorted(r.stalls.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {lv:24s} {ds:12s} {kind:11s} {v:>12,}")
    lines.append(f"{'level':24s} {'depth':>5s} {'read busy':>12s} {'write busy':>12s} {'busy':>6s}")
    for i, name in enumerate(r.level_names):
        lines.append(f"{name:24s} {r.depth[i]:5d} {int(r.read_busy_cycles[i]):12,} {int(r.write_busy_cycles[i]):12,} "
                     f"{r.busy_fraction[i]:6.1%}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# tnx sim scalesim
# ---------------------------------------------------------------------------------------------


@sim.command("scalesim")
@click.argument("case", type=click.Path(exists=True, path_type=Path))
@click.argument("topology", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--topology-format", type=click.Choice(["auto", "gemm", "conv"]), default="auto", show_default=True)
@click.option("--write-arch", type=click.Path(path_type=Path), default=None,
              help="Write the array as a systolic architecture YAML (compact form).")
@click.option("--write-problems", type=click.Path(path_type=Path), default=None,
              help="Folder for the layers as Timeloop problem YAMLs.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def scalesim(case: Path, topology: Path | None, topology_format: str, write_arch: Path | None,
             write_problems: Path | None, as_json: bool) -> None:
    """Run a SCALE-Sim case through this project's architecture route.

    CASE is a SCALE-Sim run folder (scale.cfg + topology.csv) or a config file (then give
    TOPOLOGY). The array becomes a systolic architecture, every layer a Timeloop problem, and the
    pair is simulated exactly as SCALE-Sim 3.0.0 would. When the folder holds SCALE-Sim's
    COMPUTE_REPORT.csv and DETAILED_ACCESS_REPORT.csv (one layer), its figures are shown beside.
    """
    from tnx_timeloop.errors import SpecError, Where
    from tnx_timeloop.sim import scalesim_arch as sa
    from tnx_timeloop.sim.systolic import (
        ScaleSimCase,
        load_scalesim_case,
        parse_scalesim_config,
        parse_scalesim_topology,
    )
    from tnx_timeloop.spec.problem import problem_to_dict
    from tnx_timeloop.spec.yaml_io import dump_yaml

    if case.is_dir():
        loaded = load_scalesim_case(case, topology_format=topology_format)
        folder: Path | None = case
    else:
        if topology is None:
            raise SpecError(Where(case), "a config file needs the TOPOLOGY file as the second argument")
        loaded = ScaleSimCase(case.stem, parse_scalesim_config(case), parse_scalesim_topology(topology, topology_format),
                              case.parent)
        folder = None
    arch = sa.case_architecture(loaded)
    problems = sa.case_problems(loaded)
    if write_arch is not None:
        write_arch.write_text(dump_yaml(sa.systolic_arch_to_dict(arch)))
    if write_problems is not None:
        write_problems.mkdir(parents=True, exist_ok=True)
        for layer, problem in zip(loaded.layers, problems, strict=True):
            (write_problems / f"{layer.name}.yaml").write_text(dump_yaml({"problem": problem_to_dict(problem)}))
    rows = []
    for layer, problem in zip(loaded.layers, problems, strict=True):
        res = sa.simulate_arch(arch, problem, name=layer.name)
        rows.append({
            "layer": layer.name,
            "total_cycles": res.total_cycles,
            "stall_cycles": res.stall_cycles,
            "total_cycles_incl_prefetch": res.total_cycles_incl_prefetch,
            "overall_util_pct": res.overall_util_pct,
            "folds": res.folds,
            "sram_reads": {"ifmap": res.sram_ifmap_read_words, "filter": res.sram_filter_read_words},
            "sram_ofmap_writes": res.sram_ofmap_write_words,
            "dram_reads": {"ifmap": res.dram_ifmap_read_words, "filter": res.dram_filter_read_words},
            "dram_ofmap_writes": res.dram_ofmap_write_words,
        })
    reference = _scalesim_reports(folder) if folder is not None and len(rows) == 1 else None
    if reference is not None:
        rows[0]["scalesim"] = reference
        rows[0]["matches_scalesim"] = (
            reference["total_cycles"] == rows[0]["total_cycles"]
            and reference["dram_reads"] == rows[0]["dram_reads"]
            and reference["sram_reads"] == rows[0]["sram_reads"]
            and reference["dram_ofmap_writes"] == rows[0]["dram_ofmap_writes"]
            and reference["sram_ofmap_writes"] == rows[0]["sram_ofmap_writes"]
        )
    cfg = sa.systolic_config(arch)
    summary = {"case": loaded.name, "array": {"rows": cfg.rows, "cols": cfg.cols, "dataflow": cfg.dataflow,
                                             "bandwidth_mode": cfg.bandwidth_mode}, "layers": rows}
    if as_json:
        emit_json(summary)
        return
    click.echo(f"{loaded.name}: {cfg.dataflow} {cfg.rows}x{cfg.cols}, {cfg.bandwidth_mode.upper()} bandwidth")
    click.echo(f"{'layer':32s} {'cycles':>9s} {'stalls':>8s} {'incl. prefetch':>14s} {'util %':>7s} {'DRAM reads i/f':>16s} {'DRAM writes':>11s}")
    for row in rows:
        click.echo(f"{row['layer']:32s} {row['total_cycles']:9,} {row['stall_cycles']:8,} "
                   f"{row['total_cycles_incl_prefetch']:14,} {row['overall_util_pct']:7.2f} "
                   f"{row['dram_reads']['ifmap']:>7,}/{row['dram_reads']['filter']:<8,} {row['dram_ofmap_writes']:11,}")
        if "scalesim" in row:
            ref = row["scalesim"]
            click.echo(f"{'  SCALE-Sim 3.0.0 report':32s} {ref['total_cycles']:9,} {ref['stall_cycles']:8,} "
                       f"{ref['total_cycles_incl_prefetch']:14,} {'':7s} "
                       f"{ref['dram_reads']['ifmap']:>7,}/{ref['dram_reads']['filter']:<8,} {ref['dram_ofmap_writes']:11,}"
                       f"   {'match' if row['matches_scalesim'] else 'DIFFERENT'}")


def _scalesim_reports(folder: Path) -> dict[str, Any] | None:
    """SCALE-Sim's own reports in a run folder (first layer), or None."""
    import csv

    compute, access = folder / "COMPUTE_REPORT.csv", folder / "DETAILED_ACCESS_REPORT.csv"
    if not (compute.exists() and access.exists()):
        return None

    def first_row(path: Path) -> dict[str, float]:
        with path.open(newline="") as handle:
            header, row = list(csv.reader(handle))[:2]
        return {n.strip(): float(v) for n, v in zip(header, row, strict=False) if n.strip()}

    c, a = first_row(compute), first_row(access)
    return {
        "total_cycles": int(c["Total Cycles"]),
        "stall_cycles": int(c["Stall Cycles"]),
        "total_cycles_incl_prefetch": int(c["Total Cycles (incl. prefetch)"]),
        "sram_reads": {"ifmap": int(a["SRAM IFMAP Reads"]), "filter": int(a["SRAM Filter Reads"])},
        "sram_ofmap_writes": int(a["SRAM OFMAP Writes"]),
        "dram_reads": {"ifmap": int(a["DRAM IFMAP Reads"]), "filter": int(a["DRAM Filter Reads"])},
        "dram_ofmap_writes": int(a["DRAM OFMAP Writes"]),
    }


# ---------------------------------------------------------------------------------------------
# tnx sim multi
# ---------------------------------------------------------------------------------------------


def _parse_allocation(text: str) -> dict[str, Any]:
    """``conv1=0,conv2=1+2`` -> ``{"conv1": 0, "conv2": (1, 2)}``."""
    out: dict[str, Any] = {}
    for item in filter(None, (x.strip() for x in text.split(","))):
        if "=" not in item:
            raise click.BadParameter(f"expected NODE=CORE or NODE=CORE+CORE, got {item!r}", param_hint="--allocation")
        name, cores = item.split("=", 1)
        try:
            values = tuple(int(c) for c in cores.split("+"))
        except ValueError:
            raise click.BadParameter(f"cores must be integers, got {cores!r}", param_hint="--allocation") from None
        out[name.strip()] = values[0] if len(values) == 1 else values
    return out


@sim.command("multi")
@click.argument("multicore_file", metavar="MULTICORE.yaml", type=click.Path(exists=True, path_type=Path))
@click.argument("network", type=click.Path(exists=True, path_type=Path))
@click.option("--schedule", type=click.Choice(["layer-by-layer", "pipelined"]), default="layer-by-layer", show_default=True)
@click.option("--inputs", "n_inputs", type=int, default=1, show_default=True, help="Inputs in the stream.")
@click.option("--exits", default=None, help="Per input, the node after which it leaves: 'l3,,fc' (empty = to the end).")
@click.option("--allocation", "allocation_text", default=None, help="NODE=CORE[+CORE...],... (default: see --allocate).")
@click.option("--allocate", is_flag=True, help="Search the allocation (exhaustive when small, else local search).")
@click.option("--objective", type=click.Choice(["edp", "latency", "energy", "throughput"]), default="edp", show_default=True)
@click.option("--budget", type=int, default=200, show_default=True, help="Allocations evaluated by --allocate.")
@click.option("--splits", default="1", show_default=True, help="Core-group sizes a node may be split across, e.g. 1,2,4.")
@click.option("--compare", is_flag=True, help="Also run layer-by-layer (all nodes on all cores) and report the EDP ratio.")
@click.option("--mapper-budget", type=int, default=1000, show_default=True, help="Mapper evaluations per (core type, layer).")
@click.option("--offchip-activations/--onchip-activations", default=None,
              help="Pass activations through the shared memory (default: yes for layer-by-layer).")
@click.option("--tiles", type=int, default=8, show_default=True, help="Tiles per task (transfer/compute overlap).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--trace", "trace_path", type=click.Path(path_type=Path), default=None, help="Chrome/Perfetto trace JSON.")
@click.option("--gantt", "gantt_path", type=click.Path(path_type=Path), default=None, help="Gantt chart PNG (needs matplotlib).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the evaluation cache.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def multi(multicore_file: Path, network: Path, schedule: str, n_inputs: int, exits: str | None,
          allocation_text: str | None, allocate: bool, objective: str, budget: int, splits: str, compare: bool,
          mapper_budget: int, offchip_activations: bool | None, tiles: int, seed: int, trace_path: Path | None,
          gantt_path: Path | None, no_cache: bool, as_json: bool) -> None:
    """Simulate NETWORK (a workloads/*/network.yaml or a graph file) on MULTICORE.yaml.

    Every layer is mapped onto every core type with the mapper, then the schedule is simulated
    event by event: cores, NoC links (routes, bandwidth, hop latency, contention) and the shared
    memory. Prints makespan, throughput, per-input latency, energy (compute, memory, NoC) and
    per-core utilization.
    """
    from tnx_timeloop import api
    from tnx_timeloop.sim.allocation import search_allocation
    from tnx_timeloop.sim.multicore import (
        default_allocation,
        load_workload_graph,
        node_costs,
        simulate_multicore,
    )
    from tnx_timeloop.spec.multicore import load_multicore_file

    mc = load_multicore_file(multicore_file)
    graph = load_workload_graph(network)
    try:
        split_sizes = tuple(sorted({int(x) for x in splits.split(",") if x.strip()} | {1}))
    except ValueError:
        raise click.BadParameter(f"expected sizes like 1,2,4, got {splits!r}", param_hint="--splits") from None
    exit_list = None
    if exits is not None:
        exit_list = [x.strip() or None for x in exits.split(",")]
        if len(exit_list) == 1 and n_inputs > 1:
            exit_list = exit_list * n_inputs
    cache = api.open_cache(not no_cache)
    want_splits = set(split_sizes) - {1}
    if compare or (allocation_text is None and not allocate and schedule == "layer-by-layer"):
        want_splits.add(mc.total_cores)
    costs = node_costs(mc, graph, budget=mapper_budget, seed=seed, cache=cache, splits=sorted(want_splits))
    sim_options = {"offchip_activations": offchip_activations, "tiles": tiles}
    search = None
    if allocation_text is not None:
        allocation: dict[str, Any] = _parse_allocation(allocation_text)
    elif allocate:
        search = search_allocation(mc, graph, costs=costs, schedule=schedule, n_inputs=n_inputs, exits=exit_list,
                                   objective=objective, budget=budget, seed=seed, splits=split_sizes, **sim_options)
        allocation = search.allocation
    else:
        allocation = default_allocation(mc, graph, schedule, costs)
    result = simulate_multicore(mc, graph, allocation, schedule=schedule, n_inputs=n_inputs, exits=exit_list,
                                costs=costs, seed=seed, **sim_options)
    baseline = None
    if compare:
        baseline = simulate_multicore(mc, graph, default_allocation(mc, graph, "layer-by-layer"),
                                      schedule="layer-by-layer", n_inputs=n_inputs, exits=exit_list, costs=costs,
                                      tiles=tiles)
    if trace_path is not None:
        result.to_chrome_trace(trace_path)
    if gantt_path is not None:
        result.gantt_png(gantt_path)
    d = result.to_dict()
    d["architecture"] = mc.name
    d["workload"] = graph.name
    d["nodes"] = len(graph.nodes)
    if search is not None:
        d["search"] = {"method": search.method, "optimal": search.optimal, "evaluated": search.evaluated,
                       "objective": search.objective, "seconds": search.seconds}
    if baseline is not None:
        d["layer_by_layer"] = {"makespan_cycles": baseline.makespan_cycles, "energy_pj": baseline.energy_pj["total"],
                               "edp_pj_cycles": baseline.edp}
        d["edp_ratio_vs_layer_by_layer"] = baseline.edp / result.edp
    if trace_path is not None:
        d["trace_file"] = str(trace_path)
    if gantt_path is not None:
        d["gantt_file"] = str(gantt_path)
    if as_json:
        emit_json(d)
        return
    click.echo(f"{graph.name} ({len(graph.nodes)} nodes) on {mc.name} ({mc.total_cores} cores), {schedule}, "
               f"{n_inputs} input(s)")
    if search is not None:
        click.echo(f"allocation: {search.method} search, {search.evaluated} evaluated"
                   f"{' (optimal)' if search.optimal else ''}, {objective} {search.value:.4g}")
    clock = f" ({result.makespan_cycles / mc.clock_hz * 1e3:.3f} ms)" if mc.clock_hz else ""
    click.echo(f"makespan           {result.makespan_cycles:,} cycles{clock}")
    click.echo(f"throughput         {result.throughput_inputs_per_cycle:.4g} inputs/cycle")
    lat = result.latency_cycles
    click.echo(f"latency            min {int(lat.min()):,}  mean {float(lat.mean()):,.0f}  max {int(lat.max()):,} cycles")
    e = result.energy_pj
    click.echo(f"energy             {e['total']:.4g} pJ = compute {e['compute']:.3g} + memory {e['memory']:.3g} "
               f"(on-chip {e['memory_onchip']:.3g}, off-chip {e['memory_offchip']:.3g}) + NoC {e['noc']:.3g}")
    click.echo(f"EDP                {result.edp:.4g} pJ x cycles")
    click.echo(f"traffic            DRAM read {result.dram_read_bytes:,} B, write {result.dram_write_bytes:,} B, "
               f"NoC {result.noc_bytes:,} B")
    click.echo("utilization        " + "  ".join(f"{n} {u:.1%}" for n, u in zip(result.core_names, result.utilization,
                                                                                strict=True))
               + f"  (MACs {result.mac_utilization:.1%})")
    if baseline is not None:
        click.echo(f"layer-by-layer     makespan {baseline.makespan_cycles:,}, energy {baseline.energy_pj['total']:.4g} pJ, "
                   f"EDP {baseline.edp:.4g}: EDP ratio {baseline.edp / result.edp:.2f}x (Stream reports up to 2.2x)")
    for path in (trace_path, gantt_path):
        if path is not None:
            click.echo(f"wrote {path}")


def register(cli: click.Group) -> None:
    """Add the ``sim`` group to the ``tnx`` command."""
    cli.add_command(sim)
