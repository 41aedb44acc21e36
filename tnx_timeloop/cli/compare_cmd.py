"""``tnx compare``: reproduce a published accelerator result and show published vs modelled."""

from __future__ import annotations

import click

from tnx_timeloop.cli import emit_json, handle_errors

__all__ = ["register", "compare"]


@click.command()
@click.argument("name", required=False)
@click.option("--budget", type=click.IntRange(min=1), default=10000, show_default=True,
              help="Mappings evaluated per distinct layer (more: better mappings, longer run).")
@click.option("--seed", type=int, default=0, show_default=True, help="Mapper seed.")
@click.option("--quiet", "-q", is_flag=True, help="No per-layer progress lines on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def compare(name: str | None, budget: int, seed: int, quiet: bool, as_json: bool) -> None:
    """Reproduce the published result NAME and print published vs modelled figures.

    Without NAME, list the comparisons. Every distinct layer is mapped with the
    native mapper (--budget mappings each); the output gives per-layer figures, the
    totals beside the published ones with their relative error and source, the
    assumptions made, and the reasons wherever the model is far from the paper.
    """
    from tnx_timeloop.study import compare as cmp

    data = cmp.load_published()
    if name is None:
        names = cmp.comparison_names(data)
        if as_json:
            emit_json({"comparisons": {n: data["comparisons"][n]["title"] for n in names}})
        else:
            for n in names:
                click.echo(f"{n:18s} {data['comparisons'][n]['title']}")
        return

    def progress(line: str) -> None:
        click.echo(f"  {line}", err=True)

    result = cmp.run_comparison(name, budget=budget, seed=seed, data=data, progress=None if quiet else progress)
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(cmp.format_comparison(result))


def register(cli: click.Group) -> None:
    """Add the ``compare`` command to ``tnx``."""
    cli.add_command(compare)
