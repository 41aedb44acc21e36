"""The embedded backend: tnx-timeloop's own Timeloop-compatible model and mapper."""

from __future__ import annotations

from tnx_timeloop.energy.tables import ArchEnergy
from tnx_timeloop.errors import TnxError
from tnx_timeloop.model.batch import MappingBatch
from tnx_timeloop.model.evaluate import evaluate_batch, evaluate_reference
from tnx_timeloop.model.report import Report
from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.mapping import Mapping
from tnx_timeloop.spec.problem import Problem

__all__ = ["NativeBackend"]


class NativeBackend:
    """Evaluate with the vectorised native model (or its literal reference walk)."""

    name = "native"

    def available(self) -> bool:
        return True

    def why_unavailable(self) -> str:
        return ""

    def evaluate(
        self, arch: Architecture, problem: Problem, mapping: Mapping, *, energy: ArchEnergy, method: str = "batch"
    ) -> Report:
        if method == "reference":
            return evaluate_reference(arch, problem, mapping, energy)
        if method != "batch":
            raise TnxError(f"unknown native method {method!r}; choose 'batch' or 'reference'")
        return evaluate_batch(arch, problem, MappingBatch.from_mappings([mapping]), energy)
