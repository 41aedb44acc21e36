"""``tnx tn``: tensor networks of tensorized layers -- describe, hardware-aware paths, joint search, dense comparison.

::

    tnx tn describe workloads/tensorized/formats-1024.yaml
    tnx tn paths workloads/tensorized/ttm-d6.yaml --arch tt-kernel --engine gemm --engine tt
    tnx tn paths --einsum "x[b,j] * W[i,j] -> y[b,i]" --size b=32 --size i=64 --size j=64
    tnx tn joint workloads/tensorized/ttm-resnet18-cifar10.yaml --max-pes 600 --mode training
    tnx tn compare-dense workloads/tensorized/ttm-resnet18-cifar10.yaml --max-pes 600 --mode both

Networks come from a workload file (``tensorized_model`` or ``tensor_network``, a Jinja
template whose parameters ``--set`` fills, e.g. ``--set rank=8``) or from ``--einsum``
with ``--size``. Every command takes ``--json``; bad input exits with status 2 and a
one-paragraph message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tnx_timeloop.cli import emit_json, handle_errors
from tnx_timeloop.cli.model_cmd import parse_sets

__all__ = ["register", "tn"]


# ---------------------------------------------------------------------------
# shared option handling
# ---------------------------------------------------------------------------


def _network_options(fn: Any) -> Any:
    fn = click.option("--layer", "layers", multiple=True, metavar="NAME", help="Only these layers of a model file.")(fn)
    fn = click.option("--hyper", multiple=True, metavar="INDEX", help="Batch/hyper index of --einsum (repeatable).")(fn)
    fn = click.option("--size", "sizes", multiple=True, metavar="INDEX=N", help="Index size for --einsum (repeatable).")(fn)
    fn = click.option("--einsum", default=None, help="A network as an einsum, e.g. 'x[b,j] * W[i,j] -> y[b,i]'.")(fn)
    fn = click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Parameter of the workload template (e.g. rank=8).")(fn)
    return fn


def _mapper_options(fn: Any, jobs_default: int = 1) -> Any:
    fn = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(fn)
    fn = click.option("--cache-dir", type=click.Path(path_type=Path), default=None, help="Cache folder (default $TNX_CACHE_DIR).")(fn)
    fn = click.option("--no-cache", is_flag=True, help="Do not read or write the evaluation cache.")(fn)
    fn = click.option("--jobs", type=int, default=jobs_default, show_default=True,
                      help="Worker processes (0 = every core).")(fn)
    fn = click.option("--seed", type=int, default=0, show_default=True, help="Mapper seed.")(fn)
    fn = click.option("--restarts", type=int, default=None, help="Mapper restarts per step (default 3).")(fn)
    fn = click.option("--budget", type=int, default=None, help="Mapper evaluations per restart of a step search (default 2000).")(fn)
    fn = click.option("--method", default="auto", show_default=True, help="Path search: auto, dp, dp-connected, exhaustive, mac-pruned.")(fn)
    fn = click.option("--objective", default="latency", show_default=True, help="latency, energy or edp.")(fn)
    return fn


def _load_model(network: str | None, einsum: str | None, sizes: tuple[str, ...], hyper: tuple[str, ...],
                sets: tuple[str, ...], layers: tuple[str, ...]) -> Any:
    from tnx_timeloop.errors import SpecError, Where
    from tnx_timeloop.frontends.tensornet import from_einsum
    from tnx_timeloop.frontends.tnmodel import TnLayer, TnModel, load_tn_model
    from tnx_timeloop.library import find_workload

    if (network is None) == (einsum is None):
        raise SpecError(Where(None), "give a workload file (NETWORK) or --einsum with --size, not both or neither")
    if einsum is not None:
        size_map: dict[str, int] = {}
        for item in sizes:
            name, sep, value = item.partition("=")
            if not sep or not value.strip().lstrip("-").isdigit():
                raise SpecError(Where(None, ("--size",)), f"expected INDEX=N, got {item!r}")
            size_map[name.strip()] = int(value)
        net = from_einsum(einsum, size_map, hyper=hyper, name="einsum", where=Where(None, ("--einsum",)))
        return TnModel("einsum", (TnLayer("einsum", net),))
    model = load_tn_model(find_workload(network), parse_sets(sets))
    if layers:
        picked = tuple(model.layer(n) for n in layers)
        model = TnModel(model.name, picked, model.source)
    return model


def _engines(archs: tuple[str, ...], arch_sets: tuple[str, ...], engines: tuple[str, ...], energy: str) -> list[Any]:
    from tnx_timeloop.errors import SpecError, Where
    from tnx_timeloop.library import find_arch
    from tnx_timeloop.search.stepcost import make_engine
    from tnx_timeloop.spec.arch import parse_architecture
    from tnx_timeloop.spec.yaml_io import load_yaml_file

    variables = parse_sets(arch_sets)
    out = []
    for name in archs or ("tt-kernel",):
        path = find_arch(name)
        for eng in engines or (None,):
            v = dict(variables)
            if eng is not None:
                v["engine"] = eng
            doc = load_yaml_file(path, variables=v)
            if not isinstance(doc, dict) or "architecture" not in doc:
                raise SpecError(Where(path), "a single-core architecture (top-level 'architecture') is needed here")
            arch = parse_architecture(doc["architecture"], where=Where(path, ("architecture",)))
            label = Path(path).stem + (f":{eng}" if eng is not None else "")
            out.append(make_engine(arch, label, energy))
    return out


def _cache(no_cache: bool, cache_dir: Path | None) -> Any:
    from tnx_timeloop import api

    return api.open_cache(not no_cache, (cache_dir / "cache.sqlite") if cache_dir else None)


def _jobs(jobs: int) -> int:
    import os

    if jobs < 0:
        from tnx_timeloop.errors import SearchError

        raise SearchError(f"--jobs must be >= 0, got {jobs}")
    return jobs or (os.cpu_count() or 1)


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return out


def _si(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


@click.group("tn")
def tn() -> None:
    """Tensorized networks: contraction graphs, hardware-aware paths, joint path x mapping x hardware search."""


# ---------------------------------------------------------------------------
# describe
# ---------------------------------------------------------------------------


def _describe_layer(layer: Any, training: bool) -> dict[str, Any]:
    from tnx_timeloop.frontends.tensornet import (
        backward_contractions,
        canonical_contraction,
        forward_contractions,
        tree_to_linear,
    )
    from tnx_timeloop.search.paths import baseline_tree, tree_macs

    net = layer.network
    tree = baseline_tree(net, "optimal" if len(net.tensors) <= 10 else "dp")
    fwd = forward_contractions(net, tree)
    bwd = backward_contractions(net, tree, fwd) if training else []
    dense = layer.dense
    d = {
        "name": layer.name,
        "format": net.format,
        "count": layer.count,
        "einsum": net.einsum(),
        "tensors": [{"name": t.name, "indices": list(t.indices), "shape": list(net.shape(t.name)),
                     "requires_grad": t.requires_grad, "input": t.is_input} for t in net.tensors],
        "output": {"name": net.output_name, "indices": list(net.output)},
        "hyper": sorted(net.hyper),
        "parameters": net.parameters,
        "dense_parameters": dense.parameters if dense is not None else net.parameters,
        "flop_optimal_path": [list(p) for p in tree_to_linear(tree, len(net.tensors))],
        "forward_macs": tree_macs(net, tree),
        "training_macs": tree_macs(net, tree, training=True),
        "dense_forward_macs": (tree_macs(dense, (0, 1)) if dense is not None
                               else tree_macs(net, tree) if net.format == "dense" else None),
        "steps": [{"einsum": c.einsum(), "phase": c.phase, "macs": c.macs, "canonical": canonical_contraction(c).label()}
                  for c in fwd + bwd],
    }
    d["compression"] = d["dense_parameters"] / d["parameters"] if d["parameters"] else None
    return d


@tn.command("describe")
@click.argument("network", required=False)
@_network_options
@click.option("--training", is_flag=True, help="Also list the backward contractions of the FLOP-optimal path.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def describe(network: str | None, einsum: str | None, sizes: tuple[str, ...], hyper: tuple[str, ...],
             sets: tuple[str, ...], layers: tuple[str, ...], training: bool, as_json: bool) -> None:
    """Describe a network or model: tensors, parameters, compression, MACs of the FLOP-optimal path, steps."""
    model = _load_model(network, einsum, sizes, hyper, sets, layers)
    out = {"model": model.name, "parameters": model.parameters,
           "dense_parameters": model.dense_baseline().parameters,
           "layers": [_describe_layer(layer, training) for layer in model.layers]}
    if as_json:
        emit_json(out)
        return
    click.echo(f"{model.name}: {len(model.layers)} layer(s), {out['parameters']:,} parameters "
               f"(dense {out['dense_parameters']:,}, {out['dense_parameters'] / max(1, out['parameters']):.1f}x)")
    rows = []
    for d in out["layers"]:
        rows.append([d["name"], d["format"], str(d["count"]), f"{d['parameters']:,}",
                     f"{d['compression']:.1f}x" if d["compression"] else "-", _si(d["forward_macs"]),
                     _si(d["dense_forward_macs"]) if d["dense_forward_macs"] else "-", _si(d["training_macs"]),
                     str(len(d["tensors"]))])
    click.echo("\n".join(_table(["layer", "format", "count", "params", "compression", "fwd MACs (FLOP-opt)",
                                 "dense MACs", "train MACs", "tensors"], rows)))
    if len(out["layers"]) == 1 or layers or einsum:
        for d in out["layers"]:
            click.echo(f"\n{d['name']}: {d['einsum']}")
            if d["hyper"]:
                click.echo(f"  hyper indices: {', '.join(d['hyper'])}")
            click.echo("  steps of the FLOP-optimal path (opt_einsum 'optimal'):")
            click.echo("\n".join("  " + line for line in _table(
                ["phase", "contraction", "MACs", "canonical"],
                [[s["phase"], s["einsum"], _si(s["macs"]), s["canonical"]] for s in d["steps"]])))


# ---------------------------------------------------------------------------
# paths
# ---------------------------------------------------------------------------


@tn.command("paths")
@click.argument("network", required=False)
@_network_options
@click.option("--arch", "archs", multiple=True, metavar="FILE|NAME", help="Architecture (repeatable: several engines). Default tt-kernel.")
@click.option("--arch-set", "arch_sets", multiple=True, metavar="NAME=VALUE", help="Template variable of the architecture(s).")
@click.option("--engine", "engines", multiple=True, metavar="VALUE", help="Render each --arch once per value of its 'engine' variable (tt-kernel: gemm, tt).")
@click.option("--energy", "energy_source", default="auto", show_default=True, help="Energy source (see tnx model --help).")
@click.option("--training", is_flag=True, help="Optimise forward + backward (the training graph).")
@click.option("--baselines", default="optimal,dp,greedy,cotengra", show_default=True, help="Hardware-blind baselines scored on the same hardware ('' for none).")
@click.option("--k", "k", type=int, default=8, show_default=True, help="Trees kept by --method mac-pruned.")
@click.option("--steps/--no-steps", default=True, show_default=True, help="Print the hardware-aware path's steps.")
@_mapper_options
@handle_errors
def paths(network: str | None, einsum: str | None, sizes: tuple[str, ...], hyper: tuple[str, ...],
          sets: tuple[str, ...], layers: tuple[str, ...], archs: tuple[str, ...], arch_sets: tuple[str, ...],
          engines: tuple[str, ...], energy_source: str, training: bool, baselines: str, k: int, steps: bool,
          objective: str, method: str, budget: int | None, restarts: int | None, seed: int, jobs: int,
          no_cache: bool, cache_dir: Path | None, as_json: bool) -> None:
    """Find each layer's contraction path minimising latency (or energy, EDP) on the hardware.

    The hardware-aware path is exact under the per-step mapper costs; the
    baselines (opt_einsum optimal/dp/greedy, cotengra) are scored with the same
    per-step costs, and the gain is the FLOP-optimal path's cost over it.
    """
    from tnx_timeloop.search.paths import compare_paths
    from tnx_timeloop.search.stepcost import DEFAULT_BUDGET, RESTARTS, MapperCoster

    model = _load_model(network, einsum, sizes, hyper, sets, layers)
    eng = _engines(archs, arch_sets, engines, energy_source)
    names = tuple(b.strip() for b in baselines.split(",") if b.strip())
    results = []
    with MapperCoster(eng, objective=objective, budget=budget or DEFAULT_BUDGET, restarts=restarts or RESTARTS,
                      seed=seed, cache=_cache(no_cache, cache_dir), jobs=_jobs(jobs)) as coster:
        for layer in model.layers:
            results.append((layer, compare_paths(layer.network, coster, method=method, training=training,
                                                 baselines=names, k=k, seed=seed)))
    if as_json:
        emit_json({"model": model.name, "engines": [e.name for e in eng], "objective": objective,
                   "training": training,
                   "layers": [{"name": layer.name, "count": layer.count, **c.to_dict()} for layer, c in results]})
        return
    click.echo(f"engines: {', '.join(e.name for e in eng)}; objective {objective}; "
               f"{'training (forward + backward)' if training else 'inference'}")
    for layer, c in results:
        click.echo(f"\n{layer.name} ({layer.network.format}, {len(layer.network.tensors)} tensors):")
        rows = []
        for key, r in c.results.items():
            rows.append([key, f"{r.cycles:,}", f"{r.energy_pj / 1e6:.4g}", f"{r.utilization:.2f}", _si(r.macs),
                         f"{c.results[c.flop_optimal].cycles / r.cycles:.3f}" if r.cycles else "-",
                         f"{r.seconds:.3f}", str(r.mapper_calls), str(r.tree)])
        click.echo("\n".join(_table(["path", "cycles", "energy uJ", "util", "MACs", "gain", "time s", "mappings",
                                     "tree"], rows)))
        hw = c.hardware
        click.echo(f"hardware-aware ({hw.method}): {hw.note}; gain over the FLOP-optimal path "
                   f"({c.flop_optimal}): {c.gain('latency'):.3f}x latency, {c.gain('energy'):.3f}x energy")
        if steps:
            click.echo("\n".join("  " + line for line in _table(
                ["phase", "contraction", "engine", "cycles", "energy uJ", "util", "over bound"],
                [[s.contraction.phase, s.contraction.einsum(), s.cost.engine, f"{s.cost.cycles:,}",
                  f"{s.cost.energy_pj / 1e6:.4g}", f"{s.cost.utilization:.2f}", f"{s.cost.bound_gap * 100:.1f}%"]
                 for s in hw.steps])))


# ---------------------------------------------------------------------------
# joint and compare-dense
# ---------------------------------------------------------------------------


def _space_and_budget(template: str | None, grid: tuple[str, ...], fixed: tuple[str, ...], engines: str,
                      energy: str, max_pes: int | None, max_kib: float | None, max_area: float | None) -> tuple[Any, Any]:
    import yaml

    from tnx_timeloop.errors import SpecError, Where
    from tnx_timeloop.library import find_arch
    from tnx_timeloop.search.joint import HardwareSpace, ResourceBudget, tt_kernel_space

    base = tt_kernel_space(find_arch(template) if template else None)
    g = dict(base.grid)
    for item in grid:
        name, sep, values = item.partition("=")
        if not sep or not values.strip():
            raise SpecError(Where(None, ("--grid",)), f"expected NAME=V1,V2,..., got {item!r}")
        g[name.strip()] = tuple(yaml.safe_load(v) for v in values.split(","))
    fx = parse_sets(fixed)
    for name in fx:
        g.pop(name, None)
    eng = tuple(e.strip() for e in engines.split(",") if e.strip())
    space = HardwareSpace(base.template, tuple(g.items()), tuple(fx.items()), eng, energy=energy)
    return space, ResourceBudget(max_pes, max_kib, max_area)


def _all_cores_mapper_options(fn: Any) -> Any:
    return _mapper_options(fn, jobs_default=0)


def _hw_options(fn: Any) -> Any:
    fn = click.option("--max-configs", type=int, default=None, help="Evaluate at most this many configurations.")(fn)
    fn = click.option("--tolerance", type=float, default=0.01, show_default=True,
                      help="Stop when no configuration can beat the best by more than this fraction (0 = exact).")(fn)
    fn = click.option("--exhaustive", is_flag=True, help="Evaluate every configuration (no pruning).")(fn)
    fn = click.option("--max-area-mm2", "max_area", type=float, default=None, help="Area budget in mm^2 (built-in tables).")(fn)
    fn = click.option("--max-kib", type=float, default=None, help="On-chip storage budget in KiB.")(fn)
    fn = click.option("--max-pes", type=int, default=None, help="MAC-unit budget over all engines.")(fn)
    fn = click.option("--energy", "energy_source", default="auto", show_default=True, help="Energy source of the step costs.")(fn)
    fn = click.option("--engines", default="gemm,tt", show_default=True, help="Values of the template's 'engine' variable ('' = render once).")(fn)
    fn = click.option("--fixed", multiple=True, metavar="NAME=VALUE", help="Template variable held at one value.")(fn)
    fn = click.option("--grid", multiple=True, metavar="NAME=V1,V2", help="Template variable and its candidate values (replaces the default grid entry).")(fn)
    fn = click.option("--template", default=None, help="Architecture template (default tt-kernel).")(fn)
    return fn


def _print_joint(r: Any, title: str) -> None:
    b = r.best
    lat = f", {b.latency_s * 1e3:.4g} ms" if b.latency_s is not None else ""
    click.echo(f"{title}: {r.model} ({r.mode}, objective {r.objective}, budget {r.budget.describe()})")
    click.echo(f"  best configuration: {b.config.label()}  [{b.config.pes} PEs, {b.config.on_chip_kib:g} KiB, "
               f"{b.config.area_mm2:.3f} mm^2]")
    click.echo(f"  latency {b.cycles:,} cycles{lat}; energy {b.energy_pj / 1e6:.4g} uJ; "
               f"{r.parameters:,} parameters")
    click.echo(f"  {r.candidates} configurations in budget, {len(r.evaluated)} evaluated, {r.pruned} pruned by bound; "
               f"{r.seconds:.1f} s")
    for note in r.notes:
        click.echo(f"  note: {note}")
    rows = [[x.name, str(x.count), f"{x.path.cycles:,}", f"{x.count * x.path.cycles / max(1, b.cycles) * 100:.1f}%",
             f"{x.path.utilization:.2f}", ",".join(sorted({s.cost.engine for s in x.path.steps})), str(x.path.tree)]
            for x in b.layers]
    click.echo("\n".join("  " + line for line in _table(["layer", "count", "cycles each", "share", "util", "engines",
                                                          "path"], rows)))


@tn.command("joint")
@click.argument("model_file")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Parameter of the workload template.")
@click.option("--mode", type=click.Choice(["inference", "training"]), default="inference", show_default=True)
@_hw_options
@_all_cores_mapper_options
@handle_errors
def joint(model_file: str, sets: tuple[str, ...], mode: str, template: str | None, grid: tuple[str, ...],
          fixed: tuple[str, ...], engines: str, energy_source: str, max_pes: int | None, max_kib: float | None,
          max_area: float | None, exhaustive: bool, max_configs: int | None, tolerance: float, objective: str,
          method: str, budget: int | None, restarts: int | None, seed: int, jobs: int, no_cache: bool,
          cache_dir: Path | None, as_json: bool) -> None:
    """Joint path x mapping x hardware search for a whole model under a resource budget."""
    from tnx_timeloop.search.joint import joint_search
    from tnx_timeloop.search.stepcost import DEFAULT_BUDGET, RESTARTS

    model = _load_model(model_file, None, (), (), sets, ())
    space, rb = _space_and_budget(template, grid, fixed, engines, energy_source, max_pes, max_kib, max_area)
    r = joint_search(model, space, rb, objective=objective, mode=mode, method=method,
                     mapper_budget=budget or DEFAULT_BUDGET, restarts=restarts or RESTARTS, seed=seed,
                     cache=_cache(no_cache, cache_dir),
                     jobs=_jobs(jobs), exhaustive=exhaustive, max_configs=max_configs, tolerance=tolerance)
    if as_json:
        emit_json(r.to_dict())
        return
    _print_joint(r, "joint search")


@tn.command("compare-dense")
@click.argument("model_file")
@click.option("--dense", "dense_file", default=None, help="Dense model file (default: derived from MODEL_FILE).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Parameter of the workload template(s).")
@click.option("--mode", type=click.Choice(["inference", "training", "both"]), default="both", show_default=True)
@_hw_options
@_all_cores_mapper_options
@handle_errors
def compare_dense_command(model_file: str, dense_file: str | None, sets: tuple[str, ...], mode: str,
                          template: str | None, grid: tuple[str, ...], fixed: tuple[str, ...], engines: str,
                          energy_source: str, max_pes: int | None, max_kib: float | None, max_area: float | None,
                          exhaustive: bool, max_configs: int | None, tolerance: float, objective: str,
                          method: str, budget: int | None, restarts: int | None, seed: int, jobs: int,
                          no_cache: bool, cache_dir: Path | None, as_json: bool) -> None:
    """The tensorized model versus its dense baseline, each on its best hardware under one budget."""
    from tnx_timeloop.search.joint import compare_dense
    from tnx_timeloop.search.stepcost import DEFAULT_BUDGET, RESTARTS

    model = _load_model(model_file, None, (), (), sets, ())
    dense = _load_model(dense_file, None, (), (), sets, ()) if dense_file else None
    space, rb = _space_and_budget(template, grid, fixed, engines, energy_source, max_pes, max_kib, max_area)
    modes = ["inference", "training"] if mode == "both" else [mode]
    cache = _cache(no_cache, cache_dir)
    out = {}
    for m in modes:
        out[m] = compare_dense(model, space, rb, dense=dense, objective=objective, mode=m, method=method,
                               mapper_budget=budget or DEFAULT_BUDGET, restarts=restarts or RESTARTS, seed=seed,
                               cache=cache, jobs=_jobs(jobs),
                               exhaustive=exhaustive, max_configs=max_configs, tolerance=tolerance)
    if as_json:
        emit_json({m: c.to_dict() for m, c in out.items()})
        return
    rows = []
    for m, c in out.items():
        t, d = c.tensorized.best, c.dense.best
        rows.append([m, f"{t.cycles:,}", f"{d.cycles:,}", f"{c.speedup:.2f}x", f"{c.dense_on_tensorized_config.cycles:,}",
                     f"{c.speedup_same_config:.2f}x", f"{c.energy_ratio:.2f}x"])
    first = next(iter(out.values()))
    click.echo(f"{first.tensorized.model} vs {first.dense.model}; budget {rb.describe()}; objective {objective}; "
               f"parameters {first.tensorized.parameters:,} vs {first.dense.parameters:,} ({first.compression:.1f}x)")
    click.echo("\n".join(_table(["mode", "tensorized cycles", "dense cycles", "speedup", "dense on TT config",
                                 "speedup (same HW)", "energy ratio"], rows)))
    for m, c in out.items():
        click.echo("")
        _print_joint(c.tensorized, f"[{m}] tensorized")
        _print_joint(c.dense, f"[{m}] dense")


def register(cli: click.Group) -> None:
    """Add ``tnx tn`` to the ``tnx`` group."""
    cli.add_command(tn)
