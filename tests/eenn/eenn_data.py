"""Shared data of the early-exit tests (imported by name: the tests folder has no packages)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EDGE_TPU = ROOT / "arch" / "single-core" / "edge-tpu-like.yaml"
QUAD = ROOT / "arch" / "multi-core" / "quad-core-edge-tpu.yaml"
WORKLOADS = ROOT / "workloads" / "eenn"

TINY_NET = {
    "name": "tiny",
    "input": [4, 8, 8],
    "classes": 10,
    "layers": [
        {"name": "c1", "type": "conv", "out": 8, "kernel": 3},
        {"name": "c2", "type": "conv", "out": 8, "kernel": 3},
        {"name": "pool", "type": "pool", "kind": "avg", "global": True},
        {"name": "fc", "type": "fc", "out": 10},
    ],
    "exits": {
        "candidates": ["c1"],
        "head": {"sizes": {"s": {"width": 4}},
                 "layers": [{"type": "pwconv", "out": "{width}"}, {"type": "pool", "kind": "avg", "global": True},
                            {"type": "fc", "out": "{classes}"}]},
    },
}

TINY_STATS = {
    "network": "tiny",
    "criterion": "confidence",
    "thresholds": [0.5, 0.9],
    "provenance": {"kind": "assumption", "text": "hand-made numbers for a test"},
    "curves": [
        {"exit": "c1", "backbone": "*", "exit_precision": "*", "accuracy": 0.6, "rate": [0.5, 0.2], "exit_accuracy": [0.9, 0.95]},
        {"exit": "final", "backbone": "*", "accuracy": 0.9, "rate": [0.9, 0.6], "exit_accuracy": [0.95, 0.99]},
    ],
}
