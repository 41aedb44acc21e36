"""Tiny study files (seconds each) for the study tests, and helpers."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SWEEP = """
name: tiny-sweep
kind: sweep
seeds: [0]
workloads: [layers/gemm64]
architectures:
  - simple-weight-stationary
  - {template: tt-kernel, grid: {rows: [8, 16], cols: [8, 16]}}
mapper: {objective: edp, budget: 120}
report: {heatmap: {x: cols, y: rows, metric: edp}}
"""

NATIVE_VS_TIMELOOP = """
name: tiny-nvt
kind: native-vs-timeloop
workloads: [layers/gemm64]
architectures: [simple-weight-stationary]
mapper: {budget: 100}
"""

TNN = """
name: tiny-tnn
kind: tnn-dse
models: [{file: tensorized/ttm-d4, set: {batch: 8}}]
modes: [inference]
hardware: {template: tt-kernel, grid: {rows: [8, 16], cols: [8, 16]}, set: {tt_lanes: 8}}
search: {mapper_budget: 100, restarts: 1, exhaustive: true}
"""

EENN = """
name: tiny-eenn
kind: eenn
networks: [eenn/digits-cnn]
platforms: [quad-core-edge-tpu]
precisions: [int8]
mapper: {budget: 100}
search: {population: 8, generations: 3}
timeline: {inputs: 4}
"""

COMPARE = """
name: tiny-compare
kind: compare
comparisons: [tpu-v1]
mapper: {budget: 150}
"""

STUDIES = {"sweep": SWEEP, "native-vs-timeloop": NATIVE_VS_TIMELOOP, "tnn-dse": TNN, "eenn": EENN, "compare": COMPARE}


def write_study(folder: Path, text: str, name: str = "study.yaml") -> Path:
    """Write a study file (dedented) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def links(report: Path) -> list[str]:
    """Relative files a Markdown report links to (images and links)."""
    return [m for m in re.findall(r"\]\(([^)]+)\)", report.read_text(encoding="utf-8")) if "://" not in m]
