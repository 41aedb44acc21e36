"""Reports: every kind renders tables, PNG+SVG plots and a report.md whose links all exist; re-rendering evaluates nothing."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from study_data import STUDIES, links, write_study

from tnx_timeloop.cli import cli
from tnx_timeloop.search.executors import LocalExecutor
from tnx_timeloop.study import tasks
from tnx_timeloop.study.config import load_study
from tnx_timeloop.study.runner import StudyInterrupted, run_study

EXPECTED_PLOTS = {
    "sweep": ("pareto-gemm64", "breakdown-gemm64-native", "roofline", "heatmap-tt-kernel-gemm64"),
    "native-vs-timeloop": ("pareto-gemm64", "breakdown-gemm64-native", "roofline"),
    "tnn-dse": ("pareto-ttm-d4-inference-seed0", "layers-ttm-d4-inference-seed0", "heatmap-ttm-d4-inference-seed0"),
    "eenn": ("pareto-digits-cnn-quad-core-edge-tpu-onchip-seed0",),
    "compare": ("errors-tpu-v1-seed0", "layers-tpu-v1-seed0"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each tiny study run once (serially), keyed by kind."""
    out = {}
    for kind, text in STUDIES.items():
        folder = tmp_path_factory.mktemp(kind)
        cfg = load_study(write_study(folder, text))
        run_study(cfg, folder / "out", executor=LocalExecutor(1))
        out[kind] = folder / "out"
    return out


@pytest.mark.parametrize("kind", sorted(STUDIES))
def test_report_renders_with_every_file(runs, kind):
    out = runs[kind]
    report = out / "report.md"
    text = report.read_text()
    for name in ("study.yaml", "config.json", "manifest.json", "provenance.json", "journal.jsonl", "results.csv",
                 "results.parquet", "timing.csv"):
        assert (out / name).exists(), name
    for stem in EXPECTED_PLOTS[kind]:
        assert (out / "plots" / f"{stem}.png").exists() and (out / "plots" / f"{stem}.svg").exists(), stem
        assert f"plots/{stem}.png" in text
    targets = links(report)
    assert targets
    for t in targets:
        assert (out / t).exists(), t
    for md in (out / "tables").glob("*.md"):
        assert f"tables/{md.name}" in text
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["tnx_timeloop"]["version"] and prov["python"]["version"] and prov["seeds"] == [0]
    assert {"numpy", "matplotlib"} <= set(prov["dependencies"]) and prov["time_utc"].endswith("+00:00")
    assert "## Provenance" in text and "tasks finished" in text


def test_timeloop_side_is_reported_as_skipped(runs):
    text = (runs["native-vs-timeloop"] / "report.md").read_text()
    if "Timeloop side of this comparison was skipped" not in text:
        pytest.skip("Timeloop is installed here")
    assert "not on PATH" in text
    rows = (runs["native-vs-timeloop"] / "results.csv").read_text()
    assert ",unavailable," in rows and ",ok," in rows


def test_eenn_report_shows_the_statistics_provenance_beside_figures(runs):
    text = (runs["eenn"] / "report.md").read_text()
    assert "## Exit statistics" in text and "measured" in text
    fig = text.index("plots/pareto-digits-cnn")
    assert "exit statistics of kind" in text[fig:fig + 2000]
    assert "plots/timeline-" in text and "trace.json" in text


def test_report_command_rerenders_without_evaluating(runs, monkeypatch):
    out = runs["sweep"]
    before = (out / "report.md").read_text()
    csv = (out / "results.csv").read_bytes()

    def boom():
        raise AssertionError("re-rendering must not run tasks")

    monkeypatch.setattr(tasks, "_runners", boom)
    (out / "report.md").unlink()
    res = CliRunner().invoke(cli, ["study", "report", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["finished"] == 5
    assert (out / "report.md").read_text() == before
    assert (out / "results.csv").read_bytes() == csv


def test_partial_report_after_an_interrupt(tmp_path):
    cfg = load_study(write_study(tmp_path, STUDIES["sweep"]))

    def stop(p):
        if p.computed == 2:
            raise KeyboardInterrupt

    with pytest.raises(StudyInterrupted):
        run_study(cfg, tmp_path / "out", executor=LocalExecutor(1), on_progress=stop)
    res = CliRunner().invoke(cli, ["study", "report", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    text = (tmp_path / "out" / "report.md").read_text()
    assert "Partial results: 2 of 5 tasks" in text and "--resume" in text


def test_report_of_a_folder_without_a_study(tmp_path):
    res = CliRunner().invoke(cli, ["study", "report", str(tmp_path)])
    assert res.exit_code == 2 and "not a study results folder" in res.output


def test_report_takes_new_report_settings_but_not_a_new_configuration(runs, tmp_path):
    out = runs["compare"]
    retitled = write_study(tmp_path, STUDIES["compare"] + "report: {title: A new title}\n")
    res = CliRunner().invoke(cli, ["study", "report", str(out), "--study", str(retitled)])
    assert res.exit_code == 0, res.output
    assert (out / "report.md").read_text().startswith("# A new title")
    other = write_study(tmp_path, STUDIES["compare"].replace("budget: 150", "budget: 151"), "other.yaml")
    res = CliRunner().invoke(cli, ["study", "report", str(out), "--study", str(other)])
    assert res.exit_code == 2 and "mapper.budget" in res.output


def test_without_pyarrow_csv_is_written_and_parquet_is_said_skipped(runs, tmp_path, monkeypatch):
    import shutil
    import sys

    from tnx_timeloop.study.report import render_report
    from tnx_timeloop.study.runner import finalize_results

    out = tmp_path / "copy"
    shutil.copytree(runs["compare"], out)
    for f in out.glob("*.parquet"):
        f.unlink()
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    files = finalize_results(out)
    assert all(f.suffix == ".csv" for f in files) and (out / "results.csv").exists()
    render_report(out)
    assert "Parquet files: skipped (pyarrow is not installed" in (out / "report.md").read_text()


def test_agreement_section_when_timeloop_answers(tmp_path, monkeypatch):
    """With a stand-in for timeloop-model (the native backend), the report compares the two, ratio 1."""
    import tnx_timeloop.backends as backends
    from tnx_timeloop.backends.native import NativeBackend

    monkeypatch.setattr(backends, "get_backend", lambda name: NativeBackend())
    text = STUDIES["native-vs-timeloop"] + "evaluators: [native, timeloop-model]\n"
    cfg = load_study(write_study(tmp_path, text))
    run_study(cfg, tmp_path / "out", executor=LocalExecutor(1))
    report = (tmp_path / "out" / "report.md").read_text()
    assert "was skipped" not in report
    assert "| gemm64 | gemm64 | simple-weight-stationary | timeloop-model |" in report
    assert "| 1 | " in report  # cycles ratio 1.0
    assert (tmp_path / "out" / "plots" / "agreement-cycles.png").exists()
