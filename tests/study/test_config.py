"""Study files: every shipped study validates; bad files give located, complete errors (no traceback)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from study_data import REPO, STUDIES, SWEEP, write_study

from tnx_timeloop.cli import cli
from tnx_timeloop.errors import SpecError, SpecErrors
from tnx_timeloop.study.config import KINDS, load_study
from tnx_timeloop.study.tasks import expand_tasks

SHIPPED = sorted((REPO / "studies").glob("*.yaml"))


def test_the_four_shipped_studies_exist():
    names = {p.stem for p in SHIPPED}
    assert {"tnn-dse", "eenn-multicore", "eyeriss-validation", "native-vs-timeloop"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_studies_validate_and_expand(path):
    cfg = load_study(path)
    tasks = expand_tasks(cfg)
    assert tasks and cfg.kind in KINDS
    assert [t.index for t in tasks] == list(range(len(tasks)))
    assert len({t.key for t in tasks}) == len(tasks)


@pytest.mark.parametrize("kind", sorted(STUDIES))
def test_tiny_studies_validate(tmp_path, kind):
    cfg = load_study(write_study(tmp_path, STUDIES[kind]))
    assert cfg.kind == kind
    assert len(cfg.config_hash) == 64


def _error(tmp_path, text) -> SpecError:
    path = write_study(tmp_path, text)
    with pytest.raises(SpecError) as info:
        expand_tasks(load_study(path))
    return info.value


def test_unknown_key_suggests_the_right_one(tmp_path):
    err = _error(tmp_path, SWEEP.replace("workloads:", "workload:"))
    text = str(err)
    assert "study.yaml" in text and "workload" in text
    assert "did you mean 'workloads'" in text
    assert "missing key 'workloads'" in text  # every problem is collected, not only the first
    assert isinstance(err, SpecErrors)


def test_wrong_type_names_the_key_path_and_line(tmp_path):
    err = _error(tmp_path, SWEEP.replace("budget: 120", "budget: many"))
    assert "mapper.budget" in str(err)
    assert "(line 8)" in str(err)
    assert "expected an integer" in str(err)


def test_missing_file_says_where_it_was_looked_for(tmp_path):
    err = _error(tmp_path, SWEEP.replace("layers/gemm64", "layers/no-such-layer"))
    assert "workloads[0]" in str(err) and "not found" in str(err) and "library" in str(err)


def test_unknown_kind_lists_the_kinds(tmp_path):
    err = _error(tmp_path, SWEEP.replace("kind: sweep", "kind: sweeep"))
    assert "did you mean 'sweep'" in str(err) and "native-vs-timeloop" in str(err)


def test_unknown_template_variable(tmp_path):
    err = _error(tmp_path, SWEEP.replace("rows: [8, 16]", "rowz: [8, 16]"))
    assert "unknown template variable 'rowz'" in str(err) and "did you mean 'rows'" in str(err)


def test_malformed_yaml_gives_the_line(tmp_path):
    err = _error(tmp_path, "name: x\nkind: sweep\nworkloads: [a, b\n")
    assert "malformed YAML" in str(err) and "line" in str(err)


def test_bad_layer_name_of_a_network(tmp_path):
    err = _error(tmp_path, SWEEP.replace("workloads: [layers/gemm64]", "workloads: [{network: alexnet, layers: [CONV9]}]"))
    assert "CONV9" in str(err) and "CONV1" in str(err)


def test_tnn_model_errors_fail_before_the_run(tmp_path):
    text = STUDIES["tnn-dse"].replace("{file: tensorized/ttm-d4, set: {batch: 8}}",
                                      "{file: tensorized/ttm-d4, set: {batch: 8}, layers: [nope]}")
    err = _error(tmp_path, text)
    assert "models[0].layers" in str(err) and "nope" in str(err)


def test_cli_reports_errors_in_one_paragraph_with_status_2(tmp_path):
    path = write_study(tmp_path, SWEEP.replace("budget: 120", "budget: -3").replace("seeds: [0]", "seeds: [x]"))
    res = CliRunner().invoke(cli, ["study", "run", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert res.output.startswith("error: ") or "error: " in res.output
    assert "Traceback" not in res.output
    assert "mapper.budget" in res.output and "seeds[0]" in res.output
    assert not (tmp_path / "out").exists()


def test_cli_check_lists_tasks(tmp_path):
    path = write_study(tmp_path, SWEEP)
    res = CliRunner().invoke(cli, ["study", "check", str(path)])
    assert res.exit_code == 0, res.output
    assert "5 task(s)" in res.output and "tt-kernel rows=16 cols=16" in res.output
