"""Import a PyTorch module (plain or early-exit) into an early-exit network description.

Optional extra: PyTorch is imported when :func:`import_torch_module` runs.

The module is traced with ``torch.fx`` and run once on a zero input to learn every
tensor's shape. Supported operations: ``nn.Conv2d`` (dense, 1x1 or depthwise),
``nn.Linear``, ``nn.MaxPool2d``/``nn.AvgPool2d``/``nn.AdaptiveAvgPool2d``/
``nn.AdaptiveMaxPool2d`` (global when the output is 1x1), ``torch.mean`` over the
spatial axes, tensor additions (residuals); batch norm, activations, dropout,
flatten, view and reshape are folded into the producing layer. Anything else is
an error naming the operation.

If ``forward`` returns a tuple or list of logits, the last one is the final
classifier and the others are exits: the layers that only an exit needs become
that exit's head (size ``"imported"``), attached after the backbone layer it reads.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.frontends._traced import split_backbone_and_exits
from tnx_timeloop.frontends.early_exit import NETWORK_INPUT, EarlyExitNetwork, parse_network

__all__ = ["import_torch_module", "torch_network_dict"]

_PASS_MODULES = (
    "BatchNorm1d", "BatchNorm2d", "ReLU", "ReLU6", "LeakyReLU", "SiLU", "GELU", "Hardswish", "Hardsigmoid",
    "Sigmoid", "Tanh", "Dropout", "Dropout2d", "Identity", "Flatten", "Softmax", "ELU", "PReLU",
)
_PASS_METHODS = ("view", "reshape", "flatten", "relu", "relu_", "contiguous", "squeeze", "unsqueeze", "sigmoid",
                 "clamp", "clamp_", "softmax", "float")
_PASS_FUNCTIONS = ("relu", "relu6", "flatten", "dropout", "sigmoid", "hardswish", "gelu", "silu", "batch_norm",
                   "leaky_relu", "reshape", "softmax", "tanh", "clamp", "hardtanh", "elu")


def _shape(node: Any) -> tuple[int, ...]:
    meta = node.meta.get("tensor_meta")
    if meta is None or not hasattr(meta, "shape"):
        raise SpecError(Where(None, ("torch", str(node.name))), f"cannot tell the shape of {node.name!r} (not a tensor)")
    return tuple(int(x) for x in meta.shape)


def _pair(v: Any) -> list[int]:
    if isinstance(v, (tuple, list)):
        return [int(v[0]), int(v[1])]
    return [int(v), int(v)]


def _fn_name(target: Any) -> str:
    return getattr(target, "__name__", str(target))


def torch_network_dict(
    module: Any,
    input_shape: Sequence[int],
    *,
    name: str,
    classes: int | None = None,
    exit_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The ``eenn`` section of a PyTorch module (see the module notes).

    Parameters
    ----------
    module : torch.nn.Module
        The model (in eval mode during tracing).
    input_shape : sequence of int
        ``[channels, height, width]`` of one input.
    name : str
        Network name.
    classes : int, optional
        Number of classes (default: the final output's width).
    exit_names : sequence of str, optional
        Names of the exits (extra outputs), default ``exit1, exit2, ...``.

    Raises
    ------
    SpecError
        For an unsupported operation or a grouped convolution that is not depthwise.
    """
    import torch
    from torch.fx import symbolic_trace
    from torch.fx.passes.shape_prop import ShapeProp

    where = Where(None, ("torch", name))
    was_training = module.training
    module.eval()
    try:
        gm = symbolic_trace(module)
        with torch.no_grad():
            ShapeProp(gm).propagate(torch.zeros(1, *[int(x) for x in input_shape]))
    except Exception as err:  # noqa: BLE001 - any tracing failure is reported as bad input
        raise SpecError(where, f"cannot trace the module with torch.fx: {type(err).__name__}: {err}") from err
    finally:
        module.train(was_training)
    modules = dict(gm.named_modules())
    alias: dict[str, str] = {}  # fx node name -> layer name (or "input")
    layers: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    deps: dict[str, list[str]] = {}
    outputs: list[str] = []

    def src(arg: Any) -> str:
        return alias[arg.name]

    def add(node: Any, entry: dict[str, Any], inputs: list[str]) -> None:
        lname = str(node.target) if node.op == "call_module" else node.name
        lname = lname.replace("/", ".")
        entry = {"name": lname, **entry}
        if len(inputs) == 1:
            entry["input"] = inputs[0]
        else:
            entry["inputs"] = inputs
        layers[lname] = entry
        order.append(lname)
        deps[lname] = [i for i in inputs if i != NETWORK_INPUT]
        alias[node.name] = lname

    for node in gm.graph.nodes:
        nw = where / node.name
        if node.op == "placeholder":
            alias[node.name] = NETWORK_INPUT
            continue
        if node.op == "get_attr":
            continue
        if node.op == "output":
            result = node.args[0]
            items = list(result) if isinstance(result, (tuple, list)) else [result]
            outputs = [src(x) for x in items]
            continue
        tensor_args = [a for a in node.args if hasattr(a, "op")]
        if node.op == "call_module":
            mod = modules[node.target]
            kind = type(mod).__name__
            x = tensor_args[0]
            if kind == "Conv2d":
                c_in, c_out, groups = mod.in_channels, mod.out_channels, mod.groups
                entry: dict[str, Any] = {"kernel": _pair(mod.kernel_size), "stride": _pair(mod.stride),
                                         "dilation": _pair(mod.dilation)}
                pad = mod.padding
                if isinstance(pad, str):
                    if pad == "same":
                        k, d = entry["kernel"], entry["dilation"]
                        pad = [d[0] * (k[0] - 1) // 2, d[1] * (k[1] - 1) // 2]
                    else:
                        pad = [0, 0]
                entry["padding"] = _pair(pad)
                if groups == 1:
                    entry = {"type": "conv", "out": c_out, **entry}
                elif groups == c_in and c_out % c_in == 0:
                    entry = {"type": "dwconv", **entry, "multiplier": c_out // c_in}
                else:
                    raise SpecError(nw, f"grouped convolution {node.target!r} ({groups} groups of {c_in} channels) is not supported; "
                                        "only dense and depthwise convolutions are")
                add(node, entry, [src(x)])
            elif kind == "Linear":
                add(node, {"type": "fc", "out": mod.out_features}, [src(x)])
            elif kind in ("MaxPool2d", "AvgPool2d"):
                stride = mod.stride if mod.stride is not None else mod.kernel_size
                add(node, {"type": "pool", "kind": "max" if kind.startswith("Max") else "avg",
                           "kernel": _pair(mod.kernel_size), "stride": _pair(stride), "padding": _pair(mod.padding)},
                    [src(x)])
            elif kind in ("AdaptiveAvgPool2d", "AdaptiveMaxPool2d"):
                _, _, h, w = _shape(x)
                _, _, oh, ow = _shape(node)
                pk = "max" if "Max" in kind else "avg"
                if (oh, ow) == (1, 1):
                    add(node, {"type": "pool", "kind": pk, "global": True}, [src(x)])
                elif h % oh == 0 and w % ow == 0:
                    add(node, {"type": "pool", "kind": pk, "kernel": [h // oh, w // ow], "stride": [h // oh, w // ow]}, [src(x)])
                else:
                    raise SpecError(nw, f"adaptive pooling {node.target!r} from {h}x{w} to {oh}x{ow} is not a whole window")
            elif kind in _PASS_MODULES:
                alias[node.name] = src(x)
            else:
                raise SpecError(nw, f"unsupported module {node.target!r} of type {kind}; supported: Conv2d, Linear, pooling, "
                                    f"and pass-through {list(_PASS_MODULES)}")
            continue
        if node.op == "call_function":
            fname = _fn_name(node.target)
            if node.target in (operator.add, operator.iadd) or fname in ("add", "add_"):
                if len(tensor_args) >= 2:
                    add(node, {"type": "add"}, [src(a) for a in tensor_args])
                else:
                    alias[node.name] = src(tensor_args[0])
                continue
            if fname == "mean" or fname == "adaptive_avg_pool2d":
                add(node, {"type": "pool", "kind": "avg", "global": True}, [src(tensor_args[0])])
                continue
            if fname in _PASS_FUNCTIONS or node.target in (operator.getitem,) and tensor_args:
                alias[node.name] = src(tensor_args[0])
                continue
            raise SpecError(nw, f"unsupported function {fname!r}")
        if node.op == "call_method":
            if node.target in ("size", "dim"):
                continue
            if node.target == "mean":
                add(node, {"type": "pool", "kind": "avg", "global": True}, [src(tensor_args[0])])
                continue
            if node.target in _PASS_METHODS:
                alias[node.name] = src(tensor_args[0])
                continue
            if node.target in ("add", "add_") and len(tensor_args) >= 2:
                add(node, {"type": "add"}, [src(a) for a in tensor_args])
                continue
            raise SpecError(nw, f"unsupported tensor method {node.target!r}")
    if not outputs:
        raise SpecError(where, "the module returns nothing")

    final = outputs[-1]
    if classes is None:
        classes = int(_shape_of_layer(layers, final, gm, alias))

    def head_entry(entry: dict[str, Any], after: str) -> dict[str, Any]:
        # module paths ("exit1.0") become names the description accepts ("exit1_0"); the attach layer keeps its name
        e = dict(entry)
        e["name"] = e["name"].replace(".", "_")
        if "input" in e and e["input"] != after:
            e["input"] = str(e["input"]).replace(".", "_")
        if "inputs" in e:
            e["inputs"] = [i if i == after else str(i).replace(".", "_") for i in e["inputs"]]
        return e

    backbone, candidates = split_backbone_and_exits(order, layers, deps, outputs, exit_names, where,
                                                    head_entry=head_entry)
    out: dict[str, Any] = {"version": 0.1, "name": name, "input": [int(x) for x in input_shape], "classes": int(classes),
                           "layers": backbone}
    if candidates:
        out["exits"] = {"candidates": candidates}
    return out


def _shape_of_layer(layers: dict[str, dict[str, Any]], lname: str, gm: Any, alias: dict[str, str]) -> int:
    for node in gm.graph.nodes:
        if alias.get(node.name) == lname and "tensor_meta" in node.meta:
            shape = _shape(node)
            n = 1
            for s in shape[1:]:
                n *= s
            return n
    raise SpecError(Where(None, ("torch", lname)), "cannot tell the number of classes; pass classes=")


def import_torch_module(
    module: Any,
    input_shape: Sequence[int],
    *,
    name: str,
    classes: int | None = None,
    exit_names: Sequence[str] | None = None,
    statistics: str | None = None,
) -> EarlyExitNetwork:
    """Import a PyTorch module as an :class:`~tnx_timeloop.frontends.early_exit.EarlyExitNetwork`.

    Parameters
    ----------
    module : torch.nn.Module
    input_shape : sequence of int
        ``[channels, height, width]``.
    name : str
        Network name.
    classes : int, optional
        Number of classes (default: width of the final output).
    exit_names : sequence of str, optional
        Names of the extra outputs' exits.
    statistics : str, optional
        Default statistics file to record in the description.

    Raises
    ------
    SpecError
        For unsupported operations (named), or shapes the description cannot express.
    """
    data = torch_network_dict(module, input_shape, name=name, classes=classes, exit_names=exit_names)
    if statistics is not None:
        data["statistics"] = statistics
    return parse_network(data, where=Where(None, ("torch", name)))
