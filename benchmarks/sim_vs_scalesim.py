"""Compare tnx_timeloop's systolic engine with SCALE-Sim 3.0.0: answers and run time.

For every golden case under ``tests/data/scalesim`` this prints SCALE-Sim's ``Total Cycles`` and
ours, whether the stalls, the incl.-prefetch cycles and all access counts agree, SCALE-Sim's
recorded CPU time (``summary.json`` ``run.cpu_s``: its parse, simulation and report writing) and
ours, and the speed-up.  Our time is CPU time (``time.process_time``) per call of parsing the case
files plus simulating, the best of a few batches; the simulation alone is shown in brackets.

The ``arch`` columns run every case through this project's architecture route instead: the
array as a systolic :class:`~tnx_timeloop.spec.arch.Architecture`, the layer as a Timeloop problem,
adapted back by :mod:`tnx_timeloop.sim.scalesim_arch` (cycles compared with SCALE-Sim's, all access
counts checked; the time covers building the architecture and problem and simulating).

With ``--single``, GEMM cases are also simulated by the single-core tile simulator
(:mod:`tnx_timeloop.sim.single`) with SCALE-Sim's own mapping: its window (first to last block)
should be SCALE-Sim's ``Total Cycles`` + 1 wherever SCALE-Sim does not stall.

With ``--live`` and a SCALE-Sim venv (default ``/work/venvs/scalesim``), SCALE-Sim is also re-run
on each case in that venv and its CPU time measured the same way (in-process, excluding start-up
and imports), for a side-by-side timing on this machine.  Without the venv the flag is ignored.

Usage::

    python benchmarks/sim_vs_scalesim.py [--cases DIR] [--live] [--single] [--scalesim-python PATH] [--min-seconds S]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tnx_timeloop.sim import scalesim_arch
from tnx_timeloop.sim.systolic import SystolicResult, load_scalesim_case, simulate_systolic

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CASES = ROOT / "tests" / "data" / "scalesim"
DEFAULT_SCALESIM_PYTHON = Path("/work/venvs/scalesim/bin/python")

ACCESS_FIELDS = {
    "SRAM IFMAP Reads": "sram_ifmap_read_words",
    "SRAM Filter Reads": "sram_filter_read_words",
    "SRAM OFMAP Writes": "sram_ofmap_write_words",
    "DRAM IFMAP Reads": "dram_ifmap_read_words",
    "DRAM Filter Reads": "dram_filter_read_words",
    "DRAM OFMAP Writes": "dram_ofmap_write_words",
}

LIVE_DRIVER = r"""
import contextlib, io, json, os, sys, time
from scalesim.scale_sim import scalesim
folder, gemm = sys.argv[1], sys.argv[2] == "1"
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    start = time.process_time()
    sim = scalesim(save_disk_space=True, verbose=False, config=os.path.join(folder, "scale.cfg"),
                   topology=os.path.join(folder, "topology.csv"), layout=os.path.join(folder, "layout.csv"),
                   input_type_gemm=gemm)
    sim.run_scale(top_path=os.path.join(sys.argv[3], "out"))
    cpu = time.process_time() - start
layer = sim.runner.single_layer_sim_object_list[0]
print(json.dumps({"cpu_s": cpu, "total_cycles": float(layer.get_compute_report_items()[1])}))
"""


def read_report(path: Path) -> dict[str, float]:
    """First data row of a SCALE-Sim report CSV as ``{column: value}``."""
    with path.open(newline="") as handle:
        header, row = list(csv.reader(handle))[:2]
    return {name.strip(): float(value) for name, value in zip(header, row, strict=False) if name.strip()}


def _best_cpu_seconds(call: Callable[[], object], min_seconds: float) -> float:
    """Best CPU seconds per call over 3 batches of at least ``min_seconds`` each."""
    best = float("inf")
    for _ in range(3):
        calls = 0
        start = time.process_time()
        while True:
            call()
            calls += 1
            elapsed = time.process_time() - start
            if elapsed >= min_seconds:
                break
        best = min(best, elapsed / calls)
    return best


def time_ours(folder: Path, min_seconds: float) -> tuple[SystolicResult, float, float]:
    """Simulate a case; return the result, CPU s of parse + simulate and of simulate alone.

    Parse + simulate is what SCALE-Sim's recorded time covers (its config/topology parse, the
    simulation and the report writing).
    """
    case = load_scalesim_case(folder)
    layer = case.layers[0]
    result = simulate_systolic(case.config, layer)  # warm-up

    def parse_and_simulate() -> None:
        loaded = load_scalesim_case(folder)
        simulate_systolic(loaded.config, loaded.layers[0])

    total = _best_cpu_seconds(parse_and_simulate, min_seconds)
    engine = _best_cpu_seconds(lambda: simulate_systolic(case.config, layer), min_seconds)
    return result, total, engine


def time_arch_route(folder: Path, min_seconds: float) -> tuple[SystolicResult, float]:
    """Simulate a case through the architecture route; return the result and CPU s per run.

    The timed call builds the systolic architecture and the problem from the parsed case and
    simulates them (the parse of the case files is excluded; :func:`time_ours` covers it).
    """
    case = load_scalesim_case(folder)

    def route() -> SystolicResult:
        arch = scalesim_arch.case_architecture(case)
        (problem,) = scalesim_arch.case_problems(case)
        return scalesim_arch.simulate_arch(arch, problem)

    result = route()
    return result, _best_cpu_seconds(route, min_seconds)


def single_core_window(folder: Path) -> int | None:
    """Window cycles of the single-core simulator with SCALE-Sim's mapping (GEMM cases), else None."""
    from tnx_timeloop.errors import MappingError
    from tnx_timeloop.sim.single import simulate_single

    case = load_scalesim_case(folder)
    if case.layers[0].source_format != "gemm":
        return None
    arch = scalesim_arch.case_architecture(case)
    (problem,) = scalesim_arch.case_problems(case)
    try:
        return simulate_single(arch, problem, scalesim_arch.scalesim_mapping(arch, problem)).window_cycles
    except MappingError:
        return None


def run_live(python: Path, folder: Path) -> dict[str, float] | None:
    """Re-run SCALE-Sim on a case in its venv (reports go to a temporary folder); None on failure."""
    gemm = load_scalesim_case(folder).layers[0].source_format == "gemm"
    with tempfile.TemporaryDirectory(prefix="scalesim_bench_") as scratch:
        argv = [str(python), "-c", LIVE_DRIVER, str(folder), "1" if gemm else "0", scratch]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=3600, check=False)
    if proc.returncode != 0:
        print(f"  live SCALE-Sim failed on {folder.name}: {proc.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print one line per case plus a summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="folder of SCALE-Sim case folders")
    parser.add_argument("--live", action="store_true", help="also re-run SCALE-Sim live (needs its venv)")
    parser.add_argument(
        "--scalesim-python",
        type=Path,
        default=DEFAULT_SCALESIM_PYTHON,
        help="python of the SCALE-Sim 3.0.0 venv",
    )
    parser.add_argument("--min-seconds", type=float, default=0.02, help="CPU seconds per timing batch")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this text")
    parser.add_argument("--single", action="store_true",
                        help="also run the single-core tile simulator with SCALE-Sim's mapping (GEMM cases)")
    args = parser.parse_args(argv)

    folders = sorted(p.parent for p in args.cases.glob("*/scale.cfg") if args.only in p.parent.name)
    if not folders:
        print(f"no case folders under {args.cases}", file=sys.stderr)
        return 2
    live = args.live and args.scalesim_python.exists()
    if args.live and not live:
        print(f"--live ignored: {args.scalesim_python} not found", file=sys.stderr)

    head = (
        f"{'case':55s} {'SS cycles':>9s} {'ours':>9s} {'stall':>5s} {'pref':>4s} {'acc':>3s} "
        f"{'SS cpu ms':>9s} {'ours ms':>8s} {'(sim ms)':>8s} {'speed-up':>8s} {'arch':>9s} {'ok':>3s} {'arch ms':>7s}"
    )
    if args.single:
        head += f" {'tile sim':>9s}"
    if live:
        head += f" {'live ms':>9s} {'live x':>7s}"
    print(head)
    speedups: list[float] = []
    engine_speedups: list[float] = []
    live_speedups: list[float] = []
    recorded_total = ours_total = engine_total = 0.0
    all_match = True
    arch_match = True
    arch_worst = 0.0
    for folder in folders:
        result, ours_s, engine_s = time_ours(folder, args.min_seconds)
        compute = read_report(folder / "COMPUTE_REPORT.csv")
        access = read_report(folder / "DETAILED_ACCESS_REPORT.csv")
        recorded_s = float(json.loads((folder / "summary.json").read_text())["run"]["cpu_s"])
        cycles_ok = result.total_cycles == compute["Total Cycles"]
        stall_ok = result.stall_cycles == compute["Stall Cycles"]
        prefetch_ok = result.total_cycles_incl_prefetch == compute["Total Cycles (incl. prefetch)"]
        access_ok = all(getattr(result, name) == access[column] for column, name in ACCESS_FIELDS.items())
        all_match &= cycles_ok and stall_ok and prefetch_ok and access_ok
        speedup = recorded_s / ours_s
        speedups.append(speedup)
        engine_speedups.append(recorded_s / engine_s)
        recorded_total += recorded_s
        ours_total += ours_s
        engine_total += engine_s
        arch_result, arch_s = time_arch_route(folder, args.min_seconds)
        arch_dev = abs(arch_result.total_cycles / compute["Total Cycles"] - 1)
        arch_access = all(getattr(arch_result, name) == access[column] for column, name in ACCESS_FIELDS.items())
        arch_ok = arch_dev <= 0.01 and arch_access
        arch_match &= arch_ok
        arch_worst = max(arch_worst, arch_dev)
        line = (
            f"{folder.name:55s} {compute['Total Cycles']:9.0f} {result.total_cycles:9d} "
            f"{'yes' if stall_ok else 'NO':>5s} {'yes' if prefetch_ok else 'NO':>4s} "
            f"{'yes' if access_ok else 'NO':>3s} {recorded_s * 1e3:9.1f} {ours_s * 1e3:8.3f} "
            f"{engine_s * 1e3:8.3f} {speedup:7.0f}x {arch_result.total_cycles:9d} {'yes' if arch_ok else 'NO':>3s} "
            f"{arch_s * 1e3:7.3f}"
        )
        if args.single:
            window = single_core_window(folder)
            line += f" {window if window is not None else '-':>9}"
        if live:
            measured = run_live(args.scalesim_python, folder)
            if measured is not None:
                live_speedups.append(measured["cpu_s"] / ours_s)
                line += f" {measured['cpu_s'] * 1e3:9.1f} {live_speedups[-1]:6.0f}x"
        print(line, flush=True)
    print()
    print(f"cases: {len(folders)}; all cycles, stalls, incl.-prefetch and access counts equal: {all_match}")
    print(
        f"architecture route: cycles within 1% and access counts equal on every case: {arch_match} "
        f"(largest cycle deviation {arch_worst:.3%})"
    )
    print(
        f"speed-up vs recorded SCALE-Sim CPU time: min {min(speedups):.0f}x, median "
        f"{statistics.median(speedups):.0f}x, total {recorded_total / ours_total:.0f}x "
        f"({recorded_total:.2f} s vs {ours_total * 1e3:.1f} ms)"
    )
    print(
        f"  engine alone (no file parsing): min {min(engine_speedups):.0f}x, median "
        f"{statistics.median(engine_speedups):.0f}x, total {recorded_total / engine_total:.0f}x"
    )
    if live_speedups:
        print(
            f"speed-up vs live SCALE-Sim: min {min(live_speedups):.0f}x, median "
            f"{statistics.median(live_speedups):.0f}x"
        )
    return 0 if all_match and arch_match else 1


if __name__ == "__main__":
    sys.exit(main())
