"""``tnx map``: search mappings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from tnx_timeloop.cli import emit_json, handle_errors
from tnx_timeloop.cli.model_cmd import parse_sets

__all__ = ["map_command", "register", "progress_printer"]


def progress_printer(enabled: bool) -> Any:
    """A progress callback drawing a bar on stderr (terminals only, after 1 s)."""
    if not enabled:
        return None
    import sys

    if not sys.stderr.isatty():
        return None
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    state: dict[str, Any] = {"start": time.monotonic(), "bar": None}

    def update(done: int, total: int, best: Any) -> None:
        if state["bar"] is None:
            if time.monotonic() - state["start"] < 1.0:
                return
            bar = Progress(TextColumn("mapping"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                           TextColumn("best {task.fields[best]}"), TimeRemainingColumn(), transient=True)
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task("map", total=total, best="-")
        best_s = f"{best[0]:.4g}" if best else "-"
        state["bar"].update(state["task"], completed=min(done, total), best=best_s)
        if done >= total:
            state["bar"].stop()

    return update


@click.command("map")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--objective", default=None, help="edp (default), latency, energy, or a list like 'delay,energy' (lexicographic).")
@click.option("--budget", type=int, default=None, help="Maximum mappings evaluated (default 20000 or the file's search-size).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed: the same seed gives the same mapping.")
@click.option("--jobs", type=int, default=None, help="Processes evaluating in parallel (default 1 or the file's num-threads).")
@click.option("--algorithm", default=None, help="auto, hybrid, exhaustive, random, random-pruned, linear-pruned.")
@click.option("--victory", type=int, default=None, help="Stop after this many valid mappings without improvement.")
@click.option("--time-limit", type=float, default=None, help="Stop after this many seconds.")
@click.option("--energy", "energy_source", default="auto", show_default=True, help="Energy source (see tnx model --help).")
@click.option("--backend", default="native", show_default=True,
              help="Mapper: native (this package's), timeloop (timeloop-mapper on PATH), accelforge (its FFM mapper).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, help="Folder for the best mapping (default: current folder).")
@click.option("--pad", is_flag=True, help="Also try padding badly-factoring dimensions (e.g. primes) to a bound that factors well.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the evaluation cache.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None, help="Cache folder (default $TNX_CACHE_DIR or ~/.cache/tnx-timeloop).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Template variable for Jinja specs.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the report plus a 'search' object).")
@handle_errors
def map_command(files: tuple[Path, ...], objective: str | None, budget: int | None, seed: int, jobs: int | None,
                algorithm: str | None, victory: int | None, time_limit: float | None, energy_source: str,
                backend: str, out_dir: Path | None, pad: bool, no_cache: bool, cache_dir: Path | None, sets: tuple[str, ...], as_json: bool) -> None:
    """Search mappings of the problem in FILES on the architecture in FILES.

    FILES are Timeloop YAML files (architecture, problem, constraints, mapper
    settings, ERT/ART). The file's `mapper` section (optimization-metrics,
    algorithm, victory-condition, search-size, num-threads) applies; options
    given here override it. The best mapping is written as Timeloop mapping
    YAML (tnx-mapper.map.yaml) which tnx model and timeloop-model both read.
    """
    from tnx_timeloop import api
    from tnx_timeloop.spec.mapping import mapping_to_list
    from tnx_timeloop.spec.yaml_io import dump_yaml

    spec = api.load_spec(files, variables=parse_sets(sets))
    obj: Any = objective
    if objective is not None and "," in objective:
        obj = [x.strip() for x in objective.split(",") if x.strip()]
    if backend.lower() != "native":
        _map_with_backend(spec, backend, obj, energy_source, out_dir, as_json)
        return
    cache = api.open_cache(not no_cache, (cache_dir / "cache.sqlite") if cache_dir else None)
    result = api.search(spec, objective=obj, budget=budget, seed=seed, algorithm=algorithm, jobs=jobs,
                        victory=victory, time_limit_s=time_limit, energy=energy_source, cache=cache,
                        progress=progress_printer(not as_json), pad=pad)
    if result.best_mapping is None or result.best_report is None:
        from tnx_timeloop.errors import SearchError

        raise SearchError(
            f"no valid mapping found in {result.evaluated} evaluations ({result.visited} candidates); "
            "relax the constraints or raise --budget"
        )
    assert spec.arch is not None
    out = out_dir or Path(".")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "tnx-mapper.map.yaml"
    path.write_text(dump_yaml({"mapping": mapping_to_list(result.best_mapping, spec.arch)}))
    padded_problem = None
    if result.padding:
        from tnx_timeloop.spec.problem import problem_to_dict

        padded_problem = out / "tnx-mapper.problem.yaml"
        padded_problem.write_text(dump_yaml({"problem": problem_to_dict(result.problem)}))
    if as_json:
        d = result.best_report.to_dict(0)
        d["search"] = result.summary()
        d["mapping_file"] = str(path)
        if padded_problem is not None:
            d["padded_problem_file"] = str(padded_problem)
        emit_json(d)
    else:
        click.echo(api.format_report(result.best_report, 0))
        s = result.summary()
        click.echo(
            f"\nsearch: {s['algorithm']}, {s['evaluated']:,} mappings evaluated ({s['valid']:,} valid) in "
            f"{s['seconds']:.2f} s, seed {s['seed']}, objective {s['objective']}"
            + (", optimal (space exhausted)" if s["optimal"] else "") + (", from cache" if s["cached"] else "")
        )
        click.echo(f"best mapping written to {path}")
        if padded_problem is not None:
            pads = ", ".join(f"{dim} {a} -> {b}" for dim, (a, b) in result.padding.items())
            click.echo(f"padded ({pads}): the mapping refers to the padded problem written to {padded_problem}")


def _map_with_backend(spec: Any, backend: str, objective: Any, energy_source: str, out_dir: Path | None,
                      as_json: bool) -> None:
    """``tnx map --backend timeloop|accelforge``: the tool's own mapper, the same outputs."""
    from tnx_timeloop import api
    from tnx_timeloop.spec.mapping import mapping_to_list
    from tnx_timeloop.spec.yaml_io import dump_yaml

    found = api.search_with_backend(spec, backend, objective=objective, energy=energy_source)
    path = None
    if found["mapping"] is not None:
        out = out_dir or Path(".")
        out.mkdir(parents=True, exist_ok=True)
        path = out / "tnx-mapper.map.yaml"
        path.write_text(dump_yaml({"mapping": mapping_to_list(found["mapping"], spec.arch)}))
    search = {"backend": found["backend"], "seconds": round(found["seconds"], 4), "evaluated": None, "valid": None,
              "algorithm": f"{found['backend']} mapper", "seed": None, "optimal": False, "notes": found["notes"]}
    if as_json:
        d = found["report"].to_dict(0)
        d["search"] = search
        d["mapping_file"] = str(path) if path else None
        emit_json(d)
        return
    click.echo(api.format_report(found["report"], 0))
    click.echo(f"\nsearch: {search['algorithm']} in {found['seconds']:.2f} s")
    for note in found["notes"]:
        click.echo(f"note: {note}")
    click.echo(f"best mapping written to {path}" if path else
               "the tool's mapping has no Timeloop form (tensors of one memory at different loop depths); "
               "the report is the tool's")


def register(cli: click.Group) -> None:
    cli.add_command(map_command)
