"""Exit statistics: validation errors name the file and entry; round trip; the assumption model."""

from __future__ import annotations

import copy

import pytest
from eenn_data import TINY_STATS, WORKLOADS

from tnx_timeloop.errors import SpecError
from tnx_timeloop.frontends.exit_stats import (
    calibrated_power_curve,
    check_statistics,
    load_statistics,
    parse_statistics,
    write_statistics,
)


def _bad(mutate):
    data = copy.deepcopy(TINY_STATS)
    mutate(data)
    return data


def test_rate_above_one_names_the_entry(tmp_path):
    data = _bad(lambda d: d["curves"][0]["rate"].__setitem__(1, 1.2))
    with pytest.raises(SpecError, match=r"curves\[0\]\.rate\[1\].*outside \[0, 1\]"):
        parse_statistics(data)
    path = tmp_path / "bad.stats.yaml"
    import yaml

    path.write_text(yaml.safe_dump({"eenn_statistics": data}))
    with pytest.raises(SpecError, match=r"bad\.stats\.yaml:eenn_statistics\.curves\[0\]\.rate\[1\]"):
        load_statistics(path)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["curves"][0].__setitem__("rate", [0.2, 0.5]), "must not grow"),
    (lambda d: d["curves"][0].__setitem__("rate", [0.5]), "1 rates for 2 thresholds"),
    (lambda d: d["curves"][0].__setitem__("exit_accuracy", [0.9, None]), "needs an exit accuracy"),
    (lambda d: d["curves"][0].update(rate=[0.9, 0.6], exit_accuracy=[0.99, 0.99]), "inconsistent with accuracy"),
    (lambda d: d.__setitem__("thresholds", [0.9, 0.5]), "must increase"),
    (lambda d: d.pop("provenance"), "missing key 'provenance'"),
    (lambda d: d["provenance"].__setitem__("kind", "measured"), "must name the model and the data"),
    (lambda d: d["provenance"].__setitem__("kind", "publication"), "citation"),
    (lambda d: d["provenance"].__setitem__("kind", "guess"), "unknown provenance kind"),
    (lambda d: d["curves"].pop(1), "no curve for the final classifier"),
    (lambda d: d["curves"].append(copy.deepcopy(d["curves"][0])), "repeats entry 0"),
    (lambda d: d.__setitem__("criterion", "margin"), "unknown criterion"),
])
def test_validation_errors(mutate, message):
    with pytest.raises(SpecError, match=message):
        parse_statistics(_bad(mutate))


def test_all_problems_are_reported_together():
    def two(d):
        d["curves"][0]["rate"][0] = 2.0
        d["curves"][1]["accuracy"] = -0.5

    with pytest.raises(SpecError) as info:
        parse_statistics(_bad(two))
    assert "2 problem(s)" in str(info.value)


def test_statistics_must_match_the_declared_exits(tiny_stats):
    with pytest.raises(SpecError, match="exit 'c1' is not declared by the network"):
        check_statistics(tiny_stats, ["c2"])
    with pytest.raises(SpecError, match="no statistics for the network's exit 'c2'"):
        check_statistics(tiny_stats, ["c1", "c2"])
    with pytest.raises(SpecError, match="statistics are for network 'tiny', not 'other'"):
        check_statistics(tiny_stats, ["c1"], network="other")
    check_statistics(tiny_stats, ["c1"], network="tiny", heads={"c1": ["s"]}, precisions=["int8", "int4"])


def test_lookup_prefers_the_most_specific_curve():
    data = copy.deepcopy(TINY_STATS)
    specific = copy.deepcopy(data["curves"][0])
    specific.update({"backbone": "int4", "exit_precision": "int4", "accuracy": 0.5, "exit_accuracy": [0.85, 0.9]})
    data["curves"].append(specific)
    st = parse_statistics(data)
    assert st.lookup("c1", backbone="int4", exit_precision="int4").accuracy == 0.5
    assert st.lookup("c1", backbone="int8", exit_precision="int8").accuracy == 0.6
    with pytest.raises(SpecError, match="no statistics for exit 'nope'"):
        st.lookup("nope")


def test_write_load_round_trip(tmp_path, tiny_stats):
    path = write_statistics(tiny_stats, tmp_path / "s.stats.yaml", header="a header")
    again = load_statistics(path)
    assert again == tiny_stats
    assert path.read_text().startswith("# a header")


def test_calibrated_power_curve_mean_is_the_accuracy():
    thresholds = [0.1 + 0.9 * k / 2000 for k in range(2001)]
    rates, accs = calibrated_power_curve(0.8, thresholds, 10)
    assert rates[0] == pytest.approx(1.0)
    assert accs[0] == pytest.approx(0.8)
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))
    assert all(x is None or 0.8 - 1e-9 <= x <= 1.0 for x in accs)


@pytest.mark.parametrize("name", ["mobilenetv2-cifar10", "resnet20-cifar10", "resnet18-cifar10", "vgg11-cifar10",
                                  "vgg16-cifar10", "digits-cnn"])
def test_shipped_statistics_state_their_provenance(name):
    from tnx_timeloop.frontends.early_exit import load_network

    net = load_network(WORKLOADS / f"{name}.yaml")
    st = load_statistics(net.statistics_path())
    assert st.provenance.kind in ("measured", "publication", "assumption")
    assert len(st.provenance.text) > 40
    check_statistics(st, net.exit_names, network=net.name, heads={e.name: e.sizes for e in net.exits},
                     precisions=["fp32", "int8", "int4"])
