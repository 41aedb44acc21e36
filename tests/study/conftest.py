"""Fixtures of the study tests (the tiny study files are in study_data.py)."""

from __future__ import annotations

import pytest
from study_data import REPO


@pytest.fixture(autouse=True)
def _library_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolve library names (arch/, workloads/) against this checkout whatever the working directory."""
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("TNX_LIBRARY", raising=False)
