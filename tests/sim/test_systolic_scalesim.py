"""The systolic-array engine against SCALE-Sim 3.0.0 golden runs, hand-derived cases and bad input.

Every folder under ``tests/data/scalesim`` holding a ``scale.cfg`` is a golden case; the engine must
reproduce its ``COMPUTE_REPORT.csv`` and ``DETAILED_ACCESS_REPORT.csv``.  When the SCALE-Sim venv
(``/work/venvs/scalesim``) exists, a few random layers are also run through SCALE-Sim live.
"""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tnx_timeloop.errors import SpecError
from tnx_timeloop.sim.systolic import (
    SystolicArrayConfig,
    SystolicLayer,
    SystolicResult,
    load_scalesim_case,
    parse_scalesim_config,
    parse_scalesim_topology,
    simulate_systolic,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "scalesim"
CASES = sorted(p.parent for p in DATA.glob("*/scale.cfg"))
SCALESIM_PYTHON = Path("/work/venvs/scalesim/bin/python")

COMPUTE_COLUMNS = {  # COMPUTE_REPORT.csv column -> SystolicResult field
    "Total Cycles (incl. prefetch)": "total_cycles_incl_prefetch",
    "Total Cycles": "total_cycles",
    "Stall Cycles": "stall_cycles",
    "Overall Util %": "overall_util_pct",
    "Mapping Efficiency %": "mapping_efficiency_pct",
    "Compute Util %": "compute_util_pct",
}
ACCESS_COLUMNS = {  # DETAILED_ACCESS_REPORT.csv column -> SystolicResult field
    "SRAM IFMAP Start Cycle": "sram_ifmap_start_cycle",
    "SRAM IFMAP Stop Cycle": "sram_ifmap_stop_cycle",
    "SRAM IFMAP Reads": "sram_ifmap_read_words",
    "SRAM Filter Start Cycle": "sram_filter_start_cycle",
    "SRAM Filter Stop Cycle": "sram_filter_stop_cycle",
    "SRAM Filter Reads": "sram_filter_read_words",
    "SRAM OFMAP Start Cycle": "sram_ofmap_start_cycle",
    "SRAM OFMAP Stop Cycle": "sram_ofmap_stop_cycle",
    "SRAM OFMAP Writes": "sram_ofmap_write_words",
    "DRAM IFMAP Start Cycle": "dram_ifmap_start_cycle",
    "DRAM IFMAP Stop Cycle": "dram_ifmap_stop_cycle",
    "DRAM IFMAP Reads": "dram_ifmap_read_words",
    "DRAM Filter Start Cycle": "dram_filter_start_cycle",
    "DRAM Filter Stop Cycle": "dram_filter_stop_cycle",
    "DRAM Filter Reads": "dram_filter_read_words",
    "DRAM OFMAP Start Cycle": "dram_ofmap_start_cycle",
    "DRAM OFMAP Stop Cycle": "dram_ofmap_stop_cycle",
    "DRAM OFMAP Writes": "dram_ofmap_write_words",
}
PERCENT_FIELDS = {"overall_util_pct", "mapping_efficiency_pct", "compute_util_pct"}


def read_report(path: Path) -> dict[str, float]:
    """First data row of a SCALE-Sim report CSV as ``{column: value}`` (trailing comma dropped)."""
    with path.open(newline="") as handle:
        header, row = list(csv.reader(handle))[:2]
    return {name.strip(): float(value) for name, value in zip(header, row, strict=False) if name.strip()}


def simulate_case(folder: Path) -> SystolicResult:
    case = load_scalesim_case(folder)
    assert len(case.layers) == 1
    return simulate_systolic(case.config, case.layers[0])


def gemm_config(
    rows: int = 8, cols: int = 8, dataflow: str = "os", kb: int = 64, **kw: object
) -> SystolicArrayConfig:
    return SystolicArrayConfig(
        rows=rows,
        cols=cols,
        dataflow=dataflow,
        ifmap_sram_words=kb * 1024,
        filter_sram_words=kb * 1024,
        ofmap_sram_words=kb * 1024,
        **kw,
    )


# ----------------------------------------------------------------------------------------------
# Golden cases
# ----------------------------------------------------------------------------------------------


def test_golden_cases_present() -> None:
    assert len(CASES) >= 38


@pytest.mark.parametrize("folder", CASES, ids=[p.name for p in CASES])
def test_compute_report_matches(folder: Path) -> None:
    result = simulate_case(folder)
    report = read_report(folder / "COMPUTE_REPORT.csv")
    for column, name in COMPUTE_COLUMNS.items():
        ours = getattr(result, name)
        if name in PERCENT_FIELDS:
            assert ours == pytest.approx(report[column], rel=1e-9), column
        else:
            assert ours == report[column], column


@pytest.mark.parametrize("folder", CASES, ids=[p.name for p in CASES])
def test_detailed_access_report_matches(folder: Path) -> None:
    result = simulate_case(folder)
    report = read_report(folder / "DETAILED_ACCESS_REPORT.csv")
    mismatches = {
        column: (getattr(result, name), report[column])
        for column, name in ACCESS_COLUMNS.items()
        if getattr(result, name) != report[column]
    }
    assert not mismatches


@pytest.mark.parametrize("folder", CASES, ids=[p.name for p in CASES])
def test_summary_mapping_and_identities(folder: Path) -> None:
    """The fold structure of summary.json and the README's identities hold for our result."""
    result = simulate_case(folder)
    summary = json.loads((folder / "summary.json").read_text())
    mapping = summary["mapping"]
    assert (result.row_folds, result.col_folds, result.folds) == (
        mapping["row_folds"],
        mapping["col_folds"],
        mapping["folds"],
    )
    assert result.rows_per_fold_cycles == mapping["lines_per_fold"]
    assert result.total_cycles == result.folds * result.rows_per_fold_cycles - 1 + result.stall_cycles
    assert result.total_cycles_incl_prefetch == result.dram_ofmap_stop_cycle - min(
        result.dram_ifmap_start_cycle, result.dram_filter_start_cycle
    )
    assert result.macs == summary["layer"]["macs"]
    if summary["bandwidth"]["mode"] == "CALC":
        assert result.stall_cycles == 0


# ----------------------------------------------------------------------------------------------
# Hand-derived cases
# ----------------------------------------------------------------------------------------------


def test_os_4x4_gemm_16_cubed_by_hand() -> None:
    # 4 x 4 folds of K + R + C - 2 = 22 rows: 352 rows -> last cycle index 351.  The ifmap
    # (256 words) fills one CALC set of floor(65536 / 100) = 655 words at 10 words/cycle: 66
    # cycles before cycle 0.  256 outputs drain at 4 words/cycle from cycle 351: 64 lines, last
    # at 414.  Incl. prefetch = 414 + 66 = 480.
    result = simulate_systolic(gemm_config(4, 4, "os"), SystolicLayer.gemm(16, 16, 16))
    assert (result.total_cycles, result.stall_cycles, result.total_cycles_incl_prefetch) == (351, 0, 480)
    assert result.folds == 16 and result.rows_per_fold_cycles == 22
    assert result.dram_ifmap_start_cycle == result.dram_filter_start_cycle == -66
    assert (result.dram_ofmap_start_cycle, result.dram_ofmap_stop_cycle) == (351, 414)
    assert result.overall_util_pct == pytest.approx(16**3 * 100 / (351 * 16))


@pytest.mark.parametrize(
    ("dataflow", "lines"), [("os", 64 + 8 + 8 - 2), ("ws", 2 * 8 + 8 + 64 - 2), ("is", 2 * 8 + 8 + 64 - 2)]
)
def test_fold_lengths_by_hand(dataflow: str, lines: int) -> None:
    result = simulate_systolic(gemm_config(8, 8, dataflow), SystolicLayer.gemm(64, 64, 64))
    assert result.folds == 64
    assert result.rows_per_fold_cycles == lines
    assert result.total_cycles == 64 * lines - 1


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_closed_form_counts_when_operands_fit(dataflow: str) -> None:
    # M, N, K not multiples of the array: partial folds in both directions
    m, n, k, r, c = 37, 23, 29, 8, 4
    result = simulate_systolic(gemm_config(r, c, dataflow), SystolicLayer.gemm(m, n, k))
    row_extent, col_extent = {"os": (m, n), "ws": (k, n), "is": (k, m)}[dataflow]
    row_folds, col_folds = math.ceil(row_extent / r), math.ceil(col_extent / c)
    expected_sram = {
        "os": (m * k * col_folds, k * n * row_folds, m * n + row_folds * col_folds * (r + c)),
        "ws": (m * k * col_folds, k * n, m * n * row_folds),
        "is": (k * m, k * n * col_folds, m * n * row_folds),
    }[dataflow]
    assert (
        result.sram_ifmap_read_words,
        result.sram_filter_read_words,
        result.sram_ofmap_write_words,
    ) == expected_sram
    # everything fits the 32 K-word active halves: each word is fetched once, written once per K fold
    assert result.dram_ifmap_read_words == m * k
    assert result.dram_filter_read_words == k * n
    assert result.dram_ofmap_write_words == (m * n if dataflow == "os" else m * n * row_folds)
    assert result.mapping_efficiency_pct == pytest.approx(
        row_extent * col_extent / (row_folds * col_folds * r * c) * 100
    )


def test_gemm_equals_its_1x1_conv() -> None:
    config = gemm_config(8, 8, "ws", kb=4)
    gemm = simulate_systolic(config, SystolicLayer.gemm(64, 48, 40))
    conv = simulate_systolic(
        config, SystolicLayer.conv(ifmap_h=64, ifmap_w=1, filter_h=1, filter_w=1, channels=40, num_filters=48)
    )
    assert gemm == conv


def test_user_mode_operands_fit_active_half() -> None:
    # 4,096-word operands, 32 K-word active halves: no miss, no stall.  The first fill fetches the
    # whole prefetch matrix (os ifmap: 8 folds x 64 x 8 = 4,096 words) in 4,096 / 64 = 64 lines.
    config = gemm_config(
        8,
        8,
        "os",
        bandwidth_mode="user",
        ifmap_dram_words_per_cycle=64,
        filter_dram_words_per_cycle=64,
        ofmap_dram_words_per_cycle=64,
    )
    result = simulate_systolic(config, SystolicLayer.gemm(64, 64, 64))
    assert result.stall_cycles == 0 and result.total_cycles == 4991
    assert result.dram_ifmap_read_words == result.dram_filter_read_words == 4096
    assert result.dram_ifmap_start_cycle == -64 and result.dram_ifmap_stop_cycle == -1


def test_user_mode_small_buffers_stall() -> None:
    config = SystolicArrayConfig(
        rows=8,
        cols=8,
        dataflow="os",
        ifmap_sram_words=2048,
        filter_sram_words=2048,
        ofmap_sram_words=2048,
        bandwidth_mode="user",
        ifmap_dram_words_per_cycle=8,
        filter_dram_words_per_cycle=8,
        ofmap_dram_words_per_cycle=8,
    )
    result = simulate_systolic(config, SystolicLayer.gemm(64, 64, 64))
    # README: 19,434 stalls; DRAM lines of 8 words, 128-line prefetches, wrap-around re-fetches
    assert (result.total_cycles, result.stall_cycles) == (24425, 19434)
    assert result.dram_ifmap_read_words % 8 == 0 and result.dram_ifmap_read_words > 64 * 64
    assert result.dram_ofmap_write_words >= 64 * 64


def test_floor_ofmap_rule() -> None:
    scalesim = SystolicLayer.conv(
        ifmap_h=16, ifmap_w=16, filter_h=1, filter_w=1, channels=8, num_filters=12, stride=2
    )
    floor = SystolicLayer.conv(
        ifmap_h=16,
        ifmap_w=16,
        filter_h=1,
        filter_w=1,
        channels=8,
        num_filters=12,
        stride=2,
        ofmap_rule="floor",
    )
    assert (scalesim.ofmap_h, scalesim.ofmap_w) == (9, 9)
    assert (floor.ofmap_h, floor.ofmap_w) == (8, 8)
    config = gemm_config(4, 4, "os")
    assert simulate_systolic(config, scalesim).gemm_m == 81
    assert simulate_systolic(config, floor).gemm_m == 64


def test_result_is_frozen() -> None:
    result = simulate_systolic(gemm_config(4, 4), SystolicLayer.gemm(8, 8, 8))
    with pytest.raises(AttributeError):
        result.total_cycles = 0  # type: ignore[misc]
    assert result.compute_cycles_excl_stalls == result.total_cycles - result.stall_cycles


@settings(max_examples=80, deadline=None)
@given(
    dataflow=st.sampled_from(["os", "ws", "is"]),
    rows=st.sampled_from([1, 2, 4, 8]),
    cols=st.sampled_from([1, 3, 4, 8]),
    kbs=st.tuples(*[st.sampled_from([1, 2, 64])] * 3),
    user=st.booleans(),
    bws=st.tuples(*[st.sampled_from([1, 3, 8])] * 3),
    conv=st.booleans(),
    dims=st.tuples(st.integers(3, 14), st.integers(3, 14), st.integers(1, 5), st.integers(1, 20)),
    filt=st.sampled_from([1, 2, 3]),
    stride=st.sampled_from([1, 2, 3]),
)
def test_invariants(
    dataflow: str,
    rows: int,
    cols: int,
    kbs: tuple[int, int, int],
    user: bool,
    bws: tuple[int, int, int],
    conv: bool,
    dims: tuple[int, int, int, int],
    filt: int,
    stride: int,
) -> None:
    """Identities that hold for every SCALE-Sim run, on random small layers."""
    h, w, ch, nf = dims
    if conv:
        layer = SystolicLayer.conv(
            ifmap_h=h, ifmap_w=w, filter_h=filt, filter_w=filt, channels=ch, num_filters=nf, stride=stride
        )
    else:
        layer = SystolicLayer.gemm(h * w, nf, ch * filt)
    config = SystolicArrayConfig(
        rows=rows,
        cols=cols,
        dataflow=dataflow,
        ifmap_sram_words=kbs[0] * 1024,
        filter_sram_words=kbs[1] * 1024,
        ofmap_sram_words=kbs[2] * 1024,
        bandwidth_mode="user" if user else "calc",
        ifmap_dram_words_per_cycle=bws[0] if user else None,
        filter_dram_words_per_cycle=bws[1] if user else None,
        ofmap_dram_words_per_cycle=bws[2] if user else None,
    )
    result = simulate_systolic(config, layer)
    m, n, k = layer.gemm_mnk
    assert result.total_cycles == result.folds * result.rows_per_fold_cycles - 1 + result.stall_cycles
    assert result.total_cycles_incl_prefetch == result.dram_ofmap_stop_cycle - min(
        result.dram_ifmap_start_cycle, result.dram_filter_start_cycle
    )
    written = m * n * (1 if dataflow == "os" else result.row_folds)
    assert result.dram_ofmap_write_words >= written  # partial lines are over-counted, never under
    assert result.dram_ofmap_start_cycle >= 0 and result.dram_ofmap_stop_cycle >= result.total_cycles
    assert 0 < result.mapping_efficiency_pct <= 100 and 0 < result.compute_util_pct <= 100
    # Total Cycles is the last cycle index, so Overall Util can pass 100 % on tiny layers (as in SCALE-Sim)
    assert result.overall_util_pct == pytest.approx(m * n * k * 100 / (result.total_cycles * rows * cols))
    if user:
        assert result.dram_ifmap_read_words % bws[0] == 0 and result.dram_filter_read_words % bws[1] == 0
        assert result.dram_ifmap_start_cycle < 0 and result.dram_filter_start_cycle < 0
    else:
        assert result.stall_cycles == 0
        assert result.dram_filter_read_words >= k * n  # every filter word is fetched at least once


# ----------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------


def test_config_rejects_bad_fields_all_at_once() -> None:
    with pytest.raises(SpecError) as info:
        SystolicArrayConfig(
            rows=0, cols=8, dataflow="xs", ifmap_sram_words=64, filter_sram_words=1024, ofmap_sram_words=1024
        )
    text = str(info.value)
    assert "rows" in text and "'xs'" in text and "['os', 'ws', 'is']" in text and "ifmap_sram_words" in text


def test_config_user_mode_needs_bandwidths() -> None:
    with pytest.raises(SpecError, match="ofmap_dram_words_per_cycle"):
        SystolicArrayConfig(
            rows=4,
            cols=4,
            dataflow="os",
            ifmap_sram_words=1024,
            filter_sram_words=1024,
            ofmap_sram_words=1024,
            bandwidth_mode="user",
            ifmap_dram_words_per_cycle=4,
            filter_dram_words_per_cycle=4,
        )


def test_layer_rejects_filter_larger_than_ifmap() -> None:
    with pytest.raises(SpecError, match="filter height 5 is larger than the ifmap height 4"):
        SystolicLayer.conv(ifmap_h=4, ifmap_w=8, filter_h=5, filter_w=3, channels=1, num_filters=1)
    with pytest.raises(SpecError, match="ofmap_rule"):
        SystolicLayer.conv(
            ifmap_h=4, ifmap_w=4, filter_h=1, filter_w=1, channels=1, num_filters=1, ofmap_rule="ceil"
        )


def write_cfg(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "scale.cfg"
    path.write_text(textwrap.dedent(body))
    return path


GOOD_CFG = """\
    [general]
    run_name = t
    [architecture_presets]
    ArrayHeight: 8
    ArrayWidth: 8
    IfmapSramSzkB: 2
    FilterSramSzkB: 2
    OfmapSramSzkB: 2
    Bandwidth : 8
    Dataflow : os
    [layout]
    IfmapSRAMBankBandwidth: 8
    IfmapSRAMBankNum: 1
    FilterSRAMBankBandwidth: 4
    FilterSRAMBankNum: 1
    [sparsity]
    SparsitySupport : false
    [run_presets]
    InterfaceBandwidth: USER
    """


def test_parse_config_reads_user_bandwidths_from_their_keys(tmp_path: Path) -> None:
    config = parse_scalesim_config(write_cfg(tmp_path, GOOD_CFG))
    assert config.bandwidth_mode == "user"
    assert (
        config.ifmap_dram_words_per_cycle,
        config.filter_dram_words_per_cycle,
        config.ofmap_dram_words_per_cycle,
    ) == (8, 4, 8)
    assert config.ifmap_sram_words == 2048


def test_parse_config_names_file_and_key(tmp_path: Path) -> None:
    path = write_cfg(
        tmp_path, GOOD_CFG.replace("ArrayHeight: 8", "ArrayHeight: eight").replace("Dataflow : os", "")
    )
    with pytest.raises(SpecError) as info:
        parse_scalesim_config(path)
    text = str(info.value)
    assert f"{path}:architecture_presets.ArrayHeight: expected an integer, got 'eight'" in text
    assert "architecture_presets.Dataflow: missing key 'Dataflow'" in text


def test_parse_config_bank_divisibility(tmp_path: Path) -> None:
    path = write_cfg(tmp_path, GOOD_CFG.replace("IfmapSRAMBankNum: 1", "IfmapSRAMBankNum: 3"))
    with pytest.raises(SpecError, match="layout.IfmapSRAMBankBandwidth: bandwidth 8 must be divisible"):
        parse_scalesim_config(path)


def test_parse_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="config file not found"):
        parse_scalesim_config(tmp_path / "nope.cfg")


def test_parse_topology_formats(tmp_path: Path) -> None:
    gemm = tmp_path / "gemm.csv"
    gemm.write_text("Layer name, M, N, K,\nG0, 64, 32, 16,\nG1, 8, 8, 8\n")
    layers = parse_scalesim_topology(gemm)
    assert [layer.gemm_mnk for layer in layers] == [(64, 32, 16), (8, 8, 8)]
    conv = tmp_path / "conv.csv"
    conv.write_text(
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
        "Strides,\nC0, 10, 10, 3, 3, 4, 8, 1,\nDP1, 6, 6, 3, 3, 2, 4, 1,\n"
    )
    layers = parse_scalesim_topology(conv)
    assert [layer.name for layer in layers] == ["C0", "DP1Channel_0", "DP1Channel_1"]
    assert layers[0].gemm_mnk == (64, 8, 36)


def test_parse_topology_names_file_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "topology.csv"
    path.write_text("Layer name, M, N, K,\nG0, 64, x, 16,\nG1, 8, 8,\n")
    with pytest.raises(SpecError) as info:
        parse_scalesim_topology(path)
    text = str(info.value)
    assert f"{path}:rows[0].N (line 2): expected an integer, got 'x'" in text
    assert "(line 3): expected 4 columns" in text
    with pytest.raises(SpecError, match="unknown topology format 'yaml'"):
        parse_scalesim_topology(path, "yaml")


def test_load_case_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="case folder not found"):
        load_scalesim_case(tmp_path / "missing")


# ----------------------------------------------------------------------------------------------
# Live SCALE-Sim (optional)
# ----------------------------------------------------------------------------------------------

LIVE_DRIVER = r"""
import contextlib, io, json, os, sys, tempfile
from scalesim.scale_sim import scalesim
cases = json.loads(sys.argv[1]); out = []
for case in cases:
    d = tempfile.mkdtemp()
    for name in ("scale.cfg", "topology.csv", "layout.csv"):
        with open(os.path.join(d, name), "w") as f:
            f.write(case[name])
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        s = scalesim(save_disk_space=True, verbose=False, config=os.path.join(d, "scale.cfg"),
                     topology=os.path.join(d, "topology.csv"), layout=os.path.join(d, "layout.csv"),
                     input_type_gemm=case["gemm"])
        s.run_scale(top_path=os.path.join(d, "out"))
    layer = s.runner.single_layer_sim_object_list[0]
    out.append([float(x) for x in layer.get_compute_report_items() + layer.get_detail_report_items()])
print(json.dumps(out))
"""


def set_cfg_values(text: str, **values: object) -> str:
    """Replace ``Key: value`` lines of a SCALE-Sim config (keys matched case-insensitively)."""
    for key, value in values.items():
        text, count = re.subn(rf"(?im)^({key}\s*[:=]\s*).*$", rf"\g<1>{value}", text)
        assert count == 1, key
    return text


@pytest.mark.skipif(not SCALESIM_PYTHON.exists(), reason="SCALE-Sim 3.0.0 venv not installed")
def test_random_layers_against_live_scalesim(tmp_path: Path) -> None:
    import random

    rng = random.Random(7)
    cases, ours = [], []
    template_case = DATA / "os_8x8_gemm_m64n64k64_user_bw8_sram2k"
    template = (template_case / "scale.cfg").read_text()
    layout = (template_case / "layout.csv").read_text()
    for _ in range(6):
        rows, cols = rng.choice([(4, 4), (8, 8), (8, 4)])
        dataflow = rng.choice(["os", "ws", "is"])
        kb = [rng.choice([1, 2, 4]) for _ in range(3)]
        bws = [rng.choice([1, 2, 4, 8]) for _ in range(3)]
        m, n, k = rng.randint(8, 48), rng.randint(4, 32), rng.randint(4, 48)
        cfg = set_cfg_values(
            template,
            ArrayHeight=rows,
            ArrayWidth=cols,
            IfmapSramSzkB=kb[0],
            FilterSramSzkB=kb[1],
            OfmapSramSzkB=kb[2],
            Bandwidth=bws[2],
            IfmapSRAMBankBandwidth=bws[0],
            FilterSRAMBankBandwidth=bws[1],
            Dataflow=dataflow,
        )
        topology = f"Layer name, M, N, K,\nL, {m}, {n}, {k},\n"
        cases.append({"scale.cfg": cfg, "topology.csv": topology, "layout.csv": layout, "gemm": True})
        folder = tmp_path / f"case{len(cases)}"
        folder.mkdir()
        (folder / "scale.cfg").write_text(cfg)
        (folder / "topology.csv").write_text(topology)
        ours.append(simulate_case(folder))
    proc = subprocess.run(
        [str(SCALESIM_PYTHON), "-c", LIVE_DRIVER, json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    fields = list(COMPUTE_COLUMNS.values()) + list(ACCESS_COLUMNS.values())
    for result, reference in zip(ours, json.loads(proc.stdout), strict=True):
        for name, value in zip(fields, reference, strict=True):
            assert getattr(result, name) == pytest.approx(value, rel=1e-9), name


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
