"""tnx-timeloop: Timeloop-compatible accelerator modelling and design-space exploration.

The public entry points::

    import tnx_timeloop as tnx
    spec = tnx.load_spec(["arch.yaml", "problem.yaml", "mapping.yaml"])
    report = tnx.evaluate(spec)
    result = tnx.search(spec, objective="edp")
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_spec", "evaluate", "search", "format_report"]


def __getattr__(name: str) -> Any:
    # lazy: `import tnx_timeloop` stays cheap; the API loads on first use
    if name in ("load_spec", "evaluate", "search", "format_report", "evaluate_files"):
        from tnx_timeloop import api

        return getattr(api, name)
    raise AttributeError(f"module 'tnx_timeloop' has no attribute {name!r}")
