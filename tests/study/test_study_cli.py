"""``tnx study`` smoke tests: run (--json), resume, refusal, executor options."""

from __future__ import annotations

import json

from click.testing import CliRunner
from study_data import STUDIES, write_study

from tnx_timeloop.cli import cli


def test_run_resume_and_refuse(tmp_path):
    study = write_study(tmp_path, STUDIES["compare"])
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(cli, ["study", "run", str(study), "--out", str(out), "--jobs", "1", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["tasks"] == summary["computed"] == 1 and summary["run"] == 1
    assert (out / "report.md").exists()
    res = runner.invoke(cli, ["study", "run", str(study), "--out", str(out), "--json"])
    assert res.exit_code == 2 and "--resume" in res.output
    res = runner.invoke(cli, ["study", "run", str(study), "--out", str(out), "--resume", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["reused"] == 1 and json.loads(res.output)["computed"] == 0
    res = runner.invoke(cli, ["study", "run", str(study), "--out", str(tmp_path / "plain"), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "1 computed" in res.output and "report.md" in res.output


def test_executor_options_are_checked(tmp_path):
    study = write_study(tmp_path, STUDIES["compare"])
    runner = CliRunner()
    res = runner.invoke(cli, ["study", "run", str(study), "--out", str(tmp_path / "o"), "--executor", "dask"])
    assert res.exit_code == 2 and "--scheduler" in res.output and "dask scheduler" in res.output
    res = runner.invoke(cli, ["study", "run", str(study), "--out", str(tmp_path / "o"), "--scheduler", "tcp://x:1"])
    assert res.exit_code == 2 and "only used with --executor dask" in res.output
    res = runner.invoke(cli, ["study", "run", str(study), "--out", str(tmp_path / "o"), "--executor", "slurm"])
    assert res.exit_code == 2


def test_check_json(tmp_path):
    study = write_study(tmp_path, STUDIES["tnn-dse"])
    res = CliRunner().invoke(cli, ["study", "check", str(study), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["kind"] == "tnn-dse" and len(data["tasks"]) == 1 and len(data["config_hash"]) == 64
