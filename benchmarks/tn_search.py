"""Hardware-aware contraction paths of TTM layers versus opt_einsum's FLOP-optimal path, on two engines.

Run::

    python benchmarks/tn_search.py [--training] [--jobs N] [--budget N] [--json OUT.json]

Layers: TTM linear layers ``y[b,i1..id] = x[b,j1..jd] G1 .. Gd`` with d = 4 and d = 6 cores, modes
4-8 (powers of two, and drawn at random), ranks 8-32, batch 32. Architectures: the ``tt-kernel``
template's GEMM engine at its default 16 x 16 systolic array (``gemm16``) and at 32 x 32
(``gemm32``), both under a 512 KiB global buffer, and its TT engine (``tt16``: 16 streaming MAC
lanes under a 64 KiB core buffer); all behind 16 words/cycle of DRAM bandwidth.

For every (layer, engine), with an *empty* evaluation cache and a fresh step coster:

* ``hw`` -- the hardware-aware search (``dp``: exact over all contraction trees under the
  mapper's per-step costs), timed including every mapper call;
* ``flop`` -- opt_einsum's ``optimal`` path (minimum FLOPs), scored with the same per-step costs
  (its steps not mapped by the search are mapped afterwards, outside the timed search);
* ``gain`` -- flop latency / hw latency; ``certified`` -- the FLOP path's *lower bound* over the hw
  latency: when above 1, no mapping of the FLOP path can match the hw path, whatever the mapper.

The script exits with status 1 if a hardware-aware path is ever slower than the FLOP-optimal one.
Timings are wall-clock on a shared machine: orders of magnitude.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tnx_timeloop import api
from tnx_timeloop.cache import EvaluationCache
from tnx_timeloop.frontends.tensornet import ttm
from tnx_timeloop.search.paths import PathSpace, baseline_tree, score_tree, search_path
from tnx_timeloop.search.stepcost import DEFAULT_BUDGET, RESTARTS, MapperCoster, make_engine

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "arch" / "single-core" / "tt-kernel.yaml"

LAYERS: list[tuple[str, list[int], list[int], Any]] = [
    # powers of two, uniform ranks
    ("d4-a", [4, 8, 8, 4], [8, 4, 4, 8], 16),
    ("d4-b", [8, 4, 4, 8], [4, 8, 8, 4], 32),
    ("d6-a", [4, 4, 8, 4, 8, 4], [8, 4, 4, 8, 4, 4], 16),
    ("d6-b", [4, 4, 4, 4, 4, 4], [8, 8, 8, 8, 8, 8], 8),
    # modes 4-8 and ranks 8-32 drawn with numpy.random.default_rng(0)
    ("d4-c", [8, 7, 6, 5], [5, 4, 4, 4], [8, 32, 24]),
    ("d4-d", [8, 6, 7, 8], [7, 7, 6, 6], [32, 16, 32]),
    ("d6-c", [8, 4, 6, 4, 5, 6], [6, 6, 4, 4, 4, 4], [24, 24, 24, 16, 24]),
    ("d6-d", [7, 5, 6, 8, 8, 8], [5, 7, 8, 7, 8, 7], [24, 16, 32, 8, 24]),
    ("d6-e", [5, 4, 7, 4, 6, 4], [8, 6, 4, 5, 4, 7], [8, 32, 16, 24, 8]),
]
ENGINES: dict[str, dict[str, Any]] = {
    "gemm16": {"engine": "gemm"},                          # 16 x 16 systolic array (template default)
    "gemm32": {"engine": "gemm", "rows": 32, "cols": 32},  # 32 x 32 systolic array
    "tt16": {"engine": "tt"},                              # 16 streaming TT lanes (template default)
}
BATCH = 32


def run_case(label: str, ins: list[int], outs: list[int], ranks: Any, engine: str, *, training: bool, jobs: int,
             budget: int, restarts: int) -> dict[str, Any]:
    """One (layer, engine) row, with an empty cache."""
    net = ttm(ins, outs, ranks, BATCH, name=label)
    arch = api.load_spec([TEMPLATE], variables=ENGINES[engine]).arch
    eng = make_engine(arch, engine)
    with tempfile.TemporaryDirectory() as tmp:
        cache = EvaluationCache(Path(tmp) / "cache.sqlite")
        with MapperCoster(eng, objective="latency", budget=budget, restarts=restarts, cache=cache,
                          jobs=jobs) as coster:
            start = time.perf_counter()
            hw = search_path(net, coster, method="dp", training=training)
            seconds = time.perf_counter() - start
            t0 = time.perf_counter()
            flop_tree = baseline_tree(net, "optimal")
            path_ms = (time.perf_counter() - t0) * 1e3
            flop = score_tree(net, flop_tree, coster, training=training, method="optimal")
            space = PathSpace(net, training=training)
            flop_bound = sum(coster.lower_bound(cc)[0] for cc in space.tree_steps(flop_tree))
        cache.close()
    return {
        "layer": label, "d": len(ins), "engine": engine, "training": training,
        "macs_hw": hw.macs, "macs_flop": flop.macs,
        "cycles_hw": hw.cycles, "cycles_flop": flop.cycles,
        "gain": flop.cycles / hw.cycles, "certified": flop_bound / hw.cycles,
        "seconds": seconds, "flop_path_ms": path_ms, "mappings": hw.mapper_calls,
        "steps_at_bound": sum(s.cost.at_bound for s in hw.steps), "steps": len(hw.steps),
        "same_tree": flop.cycles == hw.cycles and flop.macs == hw.macs,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--training", action="store_true", help="forward + backward (training graphs)")
    ap.add_argument("--jobs", type=int, default=2, help="processes mapping steps in parallel (default 2)")
    ap.add_argument("--budget", type=int, default=DEFAULT_BUDGET, help=f"mapper evaluations per restart (default {DEFAULT_BUDGET})")
    ap.add_argument("--restarts", type=int, default=RESTARTS, help=f"mapper restarts per step (default {RESTARTS})")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = ap.parse_args(argv)
    rows = []
    print(f"TTM layers, batch {BATCH}; tt-kernel engines at defaults; objective latency; "
          f"{'training (forward + backward)' if args.training else 'inference'}; mapper: {args.restarts} x {args.budget} "
          f"evaluations per step at most, stopping at the step's lower bound; empty cache; jobs {args.jobs}")
    header = (f"{'layer':<6} {'engine':<7} {'MACs flop':>10} {'MACs hw':>10} {'cycles flop':>12} {'cycles hw':>12} "
              f"{'gain':>6} {'certif.':>7} {'search s':>8} {'maps':>5} {'at bound':>8}")
    print(header)
    print("-" * len(header))
    for label, ins, outs, ranks in LAYERS:
        for engine in ENGINES:
            r = run_case(label, ins, outs, ranks, engine, training=args.training, jobs=args.jobs, budget=args.budget,
                         restarts=args.restarts)
            rows.append(r)
            print(f"{label:<6} {engine:<7} {r['macs_flop'] / 1e6:>9.1f}M {r['macs_hw'] / 1e6:>9.1f}M "
                  f"{r['cycles_flop']:>12,} {r['cycles_hw']:>12,} {r['gain']:>6.3f} {r['certified']:>7.3f} "
                  f"{r['seconds']:>8.2f} {r['mappings']:>5} {r['steps_at_bound']:>4}/{r['steps']:<3}", flush=True)
    worse = [r for r in rows if r["cycles_hw"] > r["cycles_flop"]]
    d6 = [r["seconds"] for r in rows if r["d"] == 6]
    print("-" * len(header))
    print(f"d = 6 search time: max {max(d6):.2f} s, mean {sum(d6) / len(d6):.2f} s (empty cache, mapping included); "
          f"hardware-aware path worse than FLOP-optimal: {len(worse)} of {len(rows)}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
