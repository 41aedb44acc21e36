"""Jinja templates for parameterised specs (e.g. ``arch/single-core/tt-kernel.yaml``).

Timeloop/Accelergy accept architecture files with Jinja variables; a search that
sweeps an array size renders the template once per point. Undefined variables are
errors (never silently empty).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from tnx_timeloop.errors import SpecError, Where

__all__ = ["render_template", "template_variables"]


def render_template(text: str, variables: Mapping[str, Any], *, source: Path | str | None = None) -> str:
    """Render Jinja ``text`` with ``variables``; defaults may come from ``{% set %}`` in the text.

    Raises
    ------
    SpecError
        On a Jinja syntax error or an undefined variable, naming the file and line.
    """
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    try:
        return env.from_string(text).render(**dict(variables))
    except jinja2.TemplateSyntaxError as err:
        raise SpecError(Where(source).at_line(err.lineno), f"template syntax error: {err.message}") from None
    except jinja2.UndefinedError as err:
        raise SpecError(
            Where(source), f"template variable missing: {err.message}; pass it with --set NAME=VALUE"
        ) from None


def template_variables(text: str) -> set[str]:
    """Names of the undeclared variables a Jinja template uses."""
    from jinja2 import meta

    env = jinja2.Environment()
    return set(meta.find_undeclared_variables(env.parse(text)))
