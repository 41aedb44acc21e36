"""The mapper: constraints, mapspace, searchers, determinism, quality against Timeloop, tnx map."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import ORACLE, case_summary, oracle_cases
from tnx_timeloop import api
from tnx_timeloop.cli import cli
from tnx_timeloop.errors import SearchError, SpecError
from tnx_timeloop.mapper import MapSpace, parse_constraints, search_mappings
from tnx_timeloop.model.evaluate import evaluate_batch

MAPPER_CASES = oracle_cases("mapper")


def mapper_files(case):
    return sorted((ORACLE / case / "inputs").glob("*.yaml"))


@pytest.mark.parametrize("case", MAPPER_CASES)
def test_no_worse_than_timeloop(case):
    """`tnx map inputs/*.yaml` (the case's metrics, constraints, victory condition) beats or ties Timeloop's best."""
    spec = api.load_spec(mapper_files(case))
    result = api.search(spec, seed=0)
    best = case_summary(case)
    ours = (int(result.best_report.cycles[0]), float(result.best_report.energy_pj[0]))
    assert ours[0] <= best["cycles"]
    if ours[0] == best["cycles"]:
        assert ours[1] <= best["energy_pJ"] * (1 + 1e-9)
    assert result.seconds < case_summary(case)["_raw"]["wall_time_s"]


def _small_space():
    spec = api.load_spec(mapper_files("mapper_ey_conv5x5_c6m16"))
    return spec, parse_constraints(spec.arch, spec.problem, spec.constraints)


def test_default_search_finds_the_exhaustive_optimum_on_small_spaces():
    spec, cons = _small_space()
    exact = search_mappings(spec.arch, spec.problem, cons, objective="edp", algorithm="exhaustive", budget=10**6)
    assert exact.optimal
    hyb = search_mappings(spec.arch, spec.problem, cons, objective="edp", algorithm="hybrid", budget=3000, seed=3)
    assert hyb.best_report.edp[0] <= exact.best_report.edp[0] * 1.01
    for metric in ("latency", "energy"):
        ex = search_mappings(spec.arch, spec.problem, cons, objective=metric, algorithm="exhaustive", budget=10**6)
        hy = search_mappings(spec.arch, spec.problem, cons, objective=metric, algorithm="hybrid", budget=3000, seed=1)
        key = (lambda r: r.cycles[0]) if metric == "latency" else (lambda r: r.energy_pj[0])
        assert key(hy.best_report) <= key(ex.best_report) * 1.01


def test_seed_gives_bit_identical_results_whatever_the_jobs():
    spec = api.load_spec(mapper_files("mapper_s16_tt3"))
    a = api.search(spec, seed=11, budget=6000)
    b = api.search(spec, seed=11, budget=6000)
    c = api.search(spec, seed=11, budget=6000, jobs=2)
    assert a.best_mapping == b.best_mapping == c.best_mapping
    assert a.best_report.energy_pj[0] == c.best_report.energy_pj[0]
    d = api.search(spec, seed=12, budget=6000)
    assert d.best_mapping is not None


@pytest.mark.parametrize("algorithm", ["random", "random-pruned", "hybrid", "exhaustive"])
def test_every_searcher_returns_a_valid_mapping(algorithm):
    spec, cons = _small_space()
    r = search_mappings(spec.arch, spec.problem, cons, algorithm=algorithm, budget=1500, seed=0)
    assert r.best_report.valid[0] and r.evaluated <= 1500 + 4096
    assert r.algorithm == algorithm


def test_lexicographic_and_weighted_objectives():
    spec, cons = _small_space()
    lex = search_mappings(spec.arch, spec.problem, cons, objective=["delay", "energy"], algorithm="exhaustive", budget=10**6)
    lat = search_mappings(spec.arch, spec.problem, cons, objective="latency", algorithm="exhaustive", budget=10**6)
    assert lex.best_report.cycles[0] == lat.best_report.cycles[0]
    assert lex.best_report.energy_pj[0] <= lat.best_report.energy_pj[0]
    w = search_mappings(spec.arch, spec.problem, cons, objective={"energy": 1, "latency": 1}, algorithm="exhaustive", budget=10**6)
    edp = search_mappings(spec.arch, spec.problem, cons, objective="edp", algorithm="exhaustive", budget=10**6)
    assert w.best_report.edp[0] == pytest.approx(edp.best_report.edp[0])


def test_pruning_happens_before_evaluation_and_agrees_with_the_model():
    spec, cons = _small_space()
    space = MapSpace(spec.arch, spec.problem, cons)
    batch = space.sample(np.random.default_rng(0), 2000)
    pruned = space.prune(batch)
    report = evaluate_batch(spec.arch, spec.problem, batch)
    # everything the cheap checks keep, the model finds valid, and vice versa (min-util aside)
    assert (pruned.keep == report.valid).all()


def test_constraints_that_empty_the_space_are_named(tmp_path):
    spec = api.load_spec(mapper_files("mapper_s16_tt3"))
    bad = tmp_path / "c.yaml"
    bad.write_text("mapspace_constraints:\n  targets:\n  - {target: GlobalBuffer, type: temporal, factors: B=3}\n")
    spec = api.load_spec([*mapper_files("mapper_s16_tt3"), bad])
    with pytest.raises(SearchError, match="dimension B.*does not divide its bound 32"):
        api.search(spec)
    bad.write_text("mapspace_constraints:\n  targets:\n  - {target: L9, type: temporal, factors: B=2}\n")
    with pytest.raises(SpecError, match="unknown target 'L9'"):
        api.search(api.load_spec([*mapper_files("mapper_s16_tt3"), bad]))


def test_tnx_map_writes_a_mapping_tnx_model_reads(tmp_path):
    files = [str(p) for p in mapper_files("mapper_sb_conv3x3_n4")]
    r = CliRunner().invoke(cli, ["map", *files, "--out", str(tmp_path), "--json", "--budget", "4000"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert set(d["search"]) >= {"evaluated", "valid", "seconds", "algorithm", "seed", "optimal"}
    mapping = tmp_path / "tnx-mapper.map.yaml"
    inputs = ORACLE / "mapper_sb_conv3x3_n4" / "inputs"
    r2 = CliRunner().invoke(cli, ["model", str(inputs / "arch.yaml"), str(inputs / "problem.yaml"), str(mapping),
                                  str(inputs / "ERT.yaml"), "--json"])
    assert r2.exit_code == 0, r2.output
    assert json.loads(r2.output)["cycles"] == d["cycles"]
    assert json.loads(r2.output)["energy_pj"] == pytest.approx(d["energy_pj"])


def test_padding_a_prime_dimension_is_chosen_and_said(tmp_path):
    spec = api.load_spec([ORACLE / "s16_gemm64/inputs/arch.yaml", ORACLE / "s16_gemm64/inputs/problem.yaml"])
    problem = spec.problem.with_bounds(M=2, N=2, K=31)
    plain = search_mappings(spec.arch, problem, None, objective="latency", budget=4000)
    padded = search_mappings(spec.arch, problem, None, objective="latency", budget=4000, pad=True)
    assert padded.padding == {"K": (31, 32)} and padded.problem.bound("K") == 32
    assert padded.best_report.cycles[0] < plain.best_report.cycles[0]
    assert padded.summary()["padding"] == {"K": {"bound": 31, "padded_to": 32}}
