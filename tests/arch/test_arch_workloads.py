"""Workloads: every layer file parses, networks load with counts and batch, MAC totals match the papers."""

from __future__ import annotations

import pytest

from tnx_timeloop import api, library
from tnx_timeloop.errors import SpecError

ROOT = library.library_root()
# the folders of the layer-shape library (other workloads/ sub-folders hold other formats)
NETWORKS = ["alexnet", "alexnet-n4", "resnet18", "resnet50", "tpu-mlp0", "tpu-mlp1", "vgg16"]
LAYER_FILES = sorted(
    p for folder in (*NETWORKS, "layers") for p in (ROOT / "workloads" / folder).glob("*.yaml")
    if p.name != "network.yaml"
)


@pytest.mark.parametrize("path", LAYER_FILES, ids=lambda p: str(p.relative_to(ROOT / "workloads")))
def test_every_layer_file_is_a_timeloop_problem(path):
    problem = api.load_spec([path]).problem
    assert problem.macs > 0
    assert set(problem.dimensions) == {"C", "M", "R", "S", "N", "P", "Q"}


@pytest.mark.parametrize("name", NETWORKS)
def test_every_network_loads(name):
    net = library.load_network(name)
    assert net.layers and all(layer.count >= 1 for layer in net.layers)
    assert net.macs == sum(layer.count * layer.problem.macs for layer in net.layers)


@pytest.mark.parametrize(
    ("name", "batch", "macs"),
    [
        ("alexnet", None, 665_784_864),  # Eyeriss: 666 M MACs per image
        ("alexnet-n4", None, 4 * 665_784_864),
        ("vgg16", 3, 46_039_891_968),  # Eyeriss Table VI: 46.04 G MACs at N = 3
        ("resnet50", None, 4_089_184_256),  # the well-known 4.1 G MACs
        ("resnet18", None, 1_814_073_344),
        ("tpu-mlp0", None, 5 * 2000 * 2000 * 200),
    ],
)
def test_network_macs(name, batch, macs):
    assert library.load_network(name, batch=batch).macs == macs


def test_layer_counts():
    r50 = library.load_network("resnet50")
    convs = sum(layer.count for layer in r50.layers if layer.name != "fc")
    assert convs == 53
    assert sum(layer.count for layer in library.load_network("resnet18").layers) == 21
    alex = {layer.name: layer.count for layer in library.load_network("alexnet").layers}
    assert alex == {"CONV1": 1, "CONV2": 2, "CONV3": 1, "CONV4": 2, "CONV5": 2}


def test_batch_override_and_folder_form(tmp_path):
    net = library.load_network(ROOT / "workloads/alexnet", batch=4)
    assert net.batch == 4 and all(dict(zip(x.problem.dimensions, x.problem.bounds, strict=True))["N"] == 4 for x in net.layers)
    folder = tmp_path / "net"
    folder.mkdir()
    for f in ("conv1.yaml", "conv3.yaml"):
        (folder / f).write_text((ROOT / "workloads/alexnet" / f).read_text())
    net = library.load_network(folder)
    assert [layer.name for layer in net.layers] == ["conv1", "conv3"] and net.name == "net"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("network:\n  layers:\n    - {file: missing.yaml}\n", "layer file not found"),
        ("network:\n  layers:\n    - {file: conv1.yaml, count: 0}\n", "must be >= 1"),
        ("network:\n  colour: red\n  layers: []\n", "unknown key 'colour'"),
        ("network:\n  layers: []\n", "at least one layer"),
        ("layers: []\n", "top-level 'network' key"),
    ],
)
def test_network_errors(tmp_path, text, message):
    (tmp_path / "conv1.yaml").write_text((ROOT / "workloads/alexnet/conv1.yaml").read_text())
    path = tmp_path / "network.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=message) as info:
        library.load_network(path)
    assert str(path) in str(info.value)


def test_batch_needs_an_n_dimension(tmp_path):
    from tests.conftest import ORACLE

    (tmp_path / "tt.yaml").write_text((ORACLE / "s16_tt3/inputs/problem.yaml").read_text())
    (tmp_path / "network.yaml").write_text("network:\n  batch: 2\n  layers:\n    - {file: tt.yaml}\n")
    with pytest.raises(SpecError, match="dimension 'N'"):
        library.load_network(tmp_path / "network.yaml")
