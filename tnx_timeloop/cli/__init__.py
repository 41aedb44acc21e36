"""The ``tnx`` command: a thin layer over :mod:`tnx_timeloop.api`.

Every command takes ``--json`` (one JSON object on stdout), exits 0 on success
and 2 on bad input with a one-paragraph error on stderr. Imports happen inside
commands so that ``tnx --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

__all__ = ["main", "cli", "fail", "emit_json", "handle_errors"]


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` on stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def emit_json(obj: Any) -> None:
    """Print one JSON object on stdout."""
    click.echo(json.dumps(obj, indent=2, default=_json_default))


def _json_default(x: Any) -> Any:
    import numpy as np

    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def handle_errors(fn: Callable) -> Callable:
    """Turn expected errors into a one-line message and exit status 2 (no traceback)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from tnx_timeloop.errors import TnxError

        try:
            return fn(*args, **kwargs)
        except TnxError as err:
            fail(str(err))
        except KeyboardInterrupt:
            fail("interrupted", code=130)
        except (OSError, ValueError) as err:
            fail(f"{type(err).__name__}: {err}")

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tnx-timeloop")
def cli() -> None:
    """tnx-timeloop: how fast and how energy-efficient is this network on this accelerator?"""


def _register() -> None:
    from tnx_timeloop.cli import model_cmd

    cli.add_command(model_cmd.model)
    for mod_name in ("map_cmd", "arch_cmd", "energy_cmd", "tn_cmd", "sim_cmd", "eenn_cmd", "study_cmd", "compare_cmd"):
        try:
            mod = __import__(f"tnx_timeloop.cli.{mod_name}", fromlist=["register"])
        except ModuleNotFoundError as err:
            if err.name == f"tnx_timeloop.cli.{mod_name}":
                continue
            raise
        mod.register(cli)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="tnx")
