"""Mapping evaluations per second of the batched native model, on one core.

The layer is CONV 3x3 C64 M64 P=Q=14 on the Eyeriss-like architecture (the real
Timeloop evaluates 150-250 valid mappings/s per thread there). The mappings are
what the mapper evaluates: samples of the constrained mapspace that pass the
capacity and fan-out pruning, in batches of 4096. Also printed: the reference
(literal nest walk) on a few mappings, for scale.

    python3 benchmarks/model_throughput.py [--batch 4096] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the figure promises
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tnx_timeloop import api  # noqa: E402
from tnx_timeloop.mapper import MapSpace, parse_constraints  # noqa: E402
from tnx_timeloop.model.evaluate import evaluate_batch, evaluate_reference  # noqa: E402

CASE = ROOT / "tests" / "data" / "oracle" / "mapper_ey_conv3x3_c64m64_p14" / "inputs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    spec = api.load_spec([CASE / "arch.yaml", CASE / "problem.yaml", *sorted(CASE.glob("constraints_*.yaml")),
                          CASE / "ERT.yaml"])
    energy = api.energy_for(spec)
    space = MapSpace(spec.arch, spec.problem, parse_constraints(spec.arch, spec.problem, spec.constraints))
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(args.repeat + 1):
        cand = space.sample(rng, 6 * args.batch)
        cand = cand.take(np.flatnonzero(space.prune(cand).keep)[: args.batch])
        batches.append(cand)
    evaluate_batch(spec.arch, spec.problem, batches[0], energy)  # warm-up

    rates = []
    valid = 0
    for batch in batches[1:]:
        start = time.process_time()  # CPU time of this process: robust to other load on the machine
        report = evaluate_batch(spec.arch, spec.problem, batch, energy)
        seconds = time.process_time() - start
        rates.append(len(batch) / seconds)
        valid += int(report.valid.sum())
    print("native batched model, CONV 3x3 C64 M64 P=Q=14 on Eyeriss-like (one core)")
    print(f"  batch size            : {args.batch} mappings (constrained mapspace samples, pruned)")
    print(f"  valid in the batches  : {valid} of {sum(len(b) for b in batches[1:])}")
    print(f"  evaluations per CPU-second: median {np.median(rates):,.0f}   best {max(rates):,.0f}   worst {min(rates):,.0f}")

    few = batches[1].take(np.arange(3))
    start = time.perf_counter()
    for i in range(len(few)):
        evaluate_reference(spec.arch, spec.problem, few.mapping(i, spec.problem.dimensions, spec.problem.dataspace_names), energy)
    per = (time.perf_counter() - start) / len(few)
    print(f"  reference nest walk   : {1 / per:,.1f} mappings/s (same numbers, one mapping at a time)")
    print("  real Timeloop (PEERS.md): 150-250 valid mappings/s per thread on this layer")


if __name__ == "__main__":
    main()
