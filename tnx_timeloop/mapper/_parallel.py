"""Worker-process side of parallel evaluation (kept tiny: state set once per worker)."""

from __future__ import annotations

from typing import Any

from tnx_timeloop.model.batch import MappingBatch
from tnx_timeloop.model.evaluate import evaluate_batch
from tnx_timeloop.model.report import Report

_STATE: dict[str, Any] = {}


def init_worker(arch: Any, problem: Any, energy: Any) -> None:
    """Store the (arch, problem, energy) the worker evaluates against."""
    _STATE.update(arch=arch, problem=problem, energy=energy)


def evaluate_part(batch: MappingBatch) -> Report:
    """Evaluate one slice of a batch."""
    return evaluate_batch(_STATE["arch"], _STATE["problem"], batch, _STATE["energy"])
