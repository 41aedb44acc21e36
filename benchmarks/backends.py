"""Native model and mapper beside AccelForge: a GEMM and a conv, same architecture, same energies.

Run::

    python benchmarks/backends.py [--skip-accelforge] [--budget N] [--json OUT.json]

Architecture: DRAM (LPDDR4, 64-bit bus) -> 64 KiB Buffer (32,768 x 16-bit words) -> 16 x 16
16-bit MACs, unlimited bandwidths; energies from the built-in tables (45 nm) for every tool.
Workloads: GEMM M=N=K=64 and conv C16 M16 P=Q=8 R=S=3 (N=1), 16-bit.

Rows per workload:

* ``native / fixed``: our model on a hand-written mapping (the array fully used);
* ``accelforge / fixed``: AccelForge evaluating the same mapping, translated to its tree;
* ``native mapper``: the native mapper (objective EDP, seed 0, ``--budget`` evaluations);
* ``accelforge mapper``: AccelForge's FFM mapper (objective EDP);
* ``native / AF's mapping``: our model on AccelForge's best mapping, when Timeloop can
  express it (AccelForge may keep the tensors of one memory at different loop depths).

AccelForge runs in its own Python >= 3.12 (``$TNX_ACCELFORGE_PYTHON`` or
``/work/venvs/af312/bin/python``); without it those rows are skipped with a message. Its
times include starting Python and importing AccelForge (~2-3 s); the in-tool time is shown
beside. Timings are from one run on a shared machine: orders of magnitude.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from typing import Any

from tnx_timeloop import api
from tnx_timeloop.backends.accelforge_backend import AccelForgeBackend, find_accelforge_python
from tnx_timeloop.backends.native import NativeBackend
from tnx_timeloop.energy.tables import ArchEnergy, select_energy
from tnx_timeloop.errors import TnxError
from tnx_timeloop.model.report import Report
from tnx_timeloop.spec.arch import Architecture, parse_architecture
from tnx_timeloop.spec.mapping import Mapping, parse_mapping
from tnx_timeloop.spec.problem import Problem, parse_problem

ARCH = {
    "version": 0.3,
    "subtree": [{
        "name": "system",
        "attributes": {"technology": "45nm"},
        "local": [
            {"name": "DRAM", "class": "DRAM", "attributes": {"type": "LPDDR4", "width": 64, "block-size": 4,
                                                            "word-bits": 16}},
            {"name": "Buffer", "class": "SRAM", "attributes": {"depth": 8192, "width": 64, "block-size": 4,
                                                              "word-bits": 16}},
        ],
        "subtree": [{"name": "PE[0..255]", "local": [
            {"name": "MAC", "class": "intmac", "attributes": {"datawidth": 16, "meshX": 16}},
        ]}],
    }],
}

GEMM = {
    "shape": {"name": "GEMM", "dimensions": ["M", "N", "K"], "data-spaces": [
        {"name": "A", "projection": [[["M"]], [["K"]]]},
        {"name": "B", "projection": [[["K"]], [["N"]]]},
        {"name": "Z", "projection": [[["M"]], [["N"]]], "read-write": True},
    ]},
    "instance": {"M": 64, "N": 64, "K": 64},
}
GEMM_MAPPING = [  # M across X, N across Y; all of A, B, Z fit in the Buffer
    {"target": "Buffer", "type": "spatial", "factors": "M=16 N=16 K=1", "permutation": "MNK", "split": 1},
    {"target": "Buffer", "type": "temporal", "factors": "M=4 N=4 K=64", "permutation": "KNM"},
]

CONV = {
    "shape": {
        "name": "CNN-Layer",
        "dimensions": ["C", "M", "R", "S", "N", "P", "Q"],
        "coefficients": [{"name": "Wstride", "default": 1}, {"name": "Hstride", "default": 1},
                         {"name": "Wdilation", "default": 1}, {"name": "Hdilation", "default": 1}],
        "data-spaces": [
            {"name": "Weights", "projection": [[["C"]], [["M"]], [["R"]], [["S"]]]},
            {"name": "Inputs", "projection": [[["N"]], [["C"]], [["R", "Wdilation"], ["P", "Wstride"]],
                                              [["S", "Hdilation"], ["Q", "Hstride"]]]},
            {"name": "Outputs", "projection": [[["N"]], [["M"]], [["Q"]], [["P"]]], "read-write": True},
        ],
    },
    "instance": {"C": 16, "M": 16, "R": 3, "S": 3, "N": 1, "P": 8, "Q": 8},
}
CONV_MAPPING = [  # C across X (spatial reduction), M across Y
    {"target": "Buffer", "type": "spatial", "factors": "C=16 M=16", "permutation": "CM", "split": 1},
    {"target": "Buffer", "type": "temporal", "factors": "R=3 S=3 P=8 Q=8", "permutation": "SRQP"},
]

NOTES = """\
Semantic differences (why the rows differ on the same mapping):
- Partial sums: Timeloop (and the native model) skips the first read of every output and
  accumulates consecutive iterations on one output inside the MAC; AccelForge reads and
  writes the Buffer for every accumulation. Same DRAM traffic and operand reads; more Buffer
  output accesses in AccelForge (the conv, whose R/S loops are innermost, shows it most).
- Sliding windows: Timeloop fetches only the new part of an input window that slides with
  an outer loop; AccelForge refetches the whole window (not visible in these two mappings,
  whose loops all sit in the Buffer).
- Energy granularity: Timeloop charges one access per block (4 words here) rounded up per
  data-space; AccelForge charges each word at the per-word energy (the block energy / 4).
- Mapspace: AccelForge may keep the tensors of one memory at different loop depths (a
  Timeloop mapping cannot) and only tries loop bounds that divide the dimensions; it knows no
  multiple buffering. Its mapping is shown as ours only when Timeloop can express it.
- Cycles: both count one MAC per PE per cycle; with unlimited bandwidth cycles = MACs /
  utilized PEs. AccelForge's latency is in seconds (x 1 GHz here).
- Mapper rows: each tool's best mapping under its own model and mapspace (native: sampled
  with --budget evaluations; AccelForge: FFM's exhaustive-with-pruning search), so their
  energies compare two searches and two models at once."""


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    workload: str
    tool: str
    cycles: int | None
    energy_pj: float | None
    dram_reads: float | None
    dram_writes: float | None
    seconds: float | None
    note: str = ""


def _dram(report: Report) -> tuple[float, float]:
    level = report.to_dict(0)["levels"][0]["dataspaces"]
    reads = sum(ds["reads"] for ds in level.values())
    writes = sum(ds["fills"] + ds["updates"] for ds in level.values())
    return reads, writes


def _row(workload: str, tool: str, report: Report, seconds: float, note: str = "") -> Row:
    reads, writes = _dram(report)
    return Row(workload, tool, int(report.cycles[0]), float(report.energy_pj[0]), reads, writes, seconds, note)


def _specs(problem_doc: dict[str, Any], mapping_doc: list[dict[str, Any]]) -> tuple[Architecture, Problem, Mapping]:
    arch = parse_architecture(ARCH)
    problem = parse_problem(problem_doc)
    return arch, problem, parse_mapping(mapping_doc, arch, problem)


def run_workload(name: str, arch: Architecture, problem: Problem, mapping: Mapping, energy: ArchEnergy, *,
                 accelforge: AccelForgeBackend | None, budget: int) -> list[Row]:
    """All rows of one workload."""
    rows = []
    t0 = time.perf_counter()
    native = NativeBackend().evaluate(arch, problem, mapping, energy=energy)
    rows.append(_row(name, "native / fixed", native, time.perf_counter() - t0))
    if accelforge is not None:
        try:
            t0 = time.perf_counter()
            run = accelforge.evaluate_run(arch, problem, mapping, energy=energy)
            wall = time.perf_counter() - t0
            rows.append(_row(name, "accelforge / fixed", run.report, wall,
                             f"in-tool {run.seconds.get('evaluate', float('nan')):.2f} s"))
        except TnxError as err:
            rows.append(Row(name, "accelforge / fixed", None, None, None, None, None, f"failed: {err}"))
    spec = api.Spec(arch=arch, problem=problem)
    try:
        t0 = time.perf_counter()
        found = api.search(spec, objective="edp", budget=budget, seed=0)
        wall = time.perf_counter() - t0
        if found.best_report is None:
            rows.append(Row(name, "native mapper", None, None, None, None, wall, "no valid mapping"))
        else:
            rows.append(_row(name, "native mapper", found.best_report.take(0), wall,
                             f"{found.evaluated} evaluated, {found.algorithm}"))
    except TnxError as err:
        rows.append(Row(name, "native mapper", None, None, None, None, None, f"failed: {err}"))
    if accelforge is not None:
        try:
            t0 = time.perf_counter()
            run = accelforge.search_run(arch, problem, energy=energy, mapper_config={"objective": "edp"})
            wall = time.perf_counter() - t0
            rows.append(_row(name, "accelforge mapper", run.report, wall,
                             f"in-tool {run.seconds.get('map', float('nan')):.2f} s"))
            if run.mapping is not None:
                again = NativeBackend().evaluate(arch, problem, run.mapping, energy=energy)
                rows.append(_row(name, "native / AF's mapping", again, 0.0))
            else:
                rows.append(Row(name, "native / AF's mapping", None, None, None, None, None,
                                f"not a Timeloop mapping: {run.mapping_note}"))
        except TnxError as err:
            rows.append(Row(name, "accelforge mapper", None, None, None, None, None, f"failed: {err}"))
    return rows


def render(rows: list[Row]) -> str:
    """A Markdown table of the rows."""

    def num(x: float | None, fmt: str) -> str:
        return "-" if x is None else format(x, fmt)

    lines = ["| workload | tool / mapping | cycles | energy (pJ) | DRAM reads (words) | DRAM writes (words) "
             "| time (s) | note |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r.workload} | {r.tool} | {num(r.cycles, ',')} | {num(r.energy_pj, ',.0f')} | "
                     f"{num(r.dram_reads, ',.0f')} | {num(r.dram_writes, ',.0f')} | {num(r.seconds, '.3f')} | "
                     f"{r.note} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the table; 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-accelforge", action="store_true", help="native rows only")
    parser.add_argument("--budget", type=int, default=4000, help="native mapper evaluations (default 4000)")
    parser.add_argument("--json", metavar="OUT", help="also write the rows as JSON")
    args = parser.parse_args(argv)

    accelforge: AccelForgeBackend | None = None
    if args.skip_accelforge:
        print("AccelForge: skipped (--skip-accelforge)")
    else:
        found = find_accelforge_python()
        if found.python is None:
            print(f"AccelForge: skipped, not installed ({found.why}); see docs/accelforge.md")
        else:
            print(f"AccelForge {found.version} in {found.python}")
            accelforge = AccelForgeBackend(python=found.python)
    rows: list[Row] = []
    for name, problem_doc, mapping_doc in (("GEMM 64^3", GEMM, GEMM_MAPPING), ("conv C16 M16 P8 R3", CONV, CONV_MAPPING)):
        arch, problem, mapping = _specs(problem_doc, mapping_doc)
        energy = select_energy(arch, "tables")
        rows += run_workload(name, arch, problem, mapping, energy, accelforge=accelforge, budget=args.budget)
    print()
    print(render(rows))
    print()
    print(NOTES)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump([r.__dict__ for r in rows], out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
