"""``tnx model``: evaluate one mapping."""

from __future__ import annotations

from pathlib import Path

import click

from tnx_timeloop.cli import emit_json, handle_errors

__all__ = ["model", "parse_sets"]


def parse_sets(values: tuple[str, ...]) -> dict[str, object]:
    """``("ROWS=16", "NAME=x")`` -> ``{"ROWS": 16, "NAME": "x"}`` for template variables."""
    import yaml

    out: dict[str, object] = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--set")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--backend", default="native", show_default=True, help="Evaluator: native, timeloop, pytimeloop, accelforge.")
@click.option("--energy", "energy_source", default="auto", show_default=True,
              help="Energy source: auto (ERT if given, else Timeloop's built-in), ert, timeloop, tables, hwcomponents, accelergy.")
@click.option("--method", type=click.Choice(["batch", "reference"]), default="batch", show_default=True,
              help="Native model path: vectorised closed form or the literal nest walk (same numbers).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Template variable for Jinja specs.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def model(files: tuple[Path, ...], backend: str, energy_source: str, method: str, sets: tuple[str, ...], as_json: bool) -> None:
    """Evaluate one mapping: FILES are YAML files merged as timeloop-model merges them.

    Give the architecture, the problem and the mapping (and optionally ERT/ART).
    Prints a per-level table, or with --json the report object. An invalid
    mapping (a tile that does not fit, too much fan-out) is reported with its
    reason and exit status 2.
    """
    from tnx_timeloop import api

    spec = api.load_spec(files, variables=parse_sets(sets))
    report = api.evaluate(spec, backend=backend, energy=energy_source, method=method)
    valid = bool(report.valid[0])
    if as_json:
        d = report.to_dict(0)
        if not valid:
            d = {"valid": False, "invalid_reason": report.reason(0)}
        emit_json(d)
    else:
        click.echo(api.format_report(report, 0))
    if not valid:
        if not as_json:
            click.echo(f"error: the mapping is invalid: {report.reason(0)}", err=True)
        raise SystemExit(2)
