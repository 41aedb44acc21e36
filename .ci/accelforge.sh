#!/usr/bin/env bash
# CI step for the optional `accelforge` backend (and the hwcomponents energy source).
#
# AccelForge 1.0.467 needs Python >= 3.12 and its own environment (its wheel installs
# top-level packages named tests/examples/docs). When a python3.12 exists, this script
#   1. creates (or reuses) a venv at $TNX_AF_VENV (default: $TMPDIR/tnx-af312-ci),
#   2. installs accelforge==1.0.467 there (skipped when already installed),
#   3. rebuilds CACTI from the sources in hwcomponents_cacti when the shipped binary does
#      not run (it needs glibc 2.38), as docs/accelforge.md describes,
#   4. runs the AccelForge tests (and the energy-source tests, which use hwcomponents from
#      the same venv) with the project's own Python, TNX_ACCELFORGE_PYTHON pointing at it.
# Without python3.12 it prints why and exits 0.
#
# Environment: TNX_AF_VENV (venv path), PYTHON (the project's interpreter, default python3),
# PY312 (a Python 3.12 to use instead of searching).
set -euo pipefail

cd "$(dirname "$0")/.."
AF_VERSION="1.0.467"
PROJECT_PYTHON="${PYTHON:-python3}"

PY312="${PY312:-}"
if [[ -z "$PY312" ]]; then
  for candidate in python3.12 /root/.pyenv/versions/3.12.1/bin/python3.12; do
    # A pyenv shim answers `command -v` even when no 3.12 is installed; ask it to run.
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1; then
      PY312="$(command -v "$candidate")"
      break
    fi
  done
fi
if [[ -z "$PY312" ]]; then
  echo "accelforge CI: no python3.12 here (tried python3.12 on PATH and /root/.pyenv/versions/3.12.1); skipping"
  exit 0
fi

VENV="${TNX_AF_VENV:-${TMPDIR:-/tmp}/tnx-af312-ci}"
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "accelforge CI: creating $VENV with $PY312"
  "$PY312" -m venv "$VENV"
fi
installed="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("accelforge"))' 2>/dev/null || true)"
if [[ "$installed" != "$AF_VERSION" ]]; then
  echo "accelforge CI: installing accelforge==$AF_VERSION (found: ${installed:-none})"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet "accelforge==$AF_VERSION"
fi

# CACTI: the wheel's binary is linked against glibc 2.38; rebuild it when it does not run.
CACTI_DIR="$("$VENV/bin/python" -c 'import hwcomponents_cacti, os; print(os.path.join(os.path.dirname(hwcomponents_cacti.__file__), "cacti"))')"
probe="$(cd "$CACTI_DIR" && ./cacti -infile /nonexistent/cacti.cfg 2>&1 || true)"
if [[ "$probe" != *"is missing"* ]]; then
  echo "accelforge CI: CACTI does not run (${probe:0:200}); rebuilding in $CACTI_DIR"
  make -C "$CACTI_DIR" clean_dbg >/dev/null
  make -C "$CACTI_DIR" -j2 opt >/dev/null
  probe="$(cd "$CACTI_DIR" && ./cacti -infile /nonexistent/cacti.cfg 2>&1 || true)"
  if [[ "$probe" != *"is missing"* ]]; then
    echo "accelforge CI: CACTI still broken after the rebuild: ${probe:0:400}" >&2
    exit 1
  fi
fi

export TNX_ACCELFORGE_PYTHON="$VENV/bin/python"
export TNX_HWCOMPONENTS_PYTHON="$VENV/bin/python"
echo "accelforge CI: running the tests with TNX_ACCELFORGE_PYTHON=$TNX_ACCELFORGE_PYTHON"
exec "$PROJECT_PYTHON" -m pytest -q \
  tests/backends/test_accelforge_e2e.py \
  tests/backends/test_accelforge_backend.py \
  tests/energy/test_energy_sources.py
