"""Tests of the parsers for Timeloop's ``stats.txt`` and ``map.txt``.

The expected figures come from ``tests/data/oracle/*/summary.json``: each oracle folder is
one run of the real Timeloop v3.0.3, and its summary holds the run's figures at full
precision. ``stats.txt`` prints energies with two decimals, so those are compared to within
0.005 of the printed unit, or exactly to the summary's ``*_stats_txt`` copies of the
printed numbers. Counts are compared exactly.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tnx_timeloop.backends.timeloop_stats import (
    Loop,
    TimeloopStats,
    parse_map_file,
    parse_map_txt,
    parse_stats,
    parse_stats_file,
)
from tnx_timeloop.errors import BackendError

ORACLE = Path(__file__).resolve().parents[1] / "data" / "oracle"
V4_DESIGNS = Path(
    os.environ.get("TNX_TIMELOOP_V4_DESIGNS", "/work/shared/timeloop-designs/v04-example-designs")
)
PRINTED = 0.005 + 1e-9  # half a unit of the last printed decimal (two decimals)


def _oracle_runs() -> list:
    """One param per oracle ``stats.txt``: (stats path, summary, run kind)."""
    runs = []
    for summary_path in sorted(ORACLE.glob("*/summary.json")):
        case = summary_path.parent
        summary = json.loads(summary_path.read_text())
        for stats in sorted(case.glob("timeloop-*.stats.txt")):
            runs.append(pytest.param(stats, summary, "main", id=case.name))
        for stats in sorted(case.glob("builtin_pat/timeloop-*.stats.txt")):
            runs.append(pytest.param(stats, summary, "builtin_pat", id=f"{case.name}-builtin_pat"))
    return runs


RUNS = _oracle_runs()
MODEL_RUNS = [run for run in RUNS if "networks" in run.values[1]]
V4_STATS = sorted(V4_DESIGNS.glob("**/timeloop-mapper.stats.txt"))
needs_v4 = pytest.mark.skipif(not V4_STATS, reason=f"no v4 example outputs under {V4_DESIGNS}")


def _reference(summary: dict) -> dict:
    """The figures of the run: a mapper summary keeps them under ``best``."""
    return summary.get("best", summary)


def _loop_text(loop: Loop) -> str:
    end = f"{loop.bound},{loop.residual_bound}" if loop.residual_bound != loop.bound else f"{loop.bound}"
    return f"for {loop.dim} in [0:{end})" + (f" (Spatial-{loop.spatial})" if loop.spatial else "")


def test_every_oracle_case_has_stats() -> None:
    cases = {p.parent.name for p in ORACLE.glob("*/summary.json")}
    parsed = {run.values[0].parent.name for run in RUNS if run.values[2] == "main"}
    assert cases and parsed == cases
    model_cases = {run.values[0].parent.name for run in MODEL_RUNS if run.values[2] == "main"}
    assert {run.values[0].parent.parent.name for run in RUNS if run.values[2] == "builtin_pat"} == model_cases


# --------------------------------------------------------------------------- oracle figures


@pytest.mark.parametrize(("path", "summary", "run"), RUNS)
def test_headline_figures(path: Path, summary: dict, run: str) -> None:
    stats = parse_stats_file(path)
    ref = _reference(summary)
    assert stats.source == str(path)
    assert stats.cycles == ref["cycles"]
    assert stats.utilization == pytest.approx(ref["utilization"], abs=1e-12)
    assert stats.macs == ref["macs"]
    energy = summary["builtin_pat"]["energy_pJ"] if run == "builtin_pat" else ref["energy_pJ"]
    assert stats.energy_pj == pytest.approx(energy, rel=1e-6)
    assert abs(stats.energy_pj - energy) <= stats.energy_rounding_bound_pj


@pytest.mark.parametrize(("path", "summary", "run"), RUNS)
def test_levels_and_dataspaces(path: Path, summary: dict, run: str) -> None:
    stats = parse_stats_file(path)
    ref_levels = _reference(summary)["levels"]
    assert [level.name for level in stats.levels] == [level["name"] for level in ref_levels]
    for level, ref in zip(stats.levels, ref_levels, strict=True):
        assert level.kind == ref["class"]
        assert level.instances == ref["instances"]
        assert level.cycles == ref["cycles"]
        # Without ERT/ART only the energy and area specs change.
        same = [key for key in ref["specs_txt"] if run == "main" or not re.search("energy|area", key, re.I)]
        assert {key: level.specs[key] for key in same} == {key: ref["specs_txt"][key] for key in same}
        if level.kind == "arithmetic":
            assert level.index == 0 and level.dataspaces == ()
            assert level.utilized_instances == ref["utilized_instances"]
            assert level.computes == ref["computes"] == stats.macs
            if run == "main":
                assert level.energy_pj == pytest.approx(ref["energy_pJ"], abs=PRINTED)
            continue
        assert level.bandwidth_throttling == pytest.approx(ref["slowdown"], abs=PRINTED)
        assert [_loop_text(loop) for loop in level.loop_nest] == ref["loop_nest_txt"]
        kept = {name: ds for name, ds in ref["dataspaces"].items() if ds["kept"]}
        assert [ds.name for ds in level.dataspaces] == list(kept)
        for ds in level.dataspaces:
            expected = kept[ds.name]
            for name in (
                "partition_size",
                "utilized_capacity",
                "utilized_instances",
                "utilized_clusters",
                "reads_per_instance",
                "fills_per_instance",
                "updates_per_instance",
                "temporal_reductions_per_instance",
                "address_generations_per_cluster",
            ):
                assert getattr(ds, name) == expected[name], (level.name, ds.name, name)
            assert ds.read_bandwidth_per_instance_words_per_cycle == pytest.approx(
                expected["read_bandwidth_per_instance"], abs=PRINTED
            )
            assert ds.write_bandwidth_per_instance_words_per_cycle == pytest.approx(
                expected["write_bandwidth_per_instance"], abs=PRINTED
            )
            if run == "main":
                assert ds.energy_total_pj == expected["energy_total_pJ_stats_txt"]
                assert ds.energy_total_pj == pytest.approx(expected["energy_total_pJ"], abs=PRINTED)
                assert ds.energy_per_instance_pj == pytest.approx(
                    expected["energy_per_instance_pJ"], abs=PRINTED
                )
                assert ds.energy_per_scalar_access_pj == pytest.approx(
                    expected["energy_per_scalar_access_pJ"], abs=PRINTED
                )
            else:
                per_access = summary["builtin_pat"]["energy_per_scalar_access_pJ"][level.name][ds.name]
                assert ds.energy_per_scalar_access_pj == pytest.approx(per_access, abs=PRINTED)
        if run == "main":
            assert level.energy_pj == pytest.approx(ref["energy_pJ"], abs=PRINTED * len(level.dataspaces))


@pytest.mark.parametrize(("path", "summary", "run"), RUNS)
def test_energy_by_component(path: Path, summary: dict, run: str) -> None:
    stats = parse_stats_file(path)
    ref = summary["builtin_pat"] if run == "builtin_pat" else _reference(summary)
    expected = ref["energy_by_component_pJ"]
    got = stats.energy_by_component_pj()
    assert list(got) == list(expected)
    for component in (*stats.levels, *stats.networks):
        printed_terms = 1 + 3 * len(component.dataspaces)  # each rounded to 0.01 pJ
        assert got[component.name] == pytest.approx(expected[component.name], abs=PRINTED * printed_terms)
    if "fJ_per_compute_stats_txt" in ref:  # model summaries keep the printed table
        assert dict(stats.energy_breakdown_fj_per_compute) == ref["fJ_per_compute_stats_txt"]


@pytest.mark.parametrize(("path", "summary", "run"), MODEL_RUNS)
def test_networks(path: Path, summary: dict, run: str) -> None:
    stats = parse_stats_file(path)
    assert [net.name for net in stats.networks] == [net["name"] for net in summary["networks"]]
    for net, ref in zip(stats.networks, summary["networks"], strict=True):
        assert {key: net.specs[key] for key in ref["specs_txt"]} == ref["specs_txt"]
        assert [ds.name for ds in net.dataspaces] == list(ref["dataspaces_txt"])
        for ds in net.dataspaces:
            printed = ref["dataspaces_txt"][ds.name]
            assert ds.fanout == printed["Fanout"]
            assert ds.multicast_factor == printed["Multicast factor"]
            assert ds.ingresses == printed["Ingresses"]
            assert sum(ds.ingresses_by_multicast_scatter.values()) == pytest.approx(
                ds.ingresses, abs=0.01 * 8
            )
            assert ds.link_transfers == printed["Link transfers"]
            assert ds.spatial_reductions == printed["Spatial reductions"]
            assert ds.energy_total_pj == printed["Energy (total)"]
        if run == "main":
            assert net.energy_pj == ref["energy_pJ_stats_txt"]


@pytest.mark.parametrize(("path", "summary", "run"), RUNS)
def test_map_txt_agrees_with_stats(path: Path, summary: dict, run: str) -> None:
    stats = parse_stats_file(path)
    mapping = parse_map_file(path.with_name(path.name.replace(".stats.txt", ".map.txt")))
    storage = [level for level in stats.levels if level.kind == "storage"]
    assert [level.name for level in mapping] == [level.name for level in reversed(storage)]
    for map_level in mapping:
        level = stats.level(map_level.name)
        # map.txt also prints placeholder loops of bound 1, which stats.txt leaves out.
        assert tuple(loop for loop in map_level.loops if loop.bound > 1) == level.loop_nest
        assert dict(map_level.tile_words) == {ds.name: ds.utilized_capacity for ds in level.dataspaces}
        assert map_level.utilized_words == map_level.tile_words


@pytest.mark.parametrize(("path", "summary", "run"), RUNS)
def test_loop_bounds_cover_the_problem(path: Path, summary: dict, run: str) -> None:
    mapping = parse_map_file(path.with_name(path.name.replace(".stats.txt", ".map.txt")))
    covered: dict[str, int] = {}
    for level in mapping:
        for loop in level.loops:
            covered[loop.dim] = covered.get(loop.dim, 1) * loop.bound
    instance = summary["problem"]["instance"]
    if "t8_conv1d_imperfect" in str(path):  # P = 4 x 5 with a residual of 1: (4-1)*5 + 1
        covered["P"] = 16
    for dim, bound in covered.items():
        assert bound == instance[dim], dim


def test_imperfect_factor() -> None:
    mapping = parse_map_file(ORACLE / "t8_conv1d_imperfect" / "timeloop-model.map.txt")
    assert mapping[1].loops[0] == Loop("P", 5, None, 1)


def _all_stats_files() -> list[Path]:
    return [run.values[0] for run in RUNS] + V4_STATS


@pytest.mark.parametrize("path", _all_stats_files(), ids=lambda p: "/".join(p.parts[-4:-1]))
def test_energy_routes_agree(path: Path) -> None:
    """The level+network sum and the fJ/Compute total agree within their rounding."""
    stats = parse_stats_file(path)
    by_sum = sum(stats.energy_by_component_pj().values())
    terms = sum(1 + 3 * len(c.dataspaces) for c in (*stats.levels, *stats.networks))
    by_table = stats.energy_breakdown_fj_per_compute["Total"] * stats.macs / 1000
    assert abs(by_sum - by_table) <= 0.005 * terms + 0.005 * stats.macs / 1000
    for level in stats.levels:
        per_compute = stats.energy_breakdown_fj_per_compute[level.name] * stats.macs / 1000
        bound = 0.005 * (1 + 3 * len(level.dataspaces)) + 0.005 * stats.macs / 1000
        assert abs(level.energy_pj - per_compute) <= bound, level.name


# --------------------------------------------------------------------------- v4 output


@needs_v4
@pytest.mark.parametrize("path", V4_STATS, ids=lambda p: "/".join(p.parts[-4:-2]))
def test_v4_outputs_parse(path: Path) -> None:
    stats = parse_stats_file(path)
    arithmetic = stats.levels[0]
    assert arithmetic.kind == "arithmetic" and arithmetic.computes == stats.macs
    assert all(level.kind == "storage" for level in stats.levels[1:])
    assert 0 < stats.utilization <= 1
    mapping = parse_map_file(path.with_name("timeloop-mapper.map.txt"))
    names = {level.name for level in stats.levels}
    for map_level in mapping:
        if map_level.name in names:  # v4 also prints spatial-only levels, absent from stats.txt
            level = stats.level(map_level.name)
            assert dict(map_level.tile_words).keys() == {ds.name for ds in level.dataspaces}


_V4_STATS = """\
Buffer and Arithmetic Levels
----------------------------
Level 0
-------
=== mac ===

    SPECS
    -----
    Word bits             : 16
    Instances             : 1 (1*1)
    Compute energy        : 0.32 pJ

    STATS
    -----
    Utilized instances (max)     : 1
    Utilized instances (average) : 1
    Cycles                       : 4
    Algorithmic Computes (total) : 16
    Actual Computes (total)      : 4
    Energy (total)               : 1.26 pJ

Level 1
-------
=== Buffer ===

    SPECS
    -----
        Technology                      : SRAM
        Data storage size               : 64
        Instances                       : 1 (1*1)
        Non-power-gated utilization     : 100.00%
        Leakage energy (total)          : 0.03 pJ

    MAPPING
    -------
    Loop nest:
      for K in [0:16)

    STATS
    -----
    Cycles               : 16
    Bandwidth throttling : 0.25
    A:
        Partition size                                              : 16
        Data tile shape                                             : 16
        Max utilized data storage capacity                          : 4
        Max utilized Repr format storage capacity
            Rank 0 (metadata, payload): (4, 0)
        Utilized instances (max)                                    : 1
        Utilized instances (average)                                : 1.00
        Utilized clusters (max)                                     : 1
        Algorithmic scalar reads (per-instance)                     : 16
        Actual scalar reads (per-instance)                          : 4
        Actual scalar fills (per-instance)                          : 0
        Actual scalar updates (per-instance)                        : 0
        Temporal reductions (per-instance)                          : 0
        Address generations (per-cluster)                           : 4
        Energy (per-scalar-access)                                  : 1.96 pJ
        Energy (per-instance)                                       : 7.83 pJ
        Energy (total)                                              : 7.83 pJ
        Bandwidth Consumption Scale                                 : 1.00
        Average Shared Bandwidth (per-instance)                     : 0.25 words/cycle
            Breakdown (Data, Format): (1.00%, 0.00%
        Shared Bandwidth (total)                                    : 0.25 words/cycle

Networks
--------

Summary Stats
-------------
GFLOPs (@1GHz): 0.44
Utilization: 25.00%
Cycles: 16
Energy: 0.00 uJ

Algorithmic Computes = 16
fJ/Algorithmic-Compute
    mac             = 78.75
    Buffer          = 491.25
    Total           = 570.00

Actual Computes = 4
fJ/Compute
    mac             = 315.00
    Buffer          = 1965.00
    Total           = 2280.00
"""

_V4_MAP = """\
DRAM [ Weights:48 (21) Inputs:11 (11) ]
---------------------------------------
| for M in [0:4)

inter_PE_spatial [ ]
--------------------
|   for M in [0:4) (Spatial-X)

input_activation_reg [ Inputs:1 (1) ]
output_activation_reg [ Outputs:1 (1) ]
---------------------------------------
|     for Q in [0:9)
|       << Compute >>
"""


def test_v4_sparse_keys_map_onto_the_same_fields() -> None:
    stats = parse_stats(_V4_STATS, source="v4.stats.txt")
    assert stats.utilization == pytest.approx(0.25)
    assert stats.macs == 4 and stats.cycles == 16
    assert stats.networks == ()
    assert stats.summary["Algorithmic Computes"] == 16
    assert stats.energy_breakdown_fj_per_algorithmic_compute["Total"] == 570.0
    mac, buffer = stats.levels
    assert (
        mac.computes == 4 and mac.utilized_instances == 1 and mac.extra["Algorithmic Computes (total)"] == 16
    )
    ds = buffer.dataspace("A")
    assert (ds.utilized_capacity, ds.reads_per_instance, ds.fills_per_instance) == (4, 4, 0)
    assert ds.shared_bandwidth_per_instance_words_per_cycle == 0.25
    assert ds.read_bandwidth_per_instance_words_per_cycle is None
    assert ds.extra["Algorithmic scalar reads (per-instance)"] == 16
    assert ds.extra_details["Max utilized Repr format storage capacity"] == {
        "Rank 0 (metadata, payload)": "(4, 0)"
    }
    assert buffer.specs["Non-power-gated utilization"] == "100.00%"
    assert buffer.leakage_energy_pj == 0.03
    assert buffer.energy_pj == pytest.approx(7.86)
    assert stats.energy_pj == pytest.approx(2280.0 * 4 / 1000)


def test_v4_map_with_stacked_headers_and_compute_marker() -> None:
    levels = parse_map_txt(_V4_MAP)
    assert [level.name for level in levels] == [
        "DRAM",
        "inter_PE_spatial",
        "input_activation_reg",
        "output_activation_reg",
    ]
    assert levels[0].tile_words == {"Weights": 48, "Inputs": 11}
    assert levels[0].utilized_words == {"Weights": 21, "Inputs": 11}
    assert levels[1].tile_words == {} and levels[1].loops == (Loop("M", 4, "X", 4),)
    assert levels[2].loops == ()
    assert levels[3].loops == (Loop("Q", 9, None, 9),)


# --------------------------------------------------------------------------- bad input

_GOOD = ORACLE / "t8_conv1d_os" / "timeloop-model.stats.txt"


def _good_lines() -> list[str]:
    return _GOOD.read_text().splitlines(keepends=True)


def _line_of(lines: list[str], pattern: str, nth: int = 0) -> int:
    """0-based index of the ``nth`` line matching ``pattern``."""
    return [i for i, line in enumerate(lines) if re.search(pattern, line)][nth]


@pytest.mark.parametrize("keep_fraction", [0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95, 0.99])
def test_truncated_file_is_a_backend_error(keep_fraction: float) -> None:
    lines = _good_lines()
    text = "".join(lines[: int(len(lines) * keep_fraction)])
    with pytest.raises(BackendError, match=r"cut\.stats\.txt.*line \d+"):
        parse_stats(text, source="cut.stats.txt")


def test_every_truncation_fails_cleanly() -> None:
    lines = _good_lines()
    last = max(i for i, line in enumerate(lines) if line.strip())
    for cut in range(last):  # dropping only trailing blank lines would still be complete
        with pytest.raises(BackendError):
            parse_stats("".join(lines[: cut + 1]))


@pytest.mark.parametrize(
    ("pattern", "nth", "replacement"),
    [
        (r"Scalar reads \(per-instance\)", 1, "4x8"),
        (r"Partition size", 0, "18.5"),
        (r"Energy \(total\)\s+: [\d.]+ pJ", 2, "12.3.4 pJ"),
        (r"Energy \(per-scalar-access\)", 0, "9.44 pW"),
        (r"Fanout", 3, "many"),
        (r"^Cycles:", 0, "forty-eight"),
        (r"^\s+MACC\s+=", 0, "lots"),
    ],
)
def test_garbage_number_names_file_line_and_text(pattern: str, nth: int, replacement: str) -> None:
    lines = _good_lines()
    index = _line_of(lines, pattern, nth)
    key = re.split(r"[:=]", lines[index])[0]
    separator = "=" if "=" in lines[index] and ":" not in lines[index] else ":"
    lines[index] = f"{key}{separator} {replacement}\n"
    with pytest.raises(BackendError) as info:
        parse_stats("".join(lines), source="bad.stats.txt")
    message = str(info.value)
    assert "bad.stats.txt" in message
    assert f"(line {index + 1})" in message
    assert replacement in message


#: Entries kept as printed text when they are not numbers: specs and informational lines.
_FREE_FORM = {
    *("Area", "Area (total)", "Block size", "Cluster size", "Compute energy", "ConnectionType"),
    *("Drain latency", "Effective size", "Fill latency", "Min utilization", "Multiple buffering"),
    *("Size", "Vector access energy", "Word bits", "EDP(J*cycle)", "Energy", "GFLOPs (@1GHz)"),
    *("Op per Byte", "Optimal Op per Byte", "Total elementwise ops", "Total memory accesses required"),
    *("Total ops", "Total reduction ops", "Total scalar accesses"),
}


def test_every_corrupted_number_fails_cleanly() -> None:
    """Garbling the digits of any one line raises a BackendError naming that line.

    The only lines that may be garbled without an error are free-form ones (SPECS entries,
    the operational-intensity table, summary extras), and then the figures are unchanged.
    """
    lines = _good_lines()
    good = parse_stats_file(_GOOD)
    for index, line in enumerate(lines):
        if not re.search(r"\d", line):
            continue
        corrupted = "".join([*lines[:index], re.sub(r"\d", "x", line), *lines[index + 1 :]])
        try:
            stats = parse_stats(corrupted)
        except BackendError as err:
            assert f"(line {index + 1})" in str(err), (line, str(err))
            continue
        assert re.split(r"\s*:", line.strip())[0] in _FREE_FORM, line
        assert (stats.cycles, stats.macs, stats.energy_pj) == (good.cycles, good.macs, good.energy_pj), line
        assert [level.dataspaces for level in stats.levels] == [level.dataspaces for level in good.levels]


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        pytest.param(None, "", "empty stats file", id="empty"),
        pytest.param(
            "Buffer and Arithmetic Levels\n",
            "hello\nBuffer and Arithmetic Levels\n",
            r"line 1\): unexpected text before the first section",
            id="preamble",
        ),
        pytest.param(
            "for R in [0:3)", "for R in [0:3", r"MAPPING \(line 46\): expected a loop", id="bad-loop"
        ),
        pytest.param("=== Buffer ===", "Buffer", r"line 23\): expected '=== name ==='", id="no-name"),
        pytest.param("Instances                   : 1 (1*1)", "Instances : one", "Instances", id="instances"),
        pytest.param(
            "    Weights:\n", "    Weights:\n    Weights:\n", "duplicate entry 'Weights'", id="duplicate"
        ),
        pytest.param("Level 1\n", "Level one\n", r"line 21\): expected 'Level N'", id="level-heading"),
        pytest.param("    STATS\n", "    STATUS\n", r"missing block\(s\) \['STATS'\]", id="no-stats-block"),
    ],
)
def test_malformed_structure(old: str | None, new: str, match: str) -> None:
    text = new if old is None else _GOOD.read_text().replace(old, new, 1)
    with pytest.raises(BackendError, match=match):
        parse_stats(text)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "no level header"),
        ("| for P in [0:4)\n", r"line 1\): loop before the first level header"),
        ("Buffer [ Weights:3 (3) ]\n| for P in [0:four)\n", r"line 2\): expected a loop"),
        ("Buffer [ Weights:3 ]\n", r"line 1\): cannot read tile sizes 'Weights:3'"),
        ("Buffer [ Weights:3 (3) ]\nrandom words\n", r"line 2\): expected a level header"),
    ],
)
def test_malformed_map_txt(text: str, match: str) -> None:
    with pytest.raises(BackendError, match=match):
        parse_map_txt(text, source="bad.map.txt")


def test_missing_file_is_a_backend_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="cannot read"):
        parse_stats_file(tmp_path / "absent.stats.txt")


def test_spacing_and_crlf_are_tolerated() -> None:
    text = _GOOD.read_text()
    loose = re.sub(r" +: ", "   :   ", text).replace("\n", "\r\n")
    assert parse_stats(loose) == parse_stats(text)


def test_lookups_list_the_names() -> None:
    stats: TimeloopStats = parse_stats_file(_GOOD)
    assert stats.level("Buffer").dataspace("Outputs").updates_per_instance == 48
    with pytest.raises(KeyError, match="'MACC', 'Buffer', 'MainMemory'"):
        stats.level("GLB")
    with pytest.raises(KeyError, match="'Weights', 'Inputs', 'Outputs'"):
        stats.level("Buffer").dataspace("Psums")
