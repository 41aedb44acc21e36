"""Network descriptions: parsing, shapes, errors, lowering to problems, round trips, imports."""

from __future__ import annotations

import copy

import pytest
from eenn_data import TINY_NET, WORKLOADS

from tnx_timeloop.errors import SpecError
from tnx_timeloop.frontends.early_exit import load_network, lower_layer, network_to_dict, parse_network

NETWORKS = ["mobilenetv2-cifar10", "resnet20-cifar10", "resnet18-cifar10", "vgg11-cifar10", "vgg16-cifar10", "digits-cnn"]


@pytest.mark.parametrize("name", NETWORKS)
def test_shipped_networks_parse_lower_and_round_trip(name):
    net = load_network(WORKLOADS / f"{name}.yaml")
    for layer in net.layers:
        assert lower_layer(layer).macs == layer.macs
    for e in net.exits:
        for h in e.heads:
            assert h.layers[-1].out_shape.words == net.classes
    assert parse_network(network_to_dict(net)) == net


def test_mobilenetv2_cifar10_size():
    net = load_network(WORKLOADS / "mobilenetv2-cifar10.yaml")
    assert net.macs == 88_138_240
    assert net.weight_words == 2_202_560  # 2.2 M parameters, as MobileNetV2 with a 10-way classifier
    assert [lay.kind for lay in net.layers].count("dwconv") == 17
    assert net.layer("b16_add").out_shape.as_list() == [160, 4, 4]


def test_depthwise_problem_keeps_channels_unreduced():
    net = load_network(WORKLOADS / "mobilenetv2-cifar10.yaml")
    p = lower_layer(net.layer("b4_dw"))
    assert p.name == "Depthwise"
    assert p.instance == {"C": 144, "M": 1, "R": 3, "S": 3, "N": 1, "P": 16, "Q": 16}
    rel = dict(zip(p.dataspace_names, p.relevance(), strict=True))
    c = p.dimensions.index("C")
    assert rel["Outputs"][c] and rel["Weights"][c] and rel["Inputs"][c]
    assert p.coefficient("Wstride") == 2


def test_pool_and_add_problems():
    net = load_network(WORKLOADS / "resnet20-cifar10.yaml")
    add = lower_layer(net.layer("s1b1_add"))
    assert add.name == "Eltwise" and add.bound("R") == 2 and add.macs == 2 * 16 * 32 * 32
    pool = lower_layer(net.layer("pool"))
    assert pool.name == "Pool" and pool.dataspace_words("Weights") == 1 and pool.macs == 64 * 8 * 8
    fc = lower_layer(net.layer("fc"))
    assert fc.name == "CNN-Layer" and fc.instance["C"] == 64 and fc.instance["M"] == 10


def _net(mutate):
    data = copy.deepcopy(TINY_NET)
    mutate(data)
    return data


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["exits"].__setitem__("candidates", ["fc"]), "placed after the last layer"),
    (lambda d: d["exits"].__setitem__("candidates", ["nope"]), "no such backbone layer"),
    (lambda d: d["layers"][1].__setitem__("type", "lstm"), "unknown layer type 'lstm'"),
    (lambda d: d["layers"][1].__setitem__("input", "fc"), "not an earlier layer"),
    (lambda d: d["layers"].insert(2, {"name": "a", "type": "add", "inputs": ["c2", "input"]}), "is 4x8x8, but 'c2' is 8x8x8"),
    (lambda d: d["layers"][3].__setitem__("out", 7), "not the 10 classes"),
    (lambda d: d["layers"][0].update(kernel=11, padding=0), "does not fit an input of 8"),
    (lambda d: d["layers"][0].__setitem__("outs", 3), "unknown key 'outs'"),
    (lambda d: d["exits"]["head"]["layers"].__setitem__(0, {"type": "pwconv", "out": "{depth}"}), "unknown placeholder"),
])
def test_network_errors(mutate, message):
    with pytest.raises(SpecError, match=message):
        parse_network(_net(mutate))


def test_error_names_the_file_and_entry(tmp_path):
    import yaml

    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump({"eenn": _net(lambda d: d["exits"].__setitem__("candidates", ["fc"]))}))
    with pytest.raises(SpecError, match=r"net\.yaml:eenn\.exits\.candidates\[0\]"):
        load_network(path)


def test_onnx_import(tmp_path):
    onnx = pytest.importorskip("onnx", reason="onnx is an optional extra")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from tnx_timeloop.frontends.onnx_import import import_onnx

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.standard_normal((8, 1, 3, 3)).astype(np.float32), "wdw"),
        numpy_helper.from_array(rng.standard_normal((8, 8, 1, 1)).astype(np.float32), "wpw"),
        numpy_helper.from_array(rng.standard_normal((10, 8)).astype(np.float32), "wfc"),
        numpy_helper.from_array(rng.standard_normal((10, 8)).astype(np.float32), "wexit"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["a1"]),
        helper.make_node("Conv", ["a1", "wdw"], ["b"], name="dw", kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=8,
                         strides=[2, 2]),
        helper.make_node("Conv", ["b", "wpw"], ["c"], name="pw", kernel_shape=[1, 1]),
        helper.make_node("MaxPool", ["a1"], ["a2"], name="pool_a", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Add", ["c", "a2"], ["d"], name="res"),
        helper.make_node("GlobalAveragePool", ["d"], ["e"], name="gap"),
        helper.make_node("Flatten", ["e"], ["f"]),
        helper.make_node("Gemm", ["f", "wfc"], ["y"], name="fc", transB=1),
        helper.make_node("GlobalAveragePool", ["a1"], ["g"], name="exit_gap"),
        helper.make_node("Flatten", ["g"], ["h"]),
        helper.make_node("Gemm", ["h", "wexit"], ["y_exit"], name="exit_fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y_exit", TensorProto.FLOAT, [1, 10]),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], initializer=inits)
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph), str(path))
    net = import_onnx(path)
    assert [lay.kind for lay in net.layers] == ["conv", "dwconv", "pwconv", "pool", "add", "pool", "fc"] or \
        [lay.kind for lay in net.layers] == ["conv", "dwconv", "conv", "pool", "add", "pool", "fc"]
    assert net.layer("dw").out_shape.as_list() == [8, 4, 4]
    assert net.layer("res").inputs == ("pw", "pool_a")
    assert [e.after for e in net.exits] == ["conv1"]
    assert [lay.kind for lay in net.exits[0].heads[0].layers] == ["pool", "fc"]
    assert load_network(path) == net


def test_onnx_unsupported_operator(tmp_path):
    onnx = pytest.importorskip("onnx", reason="onnx is an optional extra")
    from onnx import TensorProto, helper

    from tnx_timeloop.frontends.onnx_import import import_onnx

    graph = helper.make_graph([helper.make_node("LSTM", ["x"], ["y"], name="rnn")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])])
    path = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(SpecError, match="unsupported operator LSTM"):
        import_onnx(path)


def test_torch_import_of_a_residual_early_exit_module():
    torch = pytest.importorskip("torch", reason="torch is an optional extra")
    from torch import nn

    from tnx_timeloop.frontends.torch_import import import_torch_module

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
            self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
            self.pw = nn.Conv2d(16, 16, 1)
            self.exit = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(16 * 4 * 4, 10)

        def forward(self, x):
            x = self.stem(x)
            e = self.exit(x)
            y = self.pw(torch.relu(self.dw(x))) + x
            return e, self.fc(torch.flatten(self.pool(y), 1))

    net = import_torch_module(Net(), [3, 8, 8], name="t", exit_names=["early"])
    assert [lay.kind for lay in net.layers] == ["conv", "dwconv", "conv", "add", "pool", "fc"]
    assert net.layer("fc").in_shape.as_list() == [16, 4, 4]
    assert net.exits[0].name == "early" and net.exits[0].after == "stem.0"
    assert net.macs == sum(lay.macs for lay in net.layers)


def test_torch_grouped_conv_is_an_error():
    pytest.importorskip("torch", reason="torch is an optional extra")
    from torch import nn

    from tnx_timeloop.frontends.torch_import import import_torch_module

    model = nn.Sequential(nn.Conv2d(4, 8, 3, groups=2), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))
    with pytest.raises(SpecError, match="grouped convolution"):
        import_torch_module(model, [4, 8, 8], name="g")
