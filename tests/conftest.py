"""Shared fixtures: the oracle cases (real Timeloop v3.0.3 runs) copied into tests/data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
ORACLE = DATA / "oracle"


def oracle_cases(kind: str | None = None) -> list[str]:
    """Names of the oracle case folders (``model`` cases, ``mapper`` cases, or all)."""
    names = sorted(p.name for p in ORACLE.iterdir() if (p / "summary.json").exists())
    if kind == "mapper":
        return [n for n in names if n.startswith("mapper_")]
    if kind == "model":
        return [n for n in names if not n.startswith("mapper_")]
    return names


def case_inputs(name: str, *, with_energy: bool = True) -> list[Path]:
    """The input files of an oracle case as ``timeloop-model`` got them."""
    inp = ORACLE / name / "inputs"
    files = [inp / "arch.yaml", inp / "problem.yaml"]
    mapping = inp / "mapping.yaml"
    files.append(mapping if mapping.exists() else ORACLE / name / "timeloop-mapper.map.yaml")
    if with_energy:
        files += [inp / "ERT.yaml", inp / "ART.yaml"]
    return files


def case_summary(name: str) -> dict:
    """The case's summary.json (for mapper cases: the best mapping's figures)."""
    data = json.loads((ORACLE / name / "summary.json").read_text())
    return data.get("best", data) | {"_raw": data}


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own evaluation cache folder."""
    monkeypatch.setenv("TNX_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield


os.environ.setdefault("TNX_CACHE_DIR", "/tmp/tnx-test-cache")
