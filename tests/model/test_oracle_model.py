"""The native model against the real Timeloop v3.0.3 on every oracle case.

Cycles, MACs and every level's per-data-space reads/fills/updates must equal
Timeloop's exactly; total and per-level energy must be within 0.5% (they are
in fact equal to ~1e-15), with the case's ERT and with Timeloop's built-in
energy model (``builtin_pat``). Both the vectorised batch model and the literal
reference walk are checked.
"""

from __future__ import annotations

import pytest

from tests.conftest import case_inputs, case_summary, oracle_cases
from tnx_timeloop import api

CASES = oracle_cases()


def _check_counts(report, summary):
    storage = [lv for lv in summary["levels"] if lv["class"] == "storage"]
    by_name = {lv["name"]: lv for lv in storage}
    assert int(report.macs) == summary["macs"]
    for i, name in enumerate(report.level_names):
        expected = by_name[name]
        for t, ds in enumerate(report.dataspace_names):
            e = expected["dataspaces"][ds]
            assert report.reads[0, i, t] == e["reads_per_instance"], (name, ds, "reads")
            assert report.fills[0, i, t] == e["fills_per_instance"], (name, ds, "fills")
            assert report.updates[0, i, t] == e["updates_per_instance"], (name, ds, "updates")
            if e["kept"]:
                assert report.tile_words[0, i, t] == e["utilized_capacity"], (name, ds, "capacity")
                assert report.partition_words[0, i, t] == e["partition_size"], (name, ds, "partition")
                assert report.utilized_instances[0, i] == e["utilized_instances"], (name, "instances")


@pytest.mark.parametrize("method", ["batch", "reference"])
@pytest.mark.parametrize("case", CASES)
def test_counts_cycles_energy_with_ert(case, method):
    if method == "reference" and case in ("ey_vgg02_layer5", "mapper_ey_vgg02_layer5"):
        pytest.skip("the literal walk of this large layer takes minutes; the batch model covers it")
    summary = case_summary(case)
    report = api.evaluate(api.load_spec(case_inputs(case)), method=method)
    assert report.valid[0], report.reason(0)
    assert int(report.cycles[0]) == summary["cycles"]
    _check_counts(report, summary)
    assert report.energy_pj[0] == pytest.approx(summary["energy_pJ"], rel=1e-9)
    for i, name in enumerate(report.level_names):
        assert report.energy_by_level_pj[0, i] == pytest.approx(summary["energy_by_component_pJ"][name], rel=1e-9, abs=1e-6)
    assert report.compute_energy_pj[0] == pytest.approx(summary["energy_by_component_pJ"][report.compute_name], rel=1e-9)
    assert float(report.utilization[0]) == pytest.approx(summary["utilization"], abs=0.005)


@pytest.mark.parametrize("case", oracle_cases("model"))
def test_energy_with_timeloop_builtin_model(case):
    summary = case_summary(case)
    builtin = summary["_raw"]["builtin_pat"]
    report = api.evaluate(api.load_spec(case_inputs(case, with_energy=False)))
    assert report.energy_source == "timeloop-builtin"
    assert report.energy_pj[0] == pytest.approx(builtin["energy_pJ"], rel=1e-9)
    for i, name in enumerate(report.level_names):
        assert report.energy_by_level_pj[0, i] == pytest.approx(builtin["energy_by_component_pJ"][name], rel=1e-9, abs=1e-6)
