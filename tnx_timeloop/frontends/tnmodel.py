"""Tensorized models from YAML: a list of layers (TT/TTM/Tucker/CP/TR, dense, einsum) with counts.

A file holds a top-level ``tensorized_model`` (several layers) or ``tensor_network``
(one layer). It may be a Jinja template: ranks and batch are parameters, set with
``variables`` (``tnx tn ... --set rank=8``). The format is documented in
``workloads/tensorized/README.md``; one layer looks like::

    - name: layer1.conv          # unique
      format: ttm                # dense | ttm | tt | tucker | cp | tr | einsum
      count: 4                   # identical layers in the model (default 1)
      batch: 32768               # size of the batch index b (N*P*Q for a convolution by im2col)
      in_modes: [9, 4, 4, 4]     # J_1..J_d
      out_modes: [1, 4, 4, 4]    # I_1..I_d
      ranks: 16                  # one value or the list the format needs
      input_grad: true           # training computes dx (false for the first layer)

``format: dense`` takes ``in_features``/``out_features``; ``format: einsum`` takes
``expression`` (named form), ``sizes``, and optionally ``hyper`` and ``inputs`` (the
operands that are activations). Every factorized layer also yields its dense
equivalent (``y[b,i] = x[b,j] W[i,j]`` with the same batch and features), which
:meth:`TnModel.dense_baseline` uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tnx_timeloop.errors import SpecError, SpecErrors, Where
from tnx_timeloop.frontends.tensornet import (
    TensorNetwork,
    cp_linear,
    dense_linear,
    from_einsum,
    tensor_ring,
    tt_linear,
    ttm,
    tucker_linear,
)
from tnx_timeloop.spec.yaml_io import load_yaml_file

__all__ = ["TnLayer", "TnModel", "LAYER_FORMATS", "parse_tn_model", "load_tn_model"]

LAYER_FORMATS = ("dense", "ttm", "tt", "tucker", "cp", "tr", "einsum")
"""Layer formats a model file may use."""

_COMMON = {"name", "format", "count", "input_grad", "description"}
_KEYS = {
    "dense": _COMMON | {"batch", "in_features", "out_features"},
    "ttm": _COMMON | {"batch", "in_modes", "out_modes", "ranks"},
    "tt": _COMMON | {"batch", "in_modes", "out_modes", "ranks"},
    "tucker": _COMMON | {"batch", "in_modes", "out_modes", "ranks"},
    "cp": _COMMON | {"batch", "in_modes", "out_modes", "ranks", "rank"},
    "tr": _COMMON | {"batch", "in_modes", "out_modes", "ranks"},
    "einsum": _COMMON | {"expression", "sizes", "hyper", "inputs"},
}


@dataclass(frozen=True, slots=True)
class TnLayer:
    """One layer of a tensorized model.

    Attributes
    ----------
    name : str
    network : TensorNetwork
        The layer's contraction network.
    count : int
        How many identical layers the model has.
    dense : TensorNetwork or None
        The uncompressed equivalent of a factorized layer (None for dense and einsum
        layers, which are their own baseline).
    """

    name: str
    network: TensorNetwork
    count: int = 1
    dense: TensorNetwork | None = None


@dataclass(frozen=True, slots=True)
class TnModel:
    """A tensorized model: layers run one after another.

    Attributes
    ----------
    name : str
    layers : tuple of TnLayer
    source : str
        The file it came from ('' if built in Python).
    """

    name: str
    layers: tuple[TnLayer, ...]
    source: str = ""

    @property
    def parameters(self) -> int:
        """Weight elements over all layers (times their counts)."""
        return sum(layer.count * layer.network.parameters for layer in self.layers)

    def dense_baseline(self) -> TnModel:
        """The same model with every factorized layer replaced by its dense equivalent."""
        layers = tuple(
            TnLayer(layer.name, layer.dense if layer.dense is not None else layer.network, layer.count, None)
            for layer in self.layers
        )
        return TnModel(f"{self.name}-dense", layers, self.source)

    def layer(self, name: str) -> TnLayer:
        """The layer called ``name``.

        Raises
        ------
        SpecError
            Listing the layer names.
        """
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise SpecError(Where(self.source or None), f"no layer {name!r}; layers are {[x.name for x in self.layers]}")


def _int(node: Mapping[str, Any], key: str, where: Where, minimum: int = 1) -> int:
    if key not in node:
        raise SpecError(where, f"missing key {key!r}")
    v = node[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise SpecError(where / key, f"expected an integer >= {minimum}, got {v!r}")
    return v


def _int_list(node: Mapping[str, Any], key: str, where: Where) -> list[int]:
    if key not in node:
        raise SpecError(where, f"missing key {key!r}")
    v = node[key]
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v]
    if not isinstance(v, list) or not v or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise SpecError(where / key, f"expected a list of integers, got {v!r}")
    return v


def _ranks(node: Mapping[str, Any], key: str, where: Where) -> int | list[int]:
    v = node.get(key)
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    return _int_list(node, key, where)


def _layer(raw: Any, where: Where) -> TnLayer:
    if not isinstance(raw, Mapping):
        raise SpecError(where, f"a layer is a mapping with 'name' and 'format', got {type(raw).__name__}")
    name = str(raw.get("name", "")) or None
    if name is None:
        raise SpecError(where, "layer has no 'name'")
    fmt = str(raw.get("format", "")).lower()
    if fmt not in LAYER_FORMATS:
        raise SpecError(where / "format", f"layer {name!r}: unknown format {raw.get('format')!r}; choose one of {list(LAYER_FORMATS)}")
    unknown = sorted(set(map(str, raw)) - _KEYS[fmt])
    if unknown:
        raise SpecError(where / unknown[0], f"layer {name!r}: unknown key {unknown[0]!r} for format {fmt}; allowed: {sorted(_KEYS[fmt])}")
    count = _int(raw, "count", where) if "count" in raw else 1
    grad = raw.get("input_grad", True)
    if not isinstance(grad, bool):
        raise SpecError(where / "input_grad", f"layer {name!r}: input_grad is true or false, got {grad!r}")
    w = where
    if fmt == "dense":
        net = dense_linear(_int(raw, "in_features", w), _int(raw, "out_features", w), _int(raw, "batch", w),
                           name=name, input_grad=grad, where=w)
        return TnLayer(name, net, count, None)
    if fmt == "einsum":
        expr = raw.get("expression")
        if not isinstance(expr, str):
            raise SpecError(w, f"layer {name!r}: an einsum layer needs 'expression' (a string)")
        sizes = raw.get("sizes")
        if not isinstance(sizes, Mapping):
            raise SpecError(w, f"layer {name!r}: an einsum layer needs 'sizes' (index: size)")
        hyper = raw.get("hyper", []) or []
        inputs = raw.get("inputs", []) or []
        if not isinstance(hyper, list) or not isinstance(inputs, list):
            raise SpecError(w, f"layer {name!r}: 'hyper' and 'inputs' are lists of names")
        net = from_einsum(expr, {str(k): v for k, v in sizes.items()}, hyper=[str(h) for h in hyper], name=name,
                          inputs=[str(x) for x in inputs], where=w / "expression")
        if not grad:
            net = net.with_requires_grad({t: False for t in net.input_names})
        return TnLayer(name, net, count, None)
    batch = _int(raw, "batch", w)
    ins, outs = _int_list(raw, "in_modes", w), _int_list(raw, "out_modes", w)
    if fmt == "cp":
        rank = raw.get("rank", raw.get("ranks"))
        if isinstance(rank, list) and len(rank) == 1:
            rank = rank[0]
        if isinstance(rank, bool) or not isinstance(rank, int):
            raise SpecError(w, f"layer {name!r}: a cp layer needs one integer 'rank'")
        net = cp_linear(ins, outs, rank, batch, name=name, input_grad=grad, where=w)
    else:
        builder = {"ttm": ttm, "tt": tt_linear, "tucker": tucker_linear, "tr": tensor_ring}[fmt]
        net = builder(ins, outs, _ranks(raw, "ranks", w), batch, name=name, input_grad=grad, where=w)
    assert net.dense_shape is not None
    b, j, i = net.dense_shape
    dense = dense_linear(j, i, b, name=name, input_grad=grad, where=w)
    return TnLayer(name, net, count, dense)


def parse_tn_model(doc: Any, *, where: Where | None = None) -> TnModel:
    """A :class:`TnModel` from parsed YAML (``tensorized_model`` or ``tensor_network`` at the top).

    Raises
    ------
    SpecError
        Collecting every layer's problems, each located by file and key path.
    """
    where = where or Where()
    if not isinstance(doc, Mapping) or not ({"tensorized_model", "tensor_network"} & set(doc)):
        keys = sorted(map(str, doc)) if isinstance(doc, Mapping) else []
        raise SpecError(where, f"expected a top-level 'tensorized_model' or 'tensor_network' key (found {keys})")
    if "tensor_network" in doc:
        raw = doc["tensor_network"]
        layer = _layer(raw, where / "tensor_network")
        return TnModel(layer.name, (layer,), str(where.file or ""))
    body = doc["tensorized_model"]
    mw = where / "tensorized_model"
    if not isinstance(body, Mapping):
        raise SpecError(mw, "expected a mapping with 'name' and 'layers'")
    unknown = sorted(set(map(str, body)) - {"name", "description", "layers"})
    if unknown:
        raise SpecError(mw / unknown[0], f"unknown key {unknown[0]!r}; allowed: ['description', 'layers', 'name']")
    layers_raw = body.get("layers")
    if not isinstance(layers_raw, list) or not layers_raw:
        raise SpecError(mw / "layers", "a model needs a non-empty list of layers")
    errs: list[SpecError] = []
    layers: list[TnLayer] = []
    for k, raw in enumerate(layers_raw):
        try:
            layers.append(_layer(raw, mw / "layers" / k))
        except SpecErrors as err:
            errs.extend(err.errors)
        except SpecError as err:
            errs.append(err)
    names = [x.name for x in layers]
    for n in sorted({n for n in names if names.count(n) > 1}):
        errs.append(SpecError(mw / "layers", f"layer name {n!r} is used more than once"))
    if errs:
        raise errs[0] if len(errs) == 1 else SpecErrors(errs)
    return TnModel(str(body.get("name", "model")), tuple(layers), str(where.file or ""))


def load_tn_model(path: Path | str, variables: Mapping[str, Any] | None = None) -> TnModel:
    """Read a model or single-network file (a Jinja template is rendered with ``variables``)."""
    p = Path(path)
    doc = load_yaml_file(p, variables=variables)
    return parse_tn_model(doc, where=Where(p))
