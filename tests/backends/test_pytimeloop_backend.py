"""The ``pytimeloop`` backend: Timeloop's model in-process through its Python bindings.

pytimeloop is not installable from a registry (it builds against Timeloop's C++ sources), so
the real end-to-end test is skipped here. The plumbing is tested with a stand-in
``pytimeloop.app`` module whose ``ModelApp(yaml).run().pretty_print_stats()`` returns an oracle
``stats.txt``, the way the real bindings print it.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import tempfile
import types

import numpy as np
import pytest

from tests.conftest import ORACLE, case_inputs
from tnx_timeloop import api
from tnx_timeloop.backends import get_backend
from tnx_timeloop.backends.native import NativeBackend
from tnx_timeloop.backends.pytimeloop_backend import PytimeloopBackend
from tnx_timeloop.energy.tables import select_energy
from tnx_timeloop.errors import BackendError

HAVE_PYTIMELOOP = importlib.util.find_spec("pytimeloop") is not None


@pytest.fixture(autouse=True)
def _run_directories_in_tmp(tmp_path, monkeypatch):
    """Run directories (kept on failure) land in the test's tmp_path, not in /tmp."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

def _fake_pytimeloop(monkeypatch: pytest.MonkeyPatch, stats_text: str | None, *, fail: bool = False) -> list[str]:
    """Install a stand-in ``pytimeloop.app``; returns the list the YAML inputs are recorded in."""
    seen: list[str] = []

    class Result:
        def pretty_print_stats(self) -> str | None:
            return stats_text

    class ModelApp:
        def __init__(self, yaml_text: str) -> None:
            seen.append(yaml_text)

        def run(self) -> Result:
            if fail:
                raise RuntimeError("Mapping violates architecture constraints.")
            return Result()

    package = types.ModuleType("pytimeloop")
    app = types.ModuleType("pytimeloop.app")
    app.ModelApp = ModelApp  # type: ignore[attr-defined]
    package.app = app  # type: ignore[attr-defined]
    package.__spec__ = importlib.machinery.ModuleSpec("pytimeloop", None)
    monkeypatch.setitem(sys.modules, "pytimeloop", package)
    monkeypatch.setitem(sys.modules, "pytimeloop.app", app)
    return seen


@pytest.mark.skipif(HAVE_PYTIMELOOP, reason="pytimeloop is installed here")
def test_unavailable_backend_says_what_is_missing() -> None:
    backend = PytimeloopBackend()
    assert not backend.available()
    with pytest.raises(BackendError, match="'pytimeloop' module is not installed"):
        get_backend("pytimeloop")


@pytest.mark.parametrize("case", ["t8_conv1d_os", "ey_conv3x3_c16m16_p8_rs_hand"])
def test_evaluate_with_stand_in_bindings(case: str, monkeypatch) -> None:
    seen = _fake_pytimeloop(monkeypatch, (ORACLE / case / "timeloop-model.stats.txt").read_text())
    spec = api.load_spec(case_inputs(case))
    energy = select_energy(spec.arch, "auto", spec.energy_table)
    backend = PytimeloopBackend()
    assert backend.available()
    report = backend.evaluate(spec.arch, spec.problem, spec.mapping, energy=energy)
    native = NativeBackend().evaluate(spec.arch, spec.problem, spec.mapping, energy=energy)
    assert report.cycles[0] == native.cycles[0]
    np.testing.assert_array_equal(report.level_cycles, native.level_cycles)
    np.testing.assert_array_equal(report.reads, native.reads)
    np.testing.assert_allclose(report.energy_pj, native.energy_pj, rtol=1e-6)
    (text,) = seen
    assert {"architecture:", "problem:", "mapping:", "ERT:"} <= {line for line in text.splitlines() if line.endswith(":")}


def test_bindings_failure_is_a_backend_error(monkeypatch) -> None:
    _fake_pytimeloop(monkeypatch, None, fail=True)
    spec = api.load_spec(case_inputs("t8_conv1d_os"))
    with pytest.raises(BackendError, match="pytimeloop failed: RuntimeError: Mapping violates") as info:
        PytimeloopBackend().evaluate(spec.arch, spec.problem, spec.mapping,
                                     energy=select_energy(spec.arch, "auto", spec.energy_table))
    assert info.value.workdir


def test_empty_result_is_a_backend_error(monkeypatch) -> None:
    _fake_pytimeloop(monkeypatch, "")
    spec = api.load_spec(case_inputs("t8_conv1d_os"))
    with pytest.raises(BackendError, match="returned no printed stats"):
        PytimeloopBackend().evaluate(spec.arch, spec.problem, spec.mapping,
                                     energy=select_energy(spec.arch, "auto", spec.energy_table))


def test_search_is_not_offered() -> None:
    spec = api.load_spec(case_inputs("t8_conv1d_os"))
    with pytest.raises(BackendError, match="evaluates fixed mappings only"):
        PytimeloopBackend().search(spec.arch, spec.problem, energy=select_energy(spec.arch, "auto", None))


@pytest.mark.skipif(not HAVE_PYTIMELOOP, reason="pytimeloop is not installed (built from source, not on a registry)")
def test_real_pytimeloop_matches_native() -> None:
    spec = api.load_spec(case_inputs("t8_conv1d_os"))
    energy = select_energy(spec.arch, "auto", spec.energy_table)
    report = PytimeloopBackend().evaluate(spec.arch, spec.problem, spec.mapping, energy=energy)
    native = NativeBackend().evaluate(spec.arch, spec.problem, spec.mapping, energy=energy)
    np.testing.assert_array_equal(report.reads, native.reads)
    assert report.cycles[0] == native.cycles[0]
    np.testing.assert_allclose(report.energy_pj, native.energy_pj, rtol=1e-6)
