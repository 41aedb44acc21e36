"""Import an ONNX model (plain or early-exit) into an early-exit network description.

Optional extra: the ``onnx`` package is imported when :func:`import_onnx` runs.

Supported operators: ``Conv`` (dense, 1x1 or depthwise), ``Gemm`` and ``MatMul``
with a constant weight, ``MaxPool``/``AveragePool``, ``GlobalAveragePool``/
``GlobalMaxPool``, ``ReduceMean`` over the spatial axes, ``Add`` of two computed
tensors (residuals). ``Relu``, ``Clip``, ``BatchNormalization``, ``Flatten``,
``Reshape``, ``Identity``, ``Dropout``, activation functions, and ``Add``/``Mul``
with a constant are folded into the producing layer. The input shape comes from
the graph's first input (``N x C x H x W``) unless given. Several graph outputs
make an early-exit network: the last output is the final classifier, the others
are exits whose own layers become their heads (size ``"imported"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.frontends._traced import split_backbone_and_exits
from tnx_timeloop.frontends.early_exit import NETWORK_INPUT, EarlyExitNetwork, parse_network

__all__ = ["import_onnx", "onnx_network_dict"]

_PASS = ("Relu", "Clip", "BatchNormalization", "Flatten", "Reshape", "Identity", "Dropout", "Sigmoid", "HardSwish",
         "HardSigmoid", "LeakyRelu", "Softmax", "Tanh", "Squeeze", "Unsqueeze", "Cast", "Elu", "Gelu", "PRelu")


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pads(attrs: dict[str, Any], where: Where) -> list[int]:
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise SpecError(where, "auto_pad SAME_* is not supported; export with explicit pads")
    if len(pads) != 4:
        raise SpecError(where, f"expected 4 pads for a 2-D operator, got {pads}")
    if pads[0] != pads[2] or pads[1] != pads[3]:
        raise SpecError(where, f"asymmetric padding {pads} is not supported")
    return [int(pads[0]), int(pads[1])]


def onnx_network_dict(
    model: Any,
    *,
    name: str,
    input_shape: Sequence[int] | None = None,
    exit_names: Sequence[str] | None = None,
    source: Path | str | None = None,
) -> dict[str, Any]:
    """The ``eenn`` section of an ONNX ``ModelProto`` (see the module notes).

    Raises
    ------
    SpecError
        For an unsupported operator (named with the node), a grouped convolution that
        is not depthwise, asymmetric padding, or an input shape that is not static.
    """
    import onnx

    where = Where(source, ("onnx",))
    graph = model.graph
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            value = _attrs(node).get("value")
            if value is not None:
                inits[node.output[0]] = onnx.numpy_helper.to_array(value)
    inputs = [i for i in graph.input if i.name not in inits]
    if not inputs:
        raise SpecError(where, "the graph has no (non-constant) input")
    if input_shape is None:
        dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
        if len(dims) != 4 or any(d <= 0 for d in dims[1:]):
            raise SpecError(where, f"input {inputs[0].name!r} has shape {dims}; give input_shape=[C, H, W]")
        input_shape = dims[1:]
    alias: dict[str, str] = {inputs[0].name: NETWORK_INPUT}
    layers: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    deps: dict[str, list[str]] = {}

    def add(node: Any, entry: dict[str, Any], srcs: list[str]) -> None:
        lname = (node.name or node.output[0]).replace("/", ".").strip(".") or node.output[0]
        base, k = lname, 1
        while lname in layers:
            k += 1
            lname = f"{base}_{k}"
        entry = {"name": lname, **entry}
        if len(srcs) == 1:
            entry["input"] = srcs[0]
        else:
            entry["inputs"] = srcs
        layers[lname] = entry
        order.append(lname)
        deps[lname] = [s for s in srcs if s != NETWORK_INPUT]
        alias[node.output[0]] = lname

    for i, node in enumerate(graph.node):
        nw = where / "graph" / "node" / i
        op = node.op_type
        if op == "Constant":
            continue
        computed = [x for x in node.input if x in alias]
        a = _attrs(node)
        if op == "Conv":
            w = inits.get(node.input[1])
            if w is None:
                raise SpecError(nw, f"Conv {node.name!r}: the weight is not a constant")
            m, c_per_group, kh, kw = (int(x) for x in w.shape)
            group = int(a.get("group", 1))
            entry: dict[str, Any] = {"kernel": [kh, kw], "stride": [int(s) for s in a.get("strides", [1, 1])],
                                     "padding": _pads(a, nw), "dilation": [int(d) for d in a.get("dilations", [1, 1])]}
            if group == 1:
                entry = {"type": "conv", "out": m, **entry}
            elif c_per_group == 1 and m % group == 0:
                entry = {"type": "dwconv", **entry, "multiplier": m // group}
            else:
                raise SpecError(nw, f"grouped Conv {node.name!r} ({group} groups) is not supported; only dense and depthwise are")
            add(node, entry, [alias[node.input[0]]])
        elif op in ("Gemm", "MatMul"):
            w = inits.get(node.input[1])
            if w is None or len(computed) != 1:
                raise SpecError(nw, f"{op} {node.name!r}: only a product with a constant weight is supported")
            trans_b = int(a.get("transB", 0)) if op == "Gemm" else 0
            out = int(w.shape[0] if trans_b else w.shape[-1])
            add(node, {"type": "fc", "out": out}, [alias[computed[0]]])
        elif op in ("MaxPool", "AveragePool"):
            k = [int(x) for x in a["kernel_shape"]]
            add(node, {"type": "pool", "kind": "max" if op == "MaxPool" else "avg", "kernel": k,
                       "stride": [int(s) for s in a.get("strides", k)], "padding": _pads(a, nw)}, [alias[node.input[0]]])
        elif op in ("GlobalAveragePool", "GlobalMaxPool"):
            add(node, {"type": "pool", "kind": "avg" if "Average" in op else "max", "global": True}, [alias[node.input[0]]])
        elif op == "ReduceMean":
            axes = a.get("axes")
            if axes is None and len(node.input) > 1 and node.input[1] in inits:
                axes = [int(x) for x in inits[node.input[1]]]
            if sorted(int(x) for x in (axes or [])) != [2, 3]:
                raise SpecError(nw, f"ReduceMean {node.name!r} over axes {axes} is not a global pooling")
            add(node, {"type": "pool", "kind": "avg", "global": True}, [alias[node.input[0]]])
        elif op == "Add" and len(computed) >= 2:
            add(node, {"type": "add"}, [alias[x] for x in computed])
        elif op in _PASS or op in ("Add", "Mul", "Div", "Sub"):
            if not computed:
                raise SpecError(nw, f"{op} {node.name!r} reads no computed tensor")
            if op in ("Mul", "Div", "Sub") and len(computed) > 1:
                raise SpecError(nw, f"{op} {node.name!r} of two computed tensors is not supported")
            alias[node.output[0]] = alias[computed[0]]
        else:
            raise SpecError(nw, f"unsupported operator {op} ({node.name!r}); supported: Conv, Gemm, MatMul, pooling, Add "
                                f"and pass-through {list(_PASS)}")
    outputs = [alias[o.name] for o in graph.output if o.name in alias]
    if not outputs:
        raise SpecError(where, "no graph output is computed by a supported layer")

    final = outputs[-1]
    classes = layers[final].get("out")
    if classes is None:
        raise SpecError(where, f"the final output comes from {final!r}, not a classifier (fc) layer")
    backbone, candidates = split_backbone_and_exits(order, layers, deps, outputs, exit_names, where)
    out: dict[str, Any] = {"version": 0.1, "name": name, "input": [int(x) for x in input_shape], "classes": int(classes),
                           "layers": backbone}
    if candidates:
        out["exits"] = {"candidates": candidates}
    return out


def import_onnx(
    path: Path | str,
    *,
    name: str | None = None,
    input_shape: Sequence[int] | None = None,
    exit_names: Sequence[str] | None = None,
) -> EarlyExitNetwork:
    """Read an ONNX file as an :class:`~tnx_timeloop.frontends.early_exit.EarlyExitNetwork`.

    Parameters
    ----------
    path : Path or str
        The ``.onnx`` file.
    name : str, optional
        Network name (default: the file's stem).
    input_shape : sequence of int, optional
        ``[C, H, W]`` when the graph's input shape is not static.
    exit_names : sequence of str, optional
        Names of the extra outputs' exits.

    Raises
    ------
    SpecError
        If onnx is missing, the file cannot be read, or an operator is unsupported.
    """
    p = Path(path)
    try:
        import onnx
    except ImportError as err:
        raise SpecError(Where(p), "reading ONNX files needs the onnx package: pip install onnx") from err
    if not p.exists():
        raise SpecError(Where(p), "file not found")
    try:
        model = onnx.load(str(p))
    except Exception as err:  # noqa: BLE001 - any parse failure is bad input
        raise SpecError(Where(p), f"cannot read the ONNX model: {err}") from err
    data = onnx_network_dict(model, name=name or p.stem, input_shape=input_shape, exit_names=exit_names, source=p)
    return parse_network(data, where=Where(p, ("onnx",)), source=p)
