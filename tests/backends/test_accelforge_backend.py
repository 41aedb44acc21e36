"""The ``accelforge`` backend: mapping trees, reports, the worker plumbing, and AccelForge itself.

Without AccelForge: our mappings become AccelForge mapping trees and come back unchanged (the
native model gives identical reports on every perfect oracle mapping), the tile sizes, instances
and fan-outs a tree implies equal the native model's, and worker failures are clear errors
(a stand-in interpreter prints garbage or an error result).

With AccelForge (``$TNX_ACCELFORGE_PYTHON`` or ``/work/venvs/af312/bin/python``; see
docs/accelforge.md): a GEMM and a conv are evaluated on a fixed mapping and searched, and the
figures are checked against the native model and hand-derived bounds.
"""

from __future__ import annotations

import stat
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import case_inputs, oracle_cases
from tnx_timeloop import api
from tnx_timeloop.backends import accelforge_translate as T
from tnx_timeloop.backends._accelforge_mapping import mapping_to_tree, tree_facts, tree_to_mapping
from tnx_timeloop.backends.accelforge_backend import AccelForgeBackend, find_accelforge_python
from tnx_timeloop.backends.native import NativeBackend
from tnx_timeloop.energy.tables import select_energy
from tnx_timeloop.errors import BackendError, MappingError
from tnx_timeloop.spec.arch import parse_architecture
from tnx_timeloop.spec.mapping import parse_mapping
from tnx_timeloop.spec.problem import parse_problem, problem_to_dict

PERFECT = [c for c in oracle_cases() if c != "t8_conv1d_imperfect"]

ARCH = {
    "version": 0.3,
    "subtree": [{
        "name": "system",
        "attributes": {"technology": "45nm"},
        "local": [
            {"name": "DRAM", "class": "DRAM", "attributes": {"type": "LPDDR4", "width": 64, "block-size": 4, "word-bits": 16}},
            {"name": "Buffer", "class": "SRAM", "attributes": {"depth": 8192, "width": 64, "block-size": 4, "word-bits": 16}},
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
GEMM_MAPPING = [
    {"target": "Buffer", "type": "spatial", "factors": "M=16 N=16 K=1", "permutation": "MNK", "split": 1},
    {"target": "Buffer", "type": "temporal", "factors": "M=4 N=4 K=64", "permutation": "KNM"},
]


@pytest.fixture(autouse=True)
def _run_directories_in_tmp(tmp_path, monkeypatch):
    """Run directories (kept on failure) land in the test's tmp_path, not in /tmp."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

def _translation(problem):
    return T.translate_problem(problem_to_dict(problem))


@pytest.mark.parametrize("case", PERFECT)
def test_mapping_tree_round_trip_and_facts(case: str) -> None:
    spec = api.load_spec(case_inputs(case))
    w = _translation(spec.problem)
    kw = {"rank_variables": w.rank_variables, "tensor_names": w.tensor_names}
    tree = mapping_to_tree(spec.mapping, spec.arch, spec.problem, einsum=w.einsum_name, **kw)
    assert tree["nodes"][0] == {"type": "Storage", "tensors": list(w.tensor_names.values()),
                                "component": spec.arch.storage[0].name}
    assert tree["nodes"][-1]["type"] == "Compute"
    energy = select_energy(spec.arch, "auto", spec.energy_table)
    native = NativeBackend().evaluate(spec.arch, spec.problem, spec.mapping, energy=energy)
    facts = tree_facts(tree, spec.arch, spec.problem, **kw)
    np.testing.assert_array_equal(facts.tile_words, native.tile_words[0])
    np.testing.assert_array_equal(facts.utilized_instances, native.utilized_instances[0])
    np.testing.assert_array_equal(facts.spatial_x, native.spatial_x[0])
    np.testing.assert_array_equal(facts.spatial_y, native.spatial_y[0])
    assert facts.compute_utilized == native.compute_utilized_instances[0]
    assert facts.temporal_iterations == native.compute_cycles[0]
    back, note = tree_to_mapping(tree, spec.arch, spec.problem, **kw)
    assert back is not None, note
    again = NativeBackend().evaluate(spec.arch, spec.problem, back, energy=energy)
    assert again.to_dict() == native.to_dict()


def test_imperfect_mappings_are_refused() -> None:
    spec = api.load_spec(case_inputs("t8_conv1d_imperfect"))
    w = _translation(spec.problem)
    with pytest.raises(MappingError, match="perfect factorizations only"):
        mapping_to_tree(spec.mapping, spec.arch, spec.problem, rank_variables=w.rank_variables,
                        tensor_names=w.tensor_names, einsum=w.einsum_name)
    backend = AccelForgeBackend(python="/nonexistent/python3.12")
    with pytest.raises(BackendError, match="perfect factorizations only"):
        backend.evaluate(spec.arch, spec.problem, spec.mapping, energy=select_energy(spec.arch, "auto", None))


def _gemm_spec() -> api.Spec:
    arch = parse_architecture(ARCH)
    problem = parse_problem(GEMM)
    return api.Spec(arch=arch, problem=problem, mapping=parse_mapping(GEMM_MAPPING, arch, problem))


# An AccelForge GEMM mapping that keeps A, B and Z in the Buffer at three loop depths.
SPLIT_TREE = {"nodes": [
    {"type": "Storage", "tensors": ["Z", "B", "A"], "component": "DRAM"},
    {"type": "Storage", "tensors": ["Z"], "component": "Buffer"},
    {"type": "Temporal", "rank_variable": "k", "tile_shape": 16},
    {"type": "Storage", "tensors": ["A"], "component": "Buffer"},
    {"type": "Temporal", "rank_variable": "n", "tile_shape": 4},
    {"type": "Storage", "tensors": ["B"], "component": "Buffer"},
    {"type": "Temporal", "rank_variable": "m", "tile_shape": 4},
    {"type": "Spatial", "component": "MAC", "rank_variable": "n", "tile_shape": 1, "name": "MAC_Y"},
    {"type": "Spatial", "component": "MAC", "rank_variable": "m", "tile_shape": 1, "name": "MAC_Y"},
    {"type": "Spatial", "component": "MAC", "rank_variable": "k", "tile_shape": 1, "name": "MAC_X"},
    {"type": "Compute", "component": "MAC", "einsum": "GEMM"},
]}


def test_tree_that_timeloop_cannot_express() -> None:
    spec = _gemm_spec()
    w = _translation(spec.problem)
    kw = {"rank_variables": w.rank_variables, "tensor_names": w.tensor_names}
    mapping, note = tree_to_mapping(SPLIT_TREE, spec.arch, spec.problem, **kw)
    assert mapping is None and note == "the tensors of Buffer sit at different loop depths"
    facts = tree_facts(SPLIT_TREE, spec.arch, spec.problem, **kw)
    # Z tile: 64 x 64; A tile: m 64 x k 16; B tile: k 16 x n 4
    assert facts.tile_words[1].tolist() == [64 * 16, 16 * 4, 64 * 64]
    assert facts.utilized_instances.tolist() == [1, 1] and facts.compute_utilized == 256
    assert facts.spatial_x.tolist() == [1, 16] and facts.spatial_y.tolist() == [1, 16]


def test_translation_uses_per_word_energies_and_drops_dummy_levels() -> None:
    spec = api.load_spec(case_inputs("ey_conv1x1"))
    energy = select_energy(spec.arch, "auto", spec.energy_table)
    _, arch_t = AccelForgeBackend(python="/nonexistent").translate(spec.arch, spec.problem, energy)
    assert arch_t.storage_levels == ("DRAM", "shared_glb", "DummyBuffer", "ifmap_spad", "weights_spad", "psum_spad")
    dram = arch_t.arch["nodes"][0]
    assert dram["actions"][0]["energy"] == pytest.approx(512.0 / 4 * 1e-12)  # block-size 4
    assert arch_t.fanout["DummyBuffer"] == (14, 1) and arch_t.fanout["ifmap_spad"] == (1, 12)


def test_missing_interpreter_says_how_to_install() -> None:
    backend = AccelForgeBackend(python="/nonexistent/python3.12")
    assert not backend.available()
    assert "pip install accelforge==1.0.467" in backend.why_unavailable()
    spec = _gemm_spec()
    with pytest.raises(BackendError, match="backend 'accelforge' is not available: AccelForge needs its own Python"):
        backend.evaluate(spec.arch, spec.problem, spec.mapping, energy=select_energy(spec.arch, "auto", None))


def test_constraints_are_refused() -> None:
    spec = _gemm_spec()
    with pytest.raises(BackendError, match="takes no Timeloop mapspace constraints"):
        AccelForgeBackend(python="/nonexistent").search(
            spec.arch, spec.problem, [("c.yaml", ("mapspace_constraints", {"targets": []}))],
            energy=select_energy(spec.arch, "auto", None),
        )


STAND_IN = """#!{python}
import json, sys
if sys.argv[1:2] == ["-c"]:
    print("ok 1.0.467"); sys.exit(0)
request = json.loads(sys.stdin.read())
mode = {mode!r}
if mode == "garbage":
    print("Traceback (most recent call last):\\n  ImportError: libisl.so.23"); sys.exit(1)
print(json.dumps({{"ok": False, "error_type": "ValueError", "message": "no valid mapping",
                   "hint": "give the Buffer more capacity", "traceback": "Traceback ...\\nValueError: no valid mapping"}}))
sys.exit(1)
"""


@pytest.mark.parametrize(
    ("mode", "pattern"),
    [
        ("garbage", r"printed no JSON result\ncommand: .*\nexit status: 1\nworking directory \(kept\): .*\n"
                    r"last output:\nTraceback"),
        ("error", r"AccelForge failed: ValueError: no valid mapping\nhint: give the Buffer more capacity"),
    ],
)
def test_worker_failures_are_clear(mode: str, pattern: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    python = tmp_path / "python3.12"
    python.write_text(STAND_IN.format(python=sys.executable, mode=mode))
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    spec = _gemm_spec()
    backend = AccelForgeBackend(python=str(python))
    assert backend.available()
    with pytest.raises(BackendError, match=pattern) as info:
        backend.evaluate(spec.arch, spec.problem, spec.mapping, energy=select_energy(spec.arch, "auto", None))
    assert Path(info.value.workdir).is_dir()


# --------------------------------------------------------------------------- with AccelForge

FOUND = find_accelforge_python()
needs_accelforge = pytest.mark.skipif(FOUND.python is None, reason=f"AccelForge is not installed: {FOUND.why}")

CONV_MAPPING = [  # C16 M16 P=Q=8 R=S=3 on the 16x16 array: C on X, M on Y
    {"target": "Buffer", "type": "spatial", "factors": "C=16 M=16", "permutation": "CM", "split": 1},
    {"target": "Buffer", "type": "temporal", "factors": "R=3 S=3 P=8 Q=8 N=1", "permutation": "SRQP"},
]


def _conv_spec() -> api.Spec:
    arch = parse_architecture(ARCH)
    problem = api.load_spec([Path(case_inputs("t16_conv3x3_c16m16_p8")[1])]).problem
    return api.Spec(arch=arch, problem=problem, mapping=parse_mapping(CONV_MAPPING, arch, problem))


@needs_accelforge
@pytest.mark.parametrize("make", [_gemm_spec, _conv_spec], ids=["gemm", "conv"])
def test_fixed_mapping_agrees_with_native(make) -> None:
    spec = make()
    energy = select_energy(spec.arch, "auto", None)
    native = NativeBackend().evaluate(spec.arch, spec.problem, spec.mapping, energy=energy)
    run = AccelForgeBackend().evaluate_run(spec.arch, spec.problem, spec.mapping, energy=energy)
    report = run.report
    assert report.cycles[0] == native.cycles[0]  # every PE busy, no bandwidth limit
    np.testing.assert_array_equal(report.tile_words, native.tile_words)
    np.testing.assert_array_equal(report.utilized_instances, native.utilized_instances)
    # DRAM traffic and every input operand access are the same ...
    np.testing.assert_allclose(report.reads[0, 0], native.reads[0, 0])
    np.testing.assert_allclose(report.updates[0, 0], native.updates[0, 0])
    np.testing.assert_allclose(report.reads[0, :, :2], native.reads[0, :, :2])
    np.testing.assert_allclose(report.energy_by_dataspace_pj[0, :, :2], native.energy_by_dataspace_pj[0, :, :2],
                               rtol=1e-6)
    assert report.compute_energy_pj[0] == pytest.approx(native.compute_energy_pj[0])
    # ... partial sums differ: Timeloop skips the first read of each output and accumulates
    # consecutive iterations on one output inside the MAC; AccelForge charges the Buffer each time
    assert (report.reads[0, 1, 2] >= native.reads[0, 1, 2]) and (report.updates[0, 1, 2] >= native.updates[0, 1, 2])
    assert native.energy_pj[0] <= report.energy_pj[0] <= 1.05 * native.energy_pj[0]
    assert run.mapping == spec.mapping and run.seconds["total"] > 0


@needs_accelforge
@pytest.mark.parametrize("case", ["t16_gemm_m128n96k48", "ws_conv3x3_c64m64_p14", "s16_tt3", "ey_conv1x1"])
def test_oracle_mappings_agree_with_native(case: str) -> None:
    """Tiles reused across irrelevant outer loops (even through a fan-out) are not refetched."""
    spec = api.load_spec(case_inputs(case))
    energy = select_energy(spec.arch, "auto", spec.energy_table)
    native = NativeBackend().evaluate(spec.arch, spec.problem, spec.mapping, energy=energy)
    report = AccelForgeBackend().evaluate(spec.arch, spec.problem, spec.mapping, energy=energy)
    assert report.cycles[0] == native.cycles[0]
    np.testing.assert_allclose(report.reads[0, 0], native.reads[0, 0])  # DRAM traffic
    np.testing.assert_allclose(report.updates[0, 0], native.updates[0, 0])
    np.testing.assert_array_equal(report.tile_words, native.tile_words)
    assert native.energy_pj[0] * 0.97 <= report.energy_pj[0] <= native.energy_pj[0] * 1.03


@needs_accelforge
def test_sliding_window_inputs_are_refetched_by_accelforge() -> None:
    spec = api.load_spec(case_inputs("t8_conv1d_os"))
    energy = select_energy(spec.arch, "auto", spec.energy_table)
    native = NativeBackend().evaluate(spec.arch, spec.problem, spec.mapping, energy=energy)
    report = AccelForgeBackend().evaluate(spec.arch, spec.problem, spec.mapping, energy=energy)
    # Weights (R only) are kept across the 16 P steps by both tools ...
    assert report.reads[0, 0, 0] == native.reads[0, 0, 0] == 3
    # ... but Timeloop fetches only the new input of each sliding 3-wide window (18 words),
    # AccelForge the whole window every step (48)
    assert (native.reads[0, 0, 1], report.reads[0, 0, 1]) == (18, 48)


@needs_accelforge
def test_search_finds_a_gemm_mapping_at_least_as_good() -> None:
    spec = _gemm_spec()
    energy = select_energy(spec.arch, "auto", None)
    backend = get_accelforge()
    mapping, report = backend.search(spec.arch, spec.problem, energy=energy)
    fixed = NativeBackend().evaluate(spec.arch, spec.problem, spec.mapping, energy=energy)
    assert report.cycles[0] == 64 ** 3 // 256
    assert report.energy_pj[0] <= fixed.energy_pj[0]
    # every tensor crosses the chip boundary exactly once
    assert report.reads[0, 0].tolist()[:2] == [4096, 4096] and report.updates[0, 0, 2] == 4096
    if mapping is not None:
        assert NativeBackend().evaluate(spec.arch, spec.problem, mapping, energy=energy).valid[0]


def get_accelforge() -> AccelForgeBackend:
    from tnx_timeloop.backends import get_backend

    backend = get_backend("accelforge")
    assert isinstance(backend, AccelForgeBackend)
    return backend


@needs_accelforge
def test_bad_worker_option_is_a_backend_error() -> None:
    spec = _gemm_spec()
    backend = AccelForgeBackend(options={"ffm": {"explore_loop_ordres": False}})
    with pytest.raises(BackendError, match=r"unknown field\(s\) \['explore_loop_ordres'\]"):
        backend.search(spec.arch, spec.problem, energy=select_energy(spec.arch, "auto", None))


@needs_accelforge
def test_probe_reports_the_environment() -> None:
    probe = AccelForgeBackend().probe()
    assert probe["versions"]["accelforge"] == T.ACCELFORGE_VERSION
    assert probe["cacti"]["status"] in {"ok", "broken", "missing"}
