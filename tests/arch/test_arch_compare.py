"""``tnx compare``: the published-figures data file, the comparison arithmetic (with a fake mapper), the CLI."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from tnx_timeloop.cli import cli
from tnx_timeloop.errors import SpecError
from tnx_timeloop.study import compare as cmp

DATA = cmp.load_published()


class FakeReport:
    """Just what compare reads from a Report: cycles = MACs / 100, 2 pJ/MAC of which 0.5 in DRAM, MACs/1000 DRAM reads."""

    def __init__(self, arch, problem):
        macs = problem.macs
        self.cycles = macs // 100
        self.compute_cycles = np.array([self.cycles])
        self.level_cycles = np.zeros((1, len(arch.storage)), dtype=np.int64)
        levels = [{"energy_pj": 0.0, "dataspaces": {"X": {"reads": 0, "fills": 0, "updates": 0}}} for _ in arch.storage]
        levels[0] = {"energy_pj": 0.5 * macs, "dataspaces": {"X": {"reads": macs / 1000, "fills": 0, "updates": 0}}}
        self._d = {"cycles": self.cycles, "energy_pj": 2.0 * macs, "utilization": 0.5, "valid": True,
                   "levels": levels, "compute": {"utilized_instances": 100}}

    def to_dict(self, i=0):
        return self._d


class FakeSearcher:
    def __init__(self):
        self.calls = []

    def __call__(self, arch, problem, constraints=None, **kwargs):
        self.calls.append((problem, constraints, kwargs))
        return SimpleNamespace(best_mapping=object(), best_report=FakeReport(arch, problem), evaluated=7)


def test_data_file_is_sound():
    assert cmp.validate_published(DATA) == []
    assert set(cmp.comparison_names(DATA)) >= {"eyeriss-alexnet", "eyeriss-vgg16", "simba-resnet50", "tpu-v1"}


def test_every_figure_has_a_source_and_location():
    sources = DATA["sources"]
    n = 0
    for comp in DATA["comparisons"].values():
        figs = list((comp.get("arch_figures") or {}).values())
        for run in comp["runs"]:
            figs += list((run.get("figures") or {}).values())
            if run.get("layers"):
                assert run["layers_source"]["source"] in sources and run["layers_source"]["where"]
        for fig in figs:
            assert fig["source"] in sources and fig["where"] and fig["if_far"]
            assert "page" in fig
            n += 1
    assert n >= 12
    for src in sources.values():
        assert src["citation"] and src["checked"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["comparisons"]["tpu-v1"]["arch_figures"]["peak_tops"].pop("source"), "missing 'source'"),
        (lambda d: d["comparisons"]["tpu-v1"]["arch_figures"]["peak_tops"].update(source="nowhere"), "not a key"),
        (lambda d: d["comparisons"]["tpu-v1"]["arch_figures"]["peak_tops"].pop("if_far"), "if_far"),
        (lambda d: d["comparisons"]["eyeriss-alexnet"]["runs"][0].pop("layers_source"), "layers_source"),
        (lambda d: d["comparisons"]["eyeriss-alexnet"]["runs"][0]["figures"].update(
            speed={"value": 1, "unit": "x", "source": "tpu-isca2017", "where": "x", "if_far": "x"}), "unknown figure"),
        (lambda d: d["sources"]["tpu-isca2017"].pop("checked"), "missing 'checked'"),
        (lambda d: d["comparisons"]["tpu-v1"].update(arch="no-such-arch"), "library names"),
        (lambda d: d["comparisons"]["tpu-v1"]["runs"][0].update(network="nowhere"), "no such file"),
    ],
)
def test_validation_catches_broken_data(mutate, message):
    data = copy.deepcopy(DATA)
    mutate(data)
    problems = cmp.validate_published(data)
    assert any(message in p for p in problems), problems


def test_alexnet_arithmetic_with_a_fake_mapper():
    fake = FakeSearcher()
    res = cmp.run_comparison("eyeriss-alexnet", budget=123, seed=5, searcher=fake)
    # one search per distinct layer, with the settings passed through
    assert len(fake.calls) == 5
    assert all(kw["budget"] == 123 and kw["seed"] == 5 and kw["objective"] == "edp" for _, _, kw in fake.calls)
    assert all(dict(zip(p.dimensions, p.bounds, strict=True))["N"] == 4 for p, _, _ in fake.calls)
    run = res.runs[0]
    counts = {"CONV1": 1, "CONV2": 2, "CONV3": 1, "CONV4": 2, "CONV5": 2}
    assert {lr.name: lr.count for lr in run.layers} == counts
    cycles = sum(lr.count * (lr.macs // 100) for lr in run.layers)
    assert run.cycles == cycles and run.macs == 4 * 665_784_864
    latency = cycles / 200e6
    figs = {f.key: f for f in run.figures}
    assert figs["frames_per_second"].modelled == pytest.approx(4 / latency)
    assert figs["frames_per_second"].published == 34.7
    assert figs["frames_per_second"].rel_error == pytest.approx(4 / latency / 34.7 - 1)
    assert figs["power_mw"].modelled == pytest.approx(1.5 * run.macs * 1e-12 / latency * 1e3)
    assert figs["dram_accesses_per_mac"].modelled == pytest.approx(1e-3)
    assert figs["macs_per_image"].modelled == 665_784_864 and not figs["macs_per_image"].far
    # far figures carry the recorded reasons; near ones do not
    dram = figs["dram_accesses_per_mac"]
    assert dram.far and "run-length" in dram.why
    assert all((f.why != "") == f.far for f in run.figures)
    assert "eyeriss-jssc2017" in dram.source and "Table V" in dram.source
    # per-layer figures are over the layer's count, against Table V
    conv2 = next(lr for lr in run.layers if lr.name == "CONV2")
    lat = {f.key: f for f in conv2.figures}["latency_ms"]
    assert lat.published == 41.9
    assert lat.modelled == pytest.approx(2 * (conv2.macs // 100) / 200e6 * 1e3)
    assert {f.key: f for f in conv2.figures}["active_pes"].modelled == 100
    assert dict(res.settings)["budget"] == 123
    assert res.assumptions and dict(res.sources)["eyeriss-jssc2017"].startswith("Y.-H. Chen")


def test_format_and_json():
    res = cmp.run_comparison("eyeriss-alexnet", budget=10, searcher=FakeSearcher())
    text = cmp.format_comparison(res)
    for needle in ("published vs modelled", "CONV5", "frames per second", "assumptions:", "why:", "[eyeriss-jssc2017]"):
        assert needle in text
    out = json.loads(json.dumps(res.to_dict()))
    assert out["name"] == "eyeriss-alexnet" and out["clock_hz"] == pytest.approx(2e8)
    fig = out["runs"][0]["figures"][0]
    assert {"key", "label", "unit", "published", "modelled", "rel_error", "source", "far", "why"} <= set(fig)
    assert out["runs"][0]["layers"][0]["published"]["latency_ms"] == 20.9


def test_multicore_and_arch_figures_with_a_fake_mapper():
    res = cmp.run_comparison("simba-resnet50", budget=10, searcher=FakeSearcher())
    assert res.clock_hz == pytest.approx(1.736e9)
    figs = {f.key: f for f in res.figures}
    latency_ms = res.runs[0].cycles / 1.736e9 * 1e3
    assert figs["latency_ms"].modelled == pytest.approx(latency_ms)
    assert figs["images_per_second"].modelled == pytest.approx(1e3 / latency_ms)
    tpu = cmp.run_comparison("tpu-v1", budget=10, searcher=FakeSearcher())
    peak = tpu.arch_figures[0]
    assert peak.key == "peak_tops" and peak.modelled == pytest.approx(2 * 65536 * 700e6 / 1e12)
    labels = [f.label for f in tpu.figures]
    assert len(set(labels)) == len(labels), "figures of several runs are told apart"


def test_no_mapping_is_an_error():
    def nothing(arch, problem, constraints=None, **kwargs):
        return SimpleNamespace(best_mapping=None, best_report=None, evaluated=3)

    with pytest.raises(Exception, match="raise --budget"):
        cmp.run_comparison("tpu-v1", budget=3, searcher=nothing)


def test_unknown_comparison():
    with pytest.raises(SpecError, match="eyeriss-alexnet"):
        cmp.run_comparison("nope", searcher=FakeSearcher())


def test_cli(monkeypatch):
    fake = FakeSearcher()
    monkeypatch.setattr(cmp, "search_mappings", fake)
    runner = CliRunner()
    res = runner.invoke(cli, ["compare", "eyeriss-vgg16", "--json", "--budget", "77", "--seed", "3", "-q"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["settings"]["budget"] == 77 and out["settings"]["seed"] == 3
    assert len(fake.calls) == 13 and all(kw["budget"] == 77 for _, _, kw in fake.calls)
    assert {f["key"] for f in out["runs"][0]["figures"]} == {"frames_per_second", "power_mw",
                                                             "dram_accesses_per_mac", "macs_per_image"}
    res = runner.invoke(cli, ["compare", "tpu-v1"])
    assert res.exit_code == 0 and "published vs modelled" in res.output
    res = runner.invoke(cli, ["compare"])
    assert res.exit_code == 0 and "simba-resnet50" in res.output
    res = runner.invoke(cli, ["compare", "nope"])
    assert res.exit_code == 2 and "choose one of" in res.output


def test_tpu_with_the_real_mapper():
    res = cmp.run_comparison("tpu-v1", budget=300)
    assert abs(res.arch_figures[0].rel_error) < 0.01
    for run in res.runs:
        (util,) = [f for f in run.figures if f.key == "utilization"]
        assert 0 < util.modelled <= 1
        assert all(layer.valid for layer in run.layers)
