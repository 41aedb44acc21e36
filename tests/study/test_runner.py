"""Running studies: byte-identical results, journaled resume after an interrupt or a kill, refusals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from study_data import REPO, SWEEP, write_study

from tnx_timeloop.errors import SpecError
from tnx_timeloop.search.executors import LocalExecutor
from tnx_timeloop.study import store, tasks
from tnx_timeloop.study.config import load_study
from tnx_timeloop.study.runner import StudyInterrupted, describe_config_change, run_study

RESULT_FILES = ("results.csv", "breakdown.csv")


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Patch the task runners to record every execution (in this process: serial executor)."""
    calls: list[str] = []
    real = tasks._runners()

    def wrap(kind):
        def run(params, ctx):
            calls.append(f"{params.layer}@{params.arch_label}{params.variables}")
            return real[kind](params, ctx)
        return run

    monkeypatch.setattr(tasks, "_runners", lambda: {k: wrap(k) for k in real})
    return calls


def _read(folder, name="results.csv") -> bytes:
    return (folder / name).read_bytes()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted run of the tiny sweep (rendered), shared by the tests below."""
    folder = tmp_path_factory.mktemp("ref")
    cfg = load_study(write_study(folder, SWEEP))
    summary = run_study(cfg, folder / "out", executor=LocalExecutor(1))
    return folder / "out", summary


def test_same_seed_gives_byte_identical_csvs(tmp_path, reference):
    ref, summary = reference
    assert summary.computed == summary.total == 5 and summary.reused == 0
    cfg = load_study(write_study(tmp_path, SWEEP))
    run_study(cfg, tmp_path / "again", executor=LocalExecutor(2), render=False)
    for name in RESULT_FILES:
        assert _read(tmp_path / "again", name) == _read(ref, name), name
    header = _read(ref).decode().splitlines()[0].split(",")
    assert "seconds" not in header and "seed" in header  # wall times live in timing.csv
    assert (ref / "timing.csv").exists() and (ref / "results.parquet").exists()


def test_interrupt_then_resume_recomputes_nothing(tmp_path, reference, monkeypatch):
    ref, _ = reference
    calls = _counting(monkeypatch)
    cfg = load_study(write_study(tmp_path, SWEEP))
    out = tmp_path / "out"

    def stop_after_two(p):
        if p.computed == 2:
            raise KeyboardInterrupt

    with pytest.raises(StudyInterrupted, match="2 of 5 tasks"):
        run_study(cfg, out, executor=LocalExecutor(1), on_progress=stop_after_two)
    assert len(calls) == 2 and len(store.read_journal(out)) == 2
    assert json.loads((out / store.PROVENANCE).read_text())["runs"][-1]["status"] == "interrupted"
    done_first = list(calls)
    summary = run_study(cfg, out, resume=True, executor=LocalExecutor(1))
    assert (summary.reused, summary.computed, summary.run) == (2, 3, 2)
    assert len(calls) == 5 and not set(done_first) & set(calls[2:])  # nothing run twice
    for name in RESULT_FILES:
        assert _read(out, name) == _read(ref, name)
    # a third run finds everything done
    again = run_study(cfg, out, resume=True, executor=LocalExecutor(1), render=False)
    assert again.computed == 0 and len(calls) == 5


KILL_STUDY = """
name: kill-me
kind: sweep
workloads: [layers/conv3x3_c64m64_p14]
architectures: [{template: tt-kernel, grid: {rows: [8, 16, 32], cols: [8, 16]}}]
mapper: {budget: 1500}
"""


def test_killed_subprocess_resumes_to_the_same_results(tmp_path):
    study = write_study(tmp_path, KILL_STUDY)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "tnx_timeloop.cli", "study", "run", str(study), "--out", str(out), "--jobs", "1",
           "-q", "--no-report"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out / store.JOURNAL
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:  # SIGKILL once the first task is journaled
        if journal.exists() and journal.read_bytes().count(b"\n") >= 1:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait(timeout=60)
    if proc.returncode != -signal.SIGKILL:
        pytest.skip("the run finished before it could be killed (machine too fast for this study)")
    first = [e.key for e in store.read_journal(out)]
    assert 1 <= len(first) < 6
    res = subprocess.run([*cmd, "--resume"], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    entries = store.read_journal(out)
    assert len(entries) == 6 and len({e.key for e in entries}) == 6
    assert [e.key for e in entries if e.run == 1] == first  # kept, not recomputed
    assert all(e.run == 2 for e in entries if e.key not in first)
    run_study(load_study(study), tmp_path / "whole", executor=LocalExecutor(2), render=False)
    for name in RESULT_FILES:
        assert _read(out, name) == _read(tmp_path / "whole", name)


def test_changed_config_is_refused_on_resume(tmp_path):
    path = write_study(tmp_path, SWEEP)
    out = tmp_path / "out"
    cfg = load_study(path)

    def stop_at_once(p):
        if p.computed == 1:
            raise KeyboardInterrupt

    with pytest.raises(StudyInterrupted):
        run_study(cfg, out, executor=LocalExecutor(1), on_progress=stop_at_once)
    changed = load_study(write_study(tmp_path, SWEEP.replace("budget: 120", "budget: 130")))
    with pytest.raises(SpecError, match=r"mapper\.budget") as info:
        run_study(changed, out, resume=True, executor=LocalExecutor(1))
    assert "new --out folder" in str(info.value)
    assert len(store.read_journal(out)) == 1  # nothing of the other configuration was added


def test_changed_input_file_is_refused_on_resume(tmp_path):
    layer = (REPO / "workloads" / "layers" / "gemm64.yaml").read_text()
    (tmp_path / "gemm.yaml").write_text(layer)
    path = write_study(tmp_path, SWEEP.replace("layers/gemm64", "gemm.yaml"))
    out = tmp_path / "out"

    def stop_at_once(p):
        if p.computed == 1:
            raise KeyboardInterrupt

    with pytest.raises(StudyInterrupted):
        run_study(load_study(path), out, executor=LocalExecutor(1), on_progress=stop_at_once)
    (tmp_path / "gemm.yaml").write_text(layer + "\n# edited\n")
    with pytest.raises(SpecError, match="file contents"):
        run_study(load_study(path), out, resume=True, executor=LocalExecutor(1))


def test_existing_study_folder_needs_resume(tmp_path, reference):
    ref, _ = reference
    cfg = load_study(write_study(tmp_path, SWEEP))
    with pytest.raises(SpecError, match="--resume"):
        run_study(cfg, ref, executor=LocalExecutor(1))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.txt").write_text("x")
    with pytest.raises(SpecError, match="not empty"):
        run_study(cfg, tmp_path / "junk", executor=LocalExecutor(1))


def test_torn_journal_line_is_repaired(tmp_path):
    entry = store.JournalEntry("k1", 0, "a", 0.1, 1, {"rows": [{"x": 1}]})
    store.append_journal(tmp_path, entry)
    with open(tmp_path / store.JOURNAL, "a", encoding="utf-8") as fh:
        fh.write('{"key": "k2", "index": 1, "lab')  # a run killed mid-write
    assert [e.key for e in store.read_journal(tmp_path)] == ["k1"]
    assert store.repair_journal(tmp_path) > 0
    store.append_journal(tmp_path, store.JournalEntry("k2", 1, "b", 0.1, 2, {"rows": []}))
    assert [e.key for e in store.read_journal(tmp_path)] == ["k1", "k2"]


def test_describe_config_change_names_paths():
    old = {"mapper": {"budget": [1]}, "workloads": [{"file": {"sha256": "a"}}], "seeds": [0]}
    new = {"mapper": {"budget": [2]}, "workloads": [{"file": {"sha256": "b"}}], "seeds": [0, 1]}
    assert describe_config_change(old, new) == ["mapper.budget[0]", "seeds", "workloads[0].file (file contents)"]


def test_csv_cells_are_exact():
    text = store.rows_to_csv([{"a": 0.1, "b": None, "c": True, "d": [1, 2]}], ["a", "b", "c", "d"])
    assert text == "a,b,c,d\n0.1,,true,1 2\n"
