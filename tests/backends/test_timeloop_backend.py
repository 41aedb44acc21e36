"""The ``timeloop`` backend: stats.txt -> Report on every oracle run, and the subprocess plumbing.

Every oracle ``stats.txt`` (the Accelergy-ERT run, the built-in-energy ``builtin_pat`` run and
the mapper's best mapping) is converted into a :class:`Report` and compared with the native
model's report for the same inputs: counts, tiles, instances and cycles exactly, energies
within 1e-6 relative. That checks the parser bridge and the model at once.

The subprocess path is exercised with fake ``timeloop-model``/``timeloop-mapper`` scripts on
``PATH`` that copy an oracle output, crash, hang or print garbage. The real binaries are not
on any registry; the end-to-end tests run only where they are installed.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ORACLE, case_inputs, oracle_cases
from tnx_timeloop import api
from tnx_timeloop.backends import backend_names, get_backend
from tnx_timeloop.backends.native import NativeBackend
from tnx_timeloop.backends.timeloop_cli import TimeloopBackend, report_from_stats
from tnx_timeloop.backends.timeloop_stats import parse_stats_file
from tnx_timeloop.energy.tables import select_energy, timeloop_builtin_energy
from tnx_timeloop.errors import BackendError
from tnx_timeloop.model.report import Report

ENERGY_FIELDS = {"energy_pj", "energy_by_dataspace_pj", "compute_energy_pj"}


def _runs() -> list:
    runs = []
    for case in oracle_cases():
        if case.startswith("mapper_"):
            runs.append(pytest.param(case, ORACLE / case / "timeloop-mapper.stats.txt", "ert", id=case))
        else:
            runs.append(pytest.param(case, ORACLE / case / "timeloop-model.stats.txt", "ert", id=case))
            runs.append(pytest.param(case, ORACLE / case / "builtin_pat" / "timeloop-model.stats.txt", "builtin",
                                     id=f"{case}-builtin_pat"))
    return runs


def _energy(spec: api.Spec, kind: str):
    return select_energy(spec.arch, "auto", spec.energy_table) if kind == "ert" else timeloop_builtin_energy(spec.arch)


def _assert_reports_equal(native: Report, other: Report, *, energy_rtol: float = 1e-6) -> None:
    for name in native.__dataclass_fields__:
        a, b = getattr(native, name), getattr(other, name)
        if name in ENERGY_FIELDS:
            np.testing.assert_allclose(b, a, rtol=energy_rtol, atol=0, err_msg=name)
        elif isinstance(a, np.ndarray):
            assert a.dtype.kind == b.dtype.kind, name
            np.testing.assert_array_equal(b, a, err_msg=name)
        else:
            assert a == b, name


@pytest.mark.parametrize(("case", "stats_path", "kind"), _runs())
def test_every_oracle_stats_gives_the_native_report(case: str, stats_path: Path, kind: str) -> None:
    spec = api.load_spec(case_inputs(case))
    energy = _energy(spec, kind)
    native = NativeBackend().evaluate(spec.arch, spec.problem, spec.mapping, energy=energy)
    converted = report_from_stats(parse_stats_file(stats_path), spec.arch, spec.problem, energy=energy)
    _assert_reports_equal(native, converted)


def test_every_oracle_run_is_covered() -> None:
    model_cases = oracle_cases("model")
    assert len(_runs()) == 2 * len(model_cases) + len(oracle_cases("mapper")) > 60


@pytest.mark.parametrize("case", ["t8_conv1d_os", "ey_conv3x3_c16m16_p8_rs_hand", "sb_conv3x3_n4", "t8_conv1d_imperfect"])
def test_printed_energies_without_the_ert(case: str) -> None:
    """Without the energies Timeloop was given, the printed (0.01 pJ) figures are used."""
    spec = api.load_spec(case_inputs(case))
    energy = _energy(spec, "ert")
    native = NativeBackend().evaluate(spec.arch, spec.problem, spec.mapping, energy=energy)
    printed = report_from_stats(parse_stats_file(ORACLE / case / "timeloop-model.stats.txt"), spec.arch, spec.problem)
    np.testing.assert_allclose(printed.energy_by_dataspace_pj, native.energy_by_dataspace_pj, atol=0.005 + 1e-9, rtol=0)
    terms = native.energy_by_dataspace_pj.size + 1
    assert abs(printed.energy_pj[0] - native.energy_pj[0]) <= 0.005 * terms
    assert printed.energy_source.startswith("timeloop stats.txt")
    np.testing.assert_array_equal(printed.reads, native.reads)
    np.testing.assert_array_equal(printed.level_cycles, native.level_cycles)


def test_wrong_energies_are_an_error_not_a_number() -> None:
    spec = api.load_spec(case_inputs("t8_conv1d_os"))
    stats = parse_stats_file(ORACLE / "t8_conv1d_os" / "timeloop-model.stats.txt")
    with pytest.raises(BackendError, match=r"(?s)disagree .*\n  Buffer\.Weights: .* Timeloop printed 481\.41 pJ"):
        report_from_stats(stats, spec.arch, spec.problem, energy=timeloop_builtin_energy(spec.arch))


def test_stats_of_another_architecture_are_rejected() -> None:
    spec = api.load_spec(case_inputs("t8_conv1d_os"))
    stats = parse_stats_file(ORACLE / "sb_conv1x1" / "timeloop-model.stats.txt")
    with pytest.raises(BackendError, match=r"do not match the architecture's \['MainMemory', 'Buffer'\]"):
        report_from_stats(stats, spec.arch, spec.problem)


def test_stats_of_another_problem_are_rejected() -> None:
    spec = api.load_spec(case_inputs("t8_conv1d_os"))
    stats = parse_stats_file(ORACLE / "t8_conv1d_ws" / "timeloop-model.stats.txt")
    bigger = spec.problem.with_bounds(P=32)
    with pytest.raises(BackendError, match="computed 48 MACs, the problem has 96"):
        report_from_stats(stats, spec.arch, bigger)


# --------------------------------------------------------------------------- registry


def test_registry_lists_every_backend() -> None:
    assert backend_names() == ["accelforge", "native", "pytimeloop", "timeloop"]
    with pytest.raises(BackendError, match=r"unknown backend 'timeloopp'; choose one of \['accelforge', 'native'"):
        get_backend("timeloopp")


@pytest.mark.skipif(shutil.which("timeloop-model") is not None, reason="timeloop-model is installed here")
def test_missing_timeloop_is_explained(monkeypatch) -> None:
    assert not TimeloopBackend().available()
    with pytest.raises(BackendError, match="'timeloop-model' is not on PATH; Timeloop v3 is not on any package registry"):
        get_backend("timeloop")


# --------------------------------------------------------------------------- fake binaries

FAKE = """#!{python}
import os, shutil, sys, time
from pathlib import Path
mode = os.environ.get("FAKE_TL_MODE", "copy")
Path("argv.txt").write_text("\\n".join(sys.argv[1:]))
missing = [a for a in sys.argv[1:] if not Path(a).is_file()]
if missing:
    sys.stderr.write(f"ERROR: cannot open {{missing}}\\n"); sys.exit(2)
prefix = Path(sys.argv[0]).name
if mode == "crash":
    print("Problem configuration complete.")
    sys.stderr.write("terminate called after throwing an instance of 'std::out_of_range'\\n")
    sys.exit(134)
if mode == "hang":
    time.sleep(60)
if mode == "garbage":
    Path(prefix + ".stats.txt").write_text("Buffer and Arithmetic Levels\\n----\\nLevel 0\\n-------\\n=== MACC ===\\n")
    sys.exit(0)
if mode == "silent":
    sys.exit(0)
src = Path(os.environ["FAKE_TL_DIR"])
for name in os.listdir(src):
    if name.startswith(prefix + "."):
        shutil.copy(src / name, name)
print("done")
"""


@pytest.fixture
def fake_timeloop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fake ``timeloop-model`` and ``timeloop-mapper`` first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("timeloop-model", "timeloop-mapper"):
        script = bin_dir / name
        script.write_text(FAKE.format(python=sys.executable))
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # run directories land in tmp_path
    return bin_dir


def _use(monkeypatch: pytest.MonkeyPatch, mode: str, case: str = "t8_conv1d_os") -> None:
    monkeypatch.setenv("FAKE_TL_MODE", mode)
    monkeypatch.setenv("FAKE_TL_DIR", str(ORACLE / case))


@pytest.mark.parametrize("case", ["t8_conv1d_os", "ey_conv1x1", "t8_conv1d_imperfect"])
def test_evaluate_through_a_fake_timeloop_model(case: str, fake_timeloop: Path, monkeypatch, tmp_path) -> None:
    _use(monkeypatch, "copy", case)
    spec = api.load_spec(case_inputs(case))
    energy = select_energy(spec.arch, "auto", spec.energy_table)
    backend = get_backend("timeloop")
    assert backend.available()
    report = backend.evaluate(spec.arch, spec.problem, spec.mapping, energy=energy)
    _assert_reports_equal(NativeBackend().evaluate(spec.arch, spec.problem, spec.mapping, energy=energy), report)
    assert not list(tmp_path.glob("tnx_timeloop_model_*")), "the run directory is removed after success"


def test_evaluate_through_api_with_backend_timeloop(fake_timeloop: Path, monkeypatch) -> None:
    _use(monkeypatch, "copy", "t16_gemm_m128n96k48")
    spec = api.load_spec(case_inputs("t16_gemm_m128n96k48"))
    assert api.evaluate(spec, backend="timeloop").to_dict() == api.evaluate(spec).to_dict()


def test_the_fake_sees_the_written_inputs(fake_timeloop: Path, monkeypatch, tmp_path) -> None:
    _use(monkeypatch, "copy")
    spec = api.load_spec(case_inputs("t8_conv1d_os"))
    backend = TimeloopBackend(keep_workdir=True)
    backend.evaluate(spec.arch, spec.problem, spec.mapping, energy=select_energy(spec.arch, "auto", spec.energy_table))
    (workdir,) = tmp_path.glob("tnx_timeloop_model_*")
    assert (workdir / "argv.txt").read_text().split() == ["arch.yaml", "problem.yaml", "mapping.yaml", "ERT.yaml",
                                                          "ART.yaml"]
    assert "done" in (workdir / "timeloop-model.log").read_text()


@pytest.mark.parametrize(
    ("mode", "pattern"),
    [
        ("crash", r"timeloop-model failed\ncommand: timeloop-model arch\.yaml .*\nexit status: 134\n"
                  r"working directory \(kept\): .*\nlast output:\nterminate called"),
        ("garbage", r"timeloop-model\.stats\.txt:.*(truncated file|missing)"),
        ("silent", r"timeloop-model wrote no timeloop-model\.stats\.txt\ncommand: .*\nexit status: 0"),
    ],
)
def test_failures_name_command_status_log_and_workdir(mode, pattern, fake_timeloop, monkeypatch, tmp_path) -> None:
    _use(monkeypatch, mode)
    spec = api.load_spec(case_inputs("t8_conv1d_os"))
    with pytest.raises(BackendError, match=pattern) as info:
        TimeloopBackend().evaluate(spec.arch, spec.problem, spec.mapping, energy=timeloop_builtin_energy(spec.arch))
    workdir = Path(info.value.workdir)
    assert workdir.is_dir() and (workdir / "arch.yaml").is_file(), "the run directory is kept on failure"


def test_timeout_kills_the_run_and_keeps_the_directory(fake_timeloop, monkeypatch) -> None:
    _use(monkeypatch, "hang")
    spec = api.load_spec(case_inputs("t8_conv1d_os"))
    with pytest.raises(BackendError, match=r"timeloop-model timed out after 1 s") as info:
        TimeloopBackend(timeout_s=1).evaluate(spec.arch, spec.problem, spec.mapping,
                                              energy=timeloop_builtin_energy(spec.arch))
    assert Path(info.value.workdir).is_dir()


def test_missing_binary_is_a_backend_error(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    spec = api.load_spec(case_inputs("t8_conv1d_os"))
    backend = TimeloopBackend(model_command="no-such-timeloop-model")
    assert not backend.available()
    with pytest.raises(BackendError, match="'no-such-timeloop-model' not found"):
        backend.evaluate(spec.arch, spec.problem, spec.mapping, energy=timeloop_builtin_energy(spec.arch))


@pytest.mark.parametrize("case", ["mapper_ws_conv1x1", "mapper_s16_tt3"])
def test_search_through_a_fake_timeloop_mapper(case: str, fake_timeloop, monkeypatch) -> None:
    _use(monkeypatch, "copy", case)
    spec = api.load_spec(case_inputs(case) + sorted((ORACLE / case / "inputs").glob("constraints_*.yaml")))
    energy = select_energy(spec.arch, "auto", spec.energy_table)
    mapping, report = TimeloopBackend().search(spec.arch, spec.problem, spec.constraints, spec.mapper, energy=energy)
    assert mapping == spec.mapping  # the map.yaml the fake copied
    _assert_reports_equal(NativeBackend().evaluate(spec.arch, spec.problem, mapping, energy=energy), report)


# --------------------------------------------------------------------------- the real thing

needs_timeloop = pytest.mark.skipif(
    shutil.which("timeloop-model") is None or os.environ.get("FAKE_TL_MODE") is not None,
    reason="timeloop-model is not installed (Timeloop v3 is built from source; no registry has it)",
)


@needs_timeloop
@pytest.mark.parametrize("case", ["t8_conv1d_os", "t8_conv1d_imperfect", "ey_conv3x3_c16m16_p8_rs_hand", "s16_tt3"])
def test_real_timeloop_model_matches_native(case: str) -> None:
    spec = api.load_spec(case_inputs(case))
    energy = select_energy(spec.arch, "auto", spec.energy_table)
    report = TimeloopBackend().evaluate(spec.arch, spec.problem, spec.mapping, energy=energy)
    _assert_reports_equal(NativeBackend().evaluate(spec.arch, spec.problem, spec.mapping, energy=energy), report)


@needs_timeloop
def test_real_timeloop_mapper_returns_a_valid_mapping() -> None:
    if shutil.which("timeloop-mapper") is None:
        pytest.skip("timeloop-mapper is not installed")
    case = "mapper_s16_tt3"
    spec = api.load_spec(case_inputs(case) + sorted((ORACLE / case / "inputs").glob("constraints_*.yaml")))
    energy = select_energy(spec.arch, "auto", spec.energy_table)
    mapping, report = TimeloopBackend().search(spec.arch, spec.problem, spec.constraints, spec.mapper, energy=energy)
    _assert_reports_equal(NativeBackend().evaluate(spec.arch, spec.problem, mapping, energy=energy), report)
