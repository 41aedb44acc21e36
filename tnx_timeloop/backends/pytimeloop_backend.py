"""The ``pytimeloop`` backend: Timeloop's model through its Python bindings, in this process.

`pytimeloop <https://github.com/Accelergy-Project/timeloop-python>`_ binds Timeloop's C++
model. Its application object takes the whole input as one YAML string and returns an
evaluation result whose ``pretty_print_stats()`` is the text ``timeloop-model`` writes to
``stats.txt``::

    from pytimeloop.app import ModelApp
    result = ModelApp(yaml_text).run()
    text = result.pretty_print_stats()

so the same parser and :func:`~tnx_timeloop.backends.timeloop_cli.report_from_stats` give the
same :class:`Report` as the ``timeloop`` backend. ``pytimeloop`` is imported only when this
backend is used.

Search is not offered here: pytimeloop's mapper API differs between its releases (and runs
``timeloop-mapper`` underneath in the recent ones); use the ``timeloop`` backend's
:meth:`~tnx_timeloop.backends.timeloop_cli.TimeloopBackend.search` or the native mapper.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import tempfile
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tnx_timeloop.backends.timeloop_cli import report_from_stats
from tnx_timeloop.backends.timeloop_io import write_timeloop_inputs
from tnx_timeloop.backends.timeloop_stats import parse_stats
from tnx_timeloop.energy.tables import ArchEnergy
from tnx_timeloop.errors import BackendError
from tnx_timeloop.model.report import Report
from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.mapping import Mapping
from tnx_timeloop.spec.problem import Problem

__all__ = ["PytimeloopBackend"]


def _printed_stats(result: Any) -> str | None:
    """The ``stats.txt`` text of a pytimeloop evaluation result (method or attribute, by release)."""
    method = getattr(result, "pretty_print_stats", None)
    if callable(method):
        return str(method())
    text = getattr(result, "pretty_printed_stats", None)
    return str(text) if text else None


class PytimeloopBackend:
    """Evaluate mappings with pytimeloop (Timeloop's model, in-process)."""

    name = "pytimeloop"

    def available(self) -> bool:
        """Whether ``pytimeloop.app`` can be imported here."""
        try:
            return importlib.util.find_spec("pytimeloop") is not None
        except (ImportError, ValueError):
            return False

    def why_unavailable(self) -> str:
        """What is missing and how to get it ('' if available)."""
        if self.available():
            return ""
        return (
            "the 'pytimeloop' module is not installed; build Accelergy-Project/timeloop-python "
            "(it needs Timeloop's C++ sources and libraries), or use backend 'timeloop' or 'native'"
        )

    def evaluate(
        self, arch: Architecture, problem: Problem, mapping: Mapping, *, energy: ArchEnergy, method: str = "batch"
    ) -> Report:
        """Evaluate ``mapping`` with pytimeloop's ``ModelApp``; a one-mapping :class:`Report`.

        ``method`` is accepted for protocol compatibility and ignored.

        Raises
        ------
        BackendError
            When pytimeloop is missing, raises, or returns stats that cannot be read or
            disagree with the inputs (the inputs directory is named in the message).
        """
        del method
        try:
            app_module: Any = importlib.import_module("pytimeloop.app")
        except ImportError as err:
            raise BackendError(f"backend 'pytimeloop' cannot import pytimeloop.app: {err}; {self.why_unavailable()}") from err
        workdir = Path(tempfile.mkdtemp(prefix="tnx_pytimeloop_"))
        try:
            report = self._evaluate_in(workdir, app_module, arch, problem, mapping, energy)
        except BackendError as err:
            if err.workdir:
                raise
            raise BackendError(str(err), workdir=str(workdir)) from err
        shutil.rmtree(workdir, ignore_errors=True)
        return report

    @staticmethod
    def _evaluate_in(
        workdir: Path, app_module: Any, arch: Architecture, problem: Problem, mapping: Mapping, energy: ArchEnergy
    ) -> Report:
        inputs = write_timeloop_inputs(workdir, arch, problem, mapping, energy=energy)
        text = "\n".join(p.read_text(encoding="utf-8") for p in inputs.files)
        try:
            result = app_module.ModelApp(text).run()
        except Exception as err:  # noqa: BLE001 - any failure inside the bindings becomes a BackendError
            raise BackendError(f"pytimeloop failed: {type(err).__name__}: {err}", workdir=str(workdir)) from err
        stats_text = _printed_stats(result)
        if not stats_text:
            raise BackendError(
                "pytimeloop returned no printed stats (the mapping may violate the architecture, or this "
                f"pytimeloop release returns another result type: {type(result).__name__})",
                workdir=str(workdir),
            )
        path = workdir / "pytimeloop.stats.txt"
        path.write_text(stats_text, encoding="utf-8")
        return report_from_stats(parse_stats(stats_text, source=str(path)), arch, problem, energy=energy,
                                 names=inputs.names)

    def search(
        self,
        arch: Architecture,
        problem: Problem,
        constraints: Sequence[tuple[str, Any]] = (),
        mapper_config: MappingABC[str, Any] | None = None,
        *,
        energy: ArchEnergy,
    ) -> tuple[Mapping, Report]:
        """Not offered by this backend.

        Raises
        ------
        BackendError
            Always, naming the backends that search.
        """
        del arch, problem, constraints, mapper_config, energy
        raise BackendError(
            "backend 'pytimeloop' evaluates fixed mappings only; search with backend 'timeloop' "
            "(timeloop-mapper), 'accelforge' or the native mapper"
        )
