"""The backend protocol: one way to evaluate and search, whatever tool does the work."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tnx_timeloop.energy.tables import ArchEnergy
from tnx_timeloop.model.report import Report
from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.mapping import Mapping
from tnx_timeloop.spec.problem import Problem

__all__ = ["Backend"]


@runtime_checkable
class Backend(Protocol):
    """An evaluator of mappings: the native model, the real Timeloop, pytimeloop, AccelForge."""

    name: str

    def available(self) -> bool:
        """Whether the tool this backend drives is installed here."""
        ...

    def why_unavailable(self) -> str:
        """What is missing and how to install it ('' if available)."""
        ...

    def evaluate(
        self, arch: Architecture, problem: Problem, mapping: Mapping, *, energy: ArchEnergy, method: str = "batch"
    ) -> Report:
        """Evaluate one mapping; a :class:`Report` of one mapping."""
        ...
