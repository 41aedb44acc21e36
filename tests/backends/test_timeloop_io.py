"""Round trips through the Timeloop v3 input writer: write -> our parsers -> identical reports.

Every oracle case (real Timeloop v3.0.3 inputs) is written back in the classic tree form with
its energies as an ERT, read with our own parsers and evaluated natively: the specs come back
equal and the reports identical. A tensor-train contraction with multi-letter dimensions
(``b, i1, j1, r0, r1``) checks the renaming to Timeloop's one-letter names and back.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from tests.conftest import ORACLE, case_inputs, oracle_cases
from tnx_timeloop import api
from tnx_timeloop.backends.native import NativeBackend
from tnx_timeloop.backends.timeloop_io import (
    architecture_to_v3,
    constraints_to_v3,
    energy_to_ert,
    read_map_yaml,
    rename_mapping,
    rename_problem,
    timeloop_names,
    write_timeloop_inputs,
)
from tnx_timeloop.energy.tables import LevelEnergy, select_energy
from tnx_timeloop.errors import SpecError
from tnx_timeloop.model.report import Report
from tnx_timeloop.spec.problem import DataSpace, Problem, ProjectionTerm, parse_problem

TT_RENAME = {"B": "b", "I": "i1", "J": "j1", "R": "r0", "S": "r1"}


def _assert_same_report(a: Report, b: Report) -> None:
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            assert np.array_equal(x, y), name
        elif name != "dataspace_names":
            assert x == y, name


def _native(spec: api.Spec, energy) -> Report:
    return NativeBackend().evaluate(spec.arch, spec.problem, spec.mapping, energy=energy)


@pytest.mark.parametrize("case", oracle_cases())
def test_every_oracle_case_round_trips(case: str, tmp_path) -> None:
    spec = api.load_spec(case_inputs(case))
    energy = select_energy(spec.arch, "auto", spec.energy_table)
    inputs = write_timeloop_inputs(tmp_path, spec.arch, spec.problem, spec.mapping, energy=energy)
    assert [p.name for p in inputs.files] == ["arch.yaml", "problem.yaml", "mapping.yaml", "ERT.yaml", "ART.yaml"]
    again = api.load_spec(inputs.files)
    assert again.arch == spec.arch
    assert again.problem == spec.problem
    assert again.mapping == spec.mapping
    assert inputs.names.is_identity
    _assert_same_report(_native(spec, energy), _native(again, select_energy(again.arch, "auto", again.energy_table)))


def test_written_arch_is_the_classic_tree() -> None:
    spec = api.load_spec(case_inputs("ey_conv1x1"))
    doc, paths = architecture_to_v3(spec.arch)
    arch = doc["architecture"]
    assert arch["version"] == 0.3
    root = arch["subtree"][0]
    assert root["name"] == "system" and [c["name"] for c in root["local"]] == ["DRAM", "shared_glb"]
    tile1 = root["subtree"][0]
    assert tile1["name"] == "tile1[0..13]"  # 14 DummyBuffers
    tile2 = tile1["subtree"][0]
    assert tile2["name"] == "tile2[0..11]"  # 168 PEs = 14 x 12
    assert tile2["local"][-1]["name"] == "mac" and tile2["local"][-1]["attributes"]["meshX"] == 14
    assert paths["psum_spad"] == "system.tile1.tile2.psum_spad"
    for comp in root["local"] + tile1["local"] + tile2["local"][:-1]:
        assert {"word-bits", "block-size", "cluster-size", "meshX"} <= set(comp["attributes"])


def test_ert_holds_the_given_energies_exactly() -> None:
    spec = api.load_spec(case_inputs("t8_conv1d_os"))
    energy = select_energy(spec.arch, "auto", spec.energy_table)
    odd = energy.storage[1]
    energy = type(energy)(
        (energy.storage[0], LevelEnergy(odd.read_pj, 1.0 / 3.0, 2.5, odd.area_um2, "test")),
        energy.compute_pj,
    )
    _, paths = architecture_to_v3(spec.arch)
    ert = yaml.safe_load(yaml.safe_dump(energy_to_ert(spec.arch, energy, paths)))["ERT"]
    assert ert["version"] == "0.4"
    tables = {t["name"]: {a["name"]: a["energy"] for a in t["actions"]} for t in ert["tables"]}
    assert tables["system.Buffer"] == {"read": odd.read_pj, "write": 1.0 / 3.0, "update": 2.5}
    assert tables["system.MainMemory"] == {"read": 512.0, "write": 512.0}
    assert tables["system.MACC"] == {"mac_random": energy.compute_pj}


def test_architecture_name_becomes_the_root() -> None:
    spec = api.load_spec(case_inputs("t8_conv1d_os"))
    named = type(spec.arch)(storage=spec.arch.storage, compute=spec.arch.compute, name="edge_npu")
    doc, paths = architecture_to_v3(named)
    assert doc["architecture"]["subtree"][0]["name"] == "edge_npu"
    assert paths["MACC"] == "edge_npu.MACC"


# --------------------------------------------------------------------------- renaming


def _tt_multi_letter() -> tuple[api.Spec, api.Spec]:
    """The oracle TT core contraction and the same with dimensions b, i1, j1, r0, r1."""
    spec = api.load_spec(case_inputs("s16_tt3"))
    p = spec.problem
    problem = Problem(
        name="tt-core",
        dimensions=tuple(TT_RENAME[d] for d in p.dimensions),
        bounds=p.bounds,
        dataspaces=tuple(
            DataSpace(ds.name, tuple(tuple(ProjectionTerm(TT_RENAME[t.dimension], t.coefficient) for t in r)
                                     for r in ds.projection), ds.read_write)
            for ds in p.dataspaces
        ),
        coefficients=p.coefficients,
    )
    mapping = rename_mapping(spec.mapping, TT_RENAME, {})
    return spec, api.Spec(arch=spec.arch, problem=problem, mapping=mapping, energy_table=spec.energy_table)


def test_multi_letter_dimensions_get_one_letter_names() -> None:
    _, tt = _tt_multi_letter()
    names = timeloop_names(tt.problem)
    assert dict(names.dimensions) == {"b": "b", "i1": "I", "j1": "J", "r0": "R", "r1": "A"}
    assert not names.is_identity
    assert names.dim_back("A") == "r1"
    assert all(len(b) == 1 for _, b in names.dimensions)


def test_multi_letter_problem_round_trips_with_identical_report(tmp_path) -> None:
    oracle, tt = _tt_multi_letter()
    energy = select_energy(tt.arch, "auto", tt.energy_table)
    expected = _native(tt, energy)
    _assert_same_report(expected, _native(oracle, energy))  # renaming changes nothing
    inputs = write_timeloop_inputs(tmp_path, tt.arch, tt.problem, tt.mapping, energy=energy)
    text = (tmp_path / "mapping.yaml").read_text()
    assert "i1" not in text and "r0" not in text
    again = api.load_spec(inputs.files)
    assert again.problem.dimensions == ("b", "I", "J", "R", "A")
    assert again.problem == rename_problem(tt.problem, inputs.names)
    _assert_same_report(expected, _native(again, select_energy(again.arch, "auto", again.energy_table)))
    # and the written mapping reads back into our names
    assert read_map_yaml(tmp_path / "mapping.yaml", tt.arch, tt.problem, inputs.names) == tt.mapping


def test_non_identifier_names_and_numeric_coefficients(tmp_path) -> None:
    problem = parse_problem({
        "shape": {
            "name": "conv1d-strided",
            "dimensions": ["out_ch", "P", "R"],
            "data-spaces": [
                {"name": "w-eights", "projection": [[["out_ch"]], [["R"]]]},
                {"name": "Inputs", "projection": ["2*P + R"]},
                {"name": "Outputs", "projection": [[["out_ch"]], [["P"]]], "read-write": True},
            ],
        },
        "instance": {"out_ch": 4, "P": 8, "R": 3},
    })
    names = timeloop_names(problem)
    assert dict(names.dataspaces)["w-eights"] == "w_eights"
    assert dict(names.coefficients)["2"] == "k2"
    assert dict(names.dimensions)["out_ch"] == "O"
    spec = api.load_spec(case_inputs("t8_conv1d_os"))
    from tnx_timeloop.spec.mapping import parse_mapping

    mapping = parse_mapping(
        [{"target": "MainMemory", "type": "temporal", "factors": "out_ch=4 P=8 R=1"},
         {"target": "Buffer", "type": "temporal", "factors": "out_ch=1 P=1 R=3"}],
        spec.arch, problem,
    )
    energy = select_energy(spec.arch, "auto", spec.energy_table)
    inputs = write_timeloop_inputs(tmp_path, spec.arch, problem, mapping, energy=energy)
    again = api.load_spec(inputs.files)
    assert again.problem.dataspace_names == ("w_eights", "Inputs", "Outputs")
    a = NativeBackend().evaluate(spec.arch, problem, mapping, energy=energy)
    b = _native(again, select_energy(again.arch, "auto", again.energy_table))
    assert np.array_equal(a.reads, b.reads) and np.array_equal(a.tile_words, b.tile_words)
    assert a.energy_pj[0] == b.energy_pj[0] and a.cycles[0] == b.cycles[0]


def test_too_many_dimensions_is_a_spec_error() -> None:
    dims = tuple(f"d{i}" for i in range(53))
    ds = DataSpace("Z", tuple((ProjectionTerm(d),) for d in dims), True)
    with pytest.raises(SpecError, match="at most 52"):
        timeloop_names(Problem("big", dims, (1,) * 53, (ds,)))


# --------------------------------------------------------------------------- mapper inputs


@pytest.mark.parametrize("case", oracle_cases("mapper"))
def test_mapper_map_yaml_reads_as_our_mapping(case: str) -> None:
    spec = api.load_spec(case_inputs(case))
    path = ORACLE / case / "timeloop-mapper.map.yaml"
    assert read_map_yaml(path, spec.arch, spec.problem) == spec.mapping


def test_constraints_are_renamed_for_timeloop(tmp_path) -> None:
    _, tt = _tt_multi_letter()
    names = timeloop_names(tt.problem)
    constraints = [("c.yaml", ("mapspace_constraints", {"targets": [
        {"target": "GlobalBuffer", "type": "temporal", "factors": "r0=1 b<=4", "permutation": ["i1", "j1"]},
        {"target": "GlobalBuffer", "type": "bypass", "keep": ["G"], "bypass": ["In"]},
    ]}))]
    out = constraints_to_v3(tt.arch, tt.problem, constraints, names)
    targets = out["mapspace_constraints"]["targets"]
    assert targets[0] == {"target": "GlobalBuffer", "type": "temporal", "factors": "R=1 b<=4", "permutation": "IJ"}
    assert targets[1]["keep"] == ["G"] and targets[1]["bypass"] == ["In"]
    bad = [("c.yaml", ("mapspace_constraints", {"targets": [{"target": "GlobalBuffer", "factors": "q1=2"}]}))]
    with pytest.raises(SpecError, match="c.yaml:mapspace_constraints.targets\\[0\\].factors: unknown dimension 'q1'"):
        constraints_to_v3(tt.arch, tt.problem, bad, names)


def test_mapper_inputs_are_written_with_a_default_mapper_section(tmp_path) -> None:
    spec = api.load_spec(case_inputs("mapper_ws_conv1x1") + sorted((ORACLE / "mapper_ws_conv1x1" / "inputs").glob("constraints_*.yaml")))
    energy = select_energy(spec.arch, "auto", spec.energy_table)
    inputs = write_timeloop_inputs(tmp_path, spec.arch, spec.problem, None, energy=energy, constraints=spec.constraints)
    names = [p.name for p in inputs.files]
    assert names == ["arch.yaml", "problem.yaml", "architecture_constraints.yaml", "mapspace_constraints.yaml",
                     "mapper.yaml", "ERT.yaml", "ART.yaml"]
    merged = api.load_spec(inputs.files)
    assert merged.mapper["num-threads"] == 1 and merged.mapper["algorithm"] == "random-pruned"
    assert len(merged.constraints) == 2
