"""The native mapper against the real timeloop-mapper, on every oracle mapper case.

For each case in tests/data/oracle/mapper_*: Timeloop's best (cycles, energy,
EDP) and wall time as recorded, and ours from ``tnx map inputs/*.yaml`` -- the
same architecture, problem, constraints, optimization metrics and victory
condition -- run as a separate process (so our time includes start-up), with
the ratio of EDPs and of times and the mappings evaluated per second.

    python3 benchmarks/mapper_vs_timeloop.py [--seed 0] [--cases mapper_ey_conv1x1 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORACLE = ROOT / "tests" / "data" / "oracle"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cases", nargs="*", default=None)
    args = ap.parse_args()
    cases = args.cases or sorted(p.name for p in ORACLE.glob("mapper_*") if (p / "summary.json").exists())
    env = dict(os.environ, TNX_CACHE_DIR=tempfile.mkdtemp(prefix="tnx-bench-cache-"))
    header = (f"{'case':32s} {'metrics':14s} {'Timeloop cycles':>15s} {'ours':>9s} {'TL energy pJ':>13s} {'ours':>12s} "
              f"{'EDP ours/TL':>11s} {'TL s':>6s} {'ours s':>7s} {'speed-up':>8s} {'TL valid/s':>10s} {'ours eval/s':>11s}  verdict")
    print(header)
    print("-" * len(header))
    worse = 0
    for case in cases:
        folder = ORACLE / case
        summary = json.loads((folder / "summary.json").read_text())
        best = summary["best"]
        files = sorted(str(p) for p in (folder / "inputs").glob("*.yaml"))
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "tnx_timeloop.cli", "map", *files, "--json", "--no-cache", "--out", out,
                 "--seed", str(args.seed)],
                capture_output=True, text=True, env=env, check=False,
            )
            wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(f"{case:32s} FAILED: {proc.stderr.strip()[-300:]}")
            worse += 1
            continue
        ours = json.loads(proc.stdout)
        tl_cycles, tl_energy = best["cycles"], best["energy_pJ"]
        metrics = ",".join(summary["mapper_config"]["optimization-metrics"])
        no_worse = ours["cycles"] < tl_cycles or (ours["cycles"] == tl_cycles and ours["energy_pj"] <= tl_energy * (1 + 1e-9))
        faster = wall < summary["wall_time_s"]
        verdict = "ok" if no_worse and faster else ("WORSE" if not no_worse else "SLOWER")
        worse += verdict != "ok"
        edp_ratio = ours["edp"] / (tl_cycles * tl_energy)
        print(f"{case:32s} {metrics:14s} {tl_cycles:>15,} {ours['cycles']:>9,} {tl_energy:>13.4e} {ours['energy_pj']:>12.4e} "
              f"{edp_ratio:>11.3f} {summary['wall_time_s']:>6.1f} {wall:>7.2f} {summary['wall_time_s'] / wall:>7.1f}x "
              f"{summary['valid_mappings_per_s']:>10.0f} {ours['search']['evaluations_per_second'] or 0:>11,.0f}  {verdict}")
    print(f"\n{len(cases) - worse} of {len(cases)} cases no worse than Timeloop and faster (ours: whole `tnx map` process).")


if __name__ == "__main__":
    main()
