"""Early-exit networks: a backbone of layers, candidate exit points, exit-head templates.

A network file has one top-level key, ``eenn``::

    eenn:
      version: 0.1
      name: mobilenetv2-cifar10
      input: [3, 32, 32]                  # channels, height, width of one input
      classes: 10
      statistics: stats/mobilenetv2-cifar10.stats.yaml   # optional default (relative to this file)
      layers:                             # in execution order (a topological order of the DAG)
        - {name: conv1, type: conv, out: 32, kernel: 3, stride: 1}
        - {name: b1_dw, type: dwconv, kernel: 3}
        - {name: b1_pw, type: pwconv, out: 16}
        - {name: b2_add, type: add, inputs: [b1_pw, b2_project]}
        - {name: pool, type: pool, kind: avg, global: true}
        - {name: fc, type: fc, out: 10}
      exits:
        candidates: [b2_add, b4_add]      # an exit is evaluated right after this layer
        head:                             # template: "{width}" and "{classes}" are filled in
          sizes: {small: {width: 32}, large: {width: 128}}
          layers:
            - {type: pwconv, out: "{width}"}
            - {type: pool, kind: avg, global: true}
            - {type: fc, out: "{classes}"}

Layer types and their keys: ``conv`` (``out``, ``kernel``, ``stride``, ``padding``,
``dilation``), ``pwconv`` (a 1x1 ``conv``), ``dwconv`` (depthwise: ``kernel``,
``stride``, ``padding``, ``multiplier``), ``fc`` (``out``; flattens its input),
``pool`` (``kind: avg|max``, ``kernel``, ``stride``, ``padding`` or ``global: true``)
and ``add`` (residual addition of ``inputs``). Every layer reads the previous one
unless it names ``input`` (or ``inputs``); the network input is called ``input``.
Padding defaults to ``(kernel - 1) // 2`` for convolutions ("same") and 0 for pooling.
A candidate may also be a mapping ``{after: LAYER, name: NAME, heads: {SIZE: [layers]}}``
with explicit heads (e.g. imported from a trained model).

Lowering (:func:`lower_layer`) turns each layer into a Timeloop
:class:`~tnx_timeloop.spec.problem.Problem` over the convolution dimension names
``C M R S N P Q`` and data-spaces ``Weights``/``Inputs``/``Outputs``, so that
architecture constraints written for convolutions apply to every layer:

* ``conv``/``pwconv``: Timeloop's ``CNN-Layer`` (P = output width, Q = output height,
  R = kernel width, S = kernel height);
* ``fc``: a ``CNN-Layer`` with ``R = S = P = Q = 1`` (a GEMM of C inputs and M outputs);
* ``dwconv``: a custom ``Depthwise`` shape: outputs depend on ``C`` (no reduction over
  channels), ``M`` is the channel multiplier;
* ``pool``: a comparison workload, shape ``Pool``: one operation per window element
  (a compare for max, an add for average, charged by the model as one MAC each),
  with a one-word ``Weights`` tensor (the averaging scale) so that the data-space
  names match convolution constraints;
* ``add``: shape ``Eltwise``: ``R`` (= number of operands) is reduced, one add per
  operand element, charged as one MAC each.

Charging a compare or an add at MAC energy over-estimates those layers, which are
under 1 % of the operations of the shipped networks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.spec._read import Collector, Node, to_int
from tnx_timeloop.spec.problem import DataSpace, Problem, ProjectionTerm
from tnx_timeloop.spec.yaml_io import load_yaml_file

__all__ = [
    "LAYER_TYPES",
    "NETWORK_INPUT",
    "TensorShape",
    "Layer",
    "ExitHead",
    "ExitPoint",
    "EarlyExitNetwork",
    "parse_network",
    "load_network",
    "network_to_dict",
    "write_network",
    "lower_layer",
    "layers_from_specs",
]

LAYER_TYPES = ("conv", "pwconv", "dwconv", "fc", "pool", "add")
NETWORK_INPUT = "input"
_LAYER_KEYS = {
    "conv": {"out", "kernel", "stride", "padding", "dilation"},
    "pwconv": {"out", "stride"},
    "dwconv": {"kernel", "stride", "padding", "dilation", "multiplier"},
    "fc": {"out"},
    "pool": {"kind", "kernel", "stride", "padding", "global"},
    "add": set(),
}
_COMMON_KEYS = {"name", "type", "input", "inputs", "description"}
_ALIASES = {"out_channels": "out", "out_features": "out", "op": "type", "pool": "kind"}
_PLACEHOLDER = re.compile(r"^\{(\w+)\}$")


@dataclass(frozen=True, slots=True)
class TensorShape:
    """An activation tensor of one input: ``channels x height x width`` (features are ``C x 1 x 1``)."""

    channels: int
    height: int = 1
    width: int = 1

    @property
    def words(self) -> int:
        """Number of elements (words at any precision)."""
        return self.channels * self.height * self.width

    def as_list(self) -> list[int]:
        """``[channels, height, width]``."""
        return [self.channels, self.height, self.width]

    def __str__(self) -> str:
        return f"{self.channels}x{self.height}x{self.width}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Layer:
    """One layer with its resolved shapes.

    Attributes
    ----------
    name : str
        Unique name in the network (exit-head layers are prefixed by the exit name).
    kind : str
        One of :data:`LAYER_TYPES`.
    inputs : tuple of str
        Producer layer names (``"input"`` for the network input).
    in_shape, out_shape : TensorShape
        Shape of the (first) input and of the output.
    kernel, stride, padding, dilation : tuple of int
        ``(height, width)`` each; 1x1 / 0 where meaningless.
    multiplier : int
        Depthwise channel multiplier.
    pool_kind : str or None
        ``"avg"`` or ``"max"`` for pooling layers.
    """

    name: str
    kind: str
    inputs: tuple[str, ...]
    in_shape: TensorShape
    out_shape: TensorShape
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    multiplier: int = 1
    pool_kind: str | None = None

    @property
    def macs(self) -> int:
        """Operations of one inference: MACs (conv, fc), compares/adds (pool, add)."""
        o = self.out_shape
        kh, kw = self.kernel
        if self.kind in ("conv", "pwconv"):
            return self.in_shape.channels * o.words * kh * kw
        if self.kind == "dwconv":
            return o.words * kh * kw
        if self.kind == "fc":
            return self.in_shape.words * o.channels
        if self.kind == "pool":
            return o.words * kh * kw
        return o.words * len(self.inputs)

    @property
    def weight_words(self) -> int:
        """Parameters (weights; biases and batch-norm folded away)."""
        kh, kw = self.kernel
        if self.kind in ("conv", "pwconv"):
            return self.in_shape.channels * self.out_shape.channels * kh * kw
        if self.kind == "dwconv":
            return self.out_shape.channels * kh * kw
        if self.kind == "fc":
            return self.in_shape.words * self.out_shape.channels
        return 0

    @property
    def input_words(self) -> int:
        """Elements read from producers (all operands), per inference."""
        return self.in_shape.words * len(self.inputs)


@dataclass(frozen=True, slots=True)
class ExitHead:
    """The layers of one exit head at one size (they read the exit's attach layer)."""

    size: str
    layers: tuple[Layer, ...]

    @property
    def macs(self) -> int:
        """Operations of the head for one input."""
        return sum(layer.macs for layer in self.layers)

    @property
    def weight_words(self) -> int:
        """Parameters of the head."""
        return sum(layer.weight_words for layer in self.layers)


@dataclass(frozen=True, slots=True)
class ExitPoint:
    """A candidate exit: a classifier head evaluated right after backbone layer ``after``.

    Attributes
    ----------
    name : str
        Exit name (the attach layer's name unless given).
    after : str
        The backbone layer whose output the head reads.
    position : int
        Index of ``after`` in the backbone's execution order.
    heads : tuple of ExitHead
        One head per available size, in declaration order.
    """

    name: str
    after: str
    position: int
    heads: tuple[ExitHead, ...]

    @property
    def sizes(self) -> tuple[str, ...]:
        """Names of the available head sizes."""
        return tuple(h.size for h in self.heads)

    def head(self, size: str) -> ExitHead:
        """The head of a given size."""
        for h in self.heads:
            if h.size == size:
                return h
        raise KeyError(f"exit {self.name!r} has no head size {size!r}; sizes: {list(self.sizes)}")


@dataclass(frozen=True, slots=True)
class EarlyExitNetwork:
    """A backbone with candidate exits.

    Attributes
    ----------
    name : str
        Network name (statistics files name it).
    input_shape : TensorShape
        One input (e.g. ``3x32x32``).
    classes : int
        Number of classes of the classifiers.
    layers : tuple of Layer
        Backbone layers in execution order; the last one is the final classifier's output.
    exits : tuple of ExitPoint
        Candidate exits in backbone order.
    statistics : str or None
        Default statistics file, relative to the network file.
    source : Path or None
        The file it was read from.
    """

    name: str
    input_shape: TensorShape
    classes: int
    layers: tuple[Layer, ...]
    exits: tuple[ExitPoint, ...] = ()
    statistics: str | None = None
    description: str = field(default="", compare=False)
    source: Path | None = field(default=None, compare=False)

    def layer(self, name: str) -> Layer:
        """The backbone layer called ``name``."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def layer_index(self, name: str) -> int:
        """Position of backbone layer ``name`` in execution order."""
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise KeyError(name)

    def exit(self, name: str) -> ExitPoint:
        """The candidate exit called ``name``."""
        for e in self.exits:
            if e.name == name:
                return e
        raise KeyError(f"no exit {name!r}; candidates: {[e.name for e in self.exits]}")

    @property
    def exit_names(self) -> tuple[str, ...]:
        """Candidate exit names in backbone order."""
        return tuple(e.name for e in self.exits)

    @property
    def macs(self) -> int:
        """Backbone operations per input."""
        return sum(layer.macs for layer in self.layers)

    @property
    def weight_words(self) -> int:
        """Backbone parameters."""
        return sum(layer.weight_words for layer in self.layers)

    def statistics_path(self) -> Path | None:
        """The default statistics file resolved against the network file's folder."""
        if self.statistics is None:
            return None
        p = Path(self.statistics)
        if not p.is_absolute() and self.source is not None:
            p = Path(self.source).parent / p
        return p


# ---------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------


def _pair(value: Any, where: Where, *, minimum: int) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise SpecError(where, f"expected one integer or [height, width], got {value!r}")
        return to_int(value[0], where / 0, minimum=minimum), to_int(value[1], where / 1, minimum=minimum)
    v = to_int(value, where, minimum=minimum)
    return v, v


def _conv_out(size: int, kernel: int, stride: int, pad: int, dilation: int, where: Where, what: str) -> int:
    span = dilation * (kernel - 1) + 1
    out = (size + 2 * pad - span) // stride + 1
    if out < 1:
        raise SpecError(where, f"{what}: a kernel spanning {span} with padding {pad} does not fit an input of {size}")
    return out


def _normalise(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {_ALIASES.get(str(k), str(k)): v for k, v in raw.items()}


def _substitute(value: Any, variables: Mapping[str, int], where: Where) -> Any:
    if isinstance(value, str):
        m = _PLACEHOLDER.match(value.strip())
        if m:
            if m.group(1) not in variables:
                raise SpecError(where, f"unknown placeholder {value!r}; available: {sorted(variables)}")
            return variables[m.group(1)]
    if isinstance(value, list):
        return [_substitute(v, variables, where / i) for i, v in enumerate(value)]
    return value


def _build_layer(
    raw: Mapping[str, Any],
    where: Where,
    shapes: Mapping[str, TensorShape],
    previous: str,
    name: str,
) -> Layer:
    data = _normalise(raw)
    node = Node(data, where)
    kind = node.str("type").lower()
    if kind not in LAYER_TYPES:
        raise SpecError(node.at("type"), f"unknown layer type {kind!r}; choose one of {list(LAYER_TYPES)}")
    node.check_keys(_COMMON_KEYS | _LAYER_KEYS[kind])
    if node.has("inputs"):
        inputs = tuple(str(x) for x in node.list("inputs"))
    elif node.has("input"):
        inputs = (node.str("input"),)
    else:
        inputs = (previous,)
    if not inputs:
        raise SpecError(node.at("inputs"), "a layer needs at least one input")
    for j, src in enumerate(inputs):
        if src not in shapes:
            at = node.at("inputs") / j if node.has("inputs") else node.at("input")
            raise SpecError(at, f"layer {name!r} reads {src!r}, which is not an earlier layer (layers are listed in execution order)")
    if kind == "add":
        if len(inputs) < 2:
            raise SpecError(node.where, f"add layer {name!r} needs at least two inputs ('inputs: [a, b]')")
        first = shapes[inputs[0]]
        for j, src in enumerate(inputs[1:], start=1):
            if shapes[src] != first:
                raise SpecError(node.at("inputs") / j, f"add layer {name!r}: input {src!r} is {shapes[src]}, but {inputs[0]!r} is {first}")
        return Layer(name=name, kind=kind, inputs=inputs, in_shape=first, out_shape=first)
    if len(inputs) != 1:
        raise SpecError(node.at("inputs"), f"a {kind} layer reads exactly one input, got {list(inputs)}")
    x = shapes[inputs[0]]
    if kind == "fc":
        out = node.int("out", minimum=1)
        return Layer(name=name, kind=kind, inputs=inputs, in_shape=x, out_shape=TensorShape(out, 1, 1))
    if kind == "pool":
        pool_kind = node.str("kind", default="avg").lower()
        if pool_kind not in ("avg", "max"):
            raise SpecError(node.at("kind"), f"unknown pooling {pool_kind!r}; choose 'avg' or 'max'")
        if node.bool("global", default=False):
            kernel, stride, pad = (x.height, x.width), (1, 1), (0, 0)
        else:
            kernel = _pair(node.raw("kernel"), node.at("kernel"), minimum=1) if node.has("kernel") else (2, 2)
            stride = _pair(node.raw("stride"), node.at("stride"), minimum=1) if node.has("stride") else kernel
            pad = _pair(node.raw("padding"), node.at("padding"), minimum=0) if node.has("padding") else (0, 0)
        oh = _conv_out(x.height, kernel[0], stride[0], pad[0], 1, node.where, name)
        ow = _conv_out(x.width, kernel[1], stride[1], pad[1], 1, node.where, name)
        return Layer(name=name, kind=kind, inputs=inputs, in_shape=x, out_shape=TensorShape(x.channels, oh, ow),
                     kernel=kernel, stride=stride, padding=pad, pool_kind=pool_kind)
    if x.height * x.width == 0:
        raise SpecError(node.where, f"layer {name!r} has an empty input")
    if kind == "pwconv":
        kernel = (1, 1)
        dilation = (1, 1)
    else:
        kernel = _pair(node.raw("kernel", default=3), node.at("kernel"), minimum=1)
        dilation = _pair(node.raw("dilation", default=1), node.at("dilation"), minimum=1)
    stride = _pair(node.raw("stride", default=1), node.at("stride"), minimum=1)
    default_pad = ((dilation[0] * (kernel[0] - 1)) // 2, (dilation[1] * (kernel[1] - 1)) // 2)
    pad = _pair(node.raw("padding"), node.at("padding"), minimum=0) if node.has("padding") else default_pad
    oh = _conv_out(x.height, kernel[0], stride[0], pad[0], dilation[0], node.where, name)
    ow = _conv_out(x.width, kernel[1], stride[1], pad[1], dilation[1], node.where, name)
    if kind == "dwconv":
        mult = node.int("multiplier", default=1, minimum=1)
        out_shape = TensorShape(x.channels * mult, oh, ow)
        return Layer(name=name, kind=kind, inputs=inputs, in_shape=x, out_shape=out_shape, kernel=kernel,
                     stride=stride, padding=pad, dilation=dilation, multiplier=mult)
    out = node.int("out", minimum=1)
    return Layer(name=name, kind=kind, inputs=inputs, in_shape=x, out_shape=TensorShape(out, oh, ow),
                 kernel=kernel, stride=stride, padding=pad, dilation=dilation)


def layers_from_specs(
    specs: Sequence[Mapping[str, Any]],
    where: Where,
    input_shape: TensorShape,
    *,
    first_input: str = NETWORK_INPUT,
    prefix: str = "",
    known: Mapping[str, TensorShape] | None = None,
    variables: Mapping[str, int] | None = None,
    errors: Collector | None = None,
) -> tuple[Layer, ...]:
    """Resolve a list of layer specifications into :class:`Layer` s with shapes.

    Parameters
    ----------
    specs : sequence of mapping
        Layer entries as in the file (``name`` optional when ``prefix`` is given).
    where : Where
        Location of the list.
    input_shape : TensorShape
        Shape of ``first_input``.
    first_input : str
        What the first layer reads by default.
    prefix : str
        Prefix of generated names (``"{prefix}{i}_{type}"``) for unnamed layers.
    known : mapping, optional
        Shapes of other tensors the layers may name.
    variables : mapping, optional
        Values of ``"{placeholder}"`` strings (exit-head templates).
    errors : Collector, optional
        Collect errors here instead of raising at the first one.

    Raises
    ------
    SpecError
        Naming the entry (unknown type or key, a missing input, shapes that do not fit).
    """
    shapes: dict[str, TensorShape] = dict(known or {})
    shapes[first_input] = input_shape
    previous = first_input
    layers: list[Layer] = []
    own = errors is None
    errors = errors or Collector()
    for i, raw in enumerate(specs):
        w = where / i
        try:
            if not isinstance(raw, Mapping):
                raise SpecError(w, f"a layer is a mapping like {{name: conv1, type: conv, out: 32}}, got {raw!r}")
            data = {k: _substitute(v, variables or {}, w / str(k)) for k, v in raw.items()}
            name = str(data["name"]) if "name" in data else f"{prefix}{i}_{data.get('type', 'layer')}"
            if prefix and "name" in data:
                name = f"{prefix}{name}"
            if name in shapes or name == NETWORK_INPUT:
                raise SpecError(w / "name", f"layer name {name!r} is used twice")
            if "input" in data and prefix and str(data["input"]) not in shapes:
                data["input"] = f"{prefix}{data['input']}"
            layer = _build_layer(data, w, shapes, previous, name)
        except SpecError as err:
            errors.extend(err)
            break
        shapes[name] = layer.out_shape
        layers.append(layer)
        previous = name
    if own:
        errors.raise_if_any()
    return tuple(layers)


def _parse_exits(
    node: Node,
    layers: tuple[Layer, ...],
    classes: int,
    errors: Collector,
) -> tuple[ExitPoint, ...]:
    node.check_keys({"candidates", "head", "description"})
    template: Node | None = node.child("head") if node.has("head") else None
    sizes: dict[str, dict[str, int]] = {}
    template_layers: list = []
    if template is not None:
        template.check_keys({"sizes", "layers", "description"})
        template_layers = template.list("layers")
        raw_sizes = template.raw("sizes", default={"default": {}}) or {"default": {}}
        if not isinstance(raw_sizes, Mapping) or not raw_sizes:
            errors.add(template.at("sizes"), "sizes must be a mapping like {small: {width: 32}, large: {width: 128}}")
            raw_sizes = {"default": {}}
        for size_name, values in raw_sizes.items():
            sw = template.at("sizes") / str(size_name)
            if values is None:
                values = {}
            if not isinstance(values, Mapping):
                errors.add(sw, "a head size is a mapping of template variables, e.g. {width: 64}")
                continue
            try:
                sizes[str(size_name)] = {str(k): to_int(v, sw / str(k), minimum=1) for k, v in values.items()}
            except SpecError as err:
                errors.extend(err)
    index = {layer.name: i for i, layer in enumerate(layers)}
    shapes = {layer.name: layer.out_shape for layer in layers}
    exits: list[ExitPoint] = []
    seen: set[str] = set()
    last = len(layers) - 1
    for i, raw in enumerate(node.list("candidates", default=[])):
        cw = node.at("candidates") / i
        try:
            explicit: Mapping[str, Any] | None = None
            if isinstance(raw, Mapping):
                cn = Node(raw, cw)
                cn.check_keys({"after", "name", "heads"})
                after = cn.str("after")
                exit_name = cn.str("name", default=after)
                explicit = cn.raw("heads", default=None)
            else:
                after = str(raw)
                exit_name = after
            if after not in index:
                raise SpecError(cw, f"exit after {after!r}: no such backbone layer; layers are {[lay.name for lay in layers]}")
            if index[after] >= last:
                raise SpecError(
                    cw,
                    f"exit after {after!r} is placed after the last layer; the network's end is the final "
                    "classifier, so an exit there adds only overhead (place exits before the last layer)",
                )
            if exit_name in seen or exit_name == "final":
                raise SpecError(cw, f"exit name {exit_name!r} is used twice (or is the reserved name 'final')")
            seen.add(exit_name)
            heads: list[ExitHead] = []
            if explicit is not None:
                if not isinstance(explicit, Mapping) or not explicit:
                    raise SpecError(cw / "heads", "heads is a mapping {size name: [layers]}")
                for size_name, specs in explicit.items():
                    hl = layers_from_specs(specs, cw / "heads" / str(size_name), shapes[after], first_input=after,
                                           prefix=f"{exit_name}.{size_name}.", known=shapes,
                                           variables={"classes": classes})
                    heads.append(ExitHead(str(size_name), hl))
            else:
                if template is None:
                    raise SpecError(cw, "no exit-head template: give exits.head or explicit heads for this candidate")
                for size_name, values in sizes.items():
                    hl = layers_from_specs(template_layers, template.at("layers"), shapes[after], first_input=after,
                                           prefix=f"{exit_name}.{size_name}.", known=shapes,
                                           variables={"classes": classes, **values})
                    heads.append(ExitHead(size_name, hl))
            for head in heads:
                out = head.layers[-1].out_shape if head.layers else None
                if out is None or out.words != classes:
                    raise SpecError(cw, f"exit {exit_name!r} head {head.size!r} ends in {out} values, not the {classes} classes")
            exits.append(ExitPoint(exit_name, after, index[after], tuple(heads)))
        except SpecError as err:
            errors.extend(err)
    order = [e.position for e in exits]
    if order != sorted(order):
        errors.add(node.at("candidates"), "list the candidate exits in backbone order")
    return tuple(sorted(exits, key=lambda e: e.position))


def parse_network(data: Mapping[str, Any], *, where: Where | None = None, source: Path | str | None = None) -> EarlyExitNetwork:
    """Build an :class:`EarlyExitNetwork` from the ``eenn`` section.

    Raises
    ------
    SpecError
        For every problem found (unknown keys or layer types, inputs that are not
        earlier layers, shapes that do not fit, an exit placed after the last layer
        or after an unknown layer, a head that does not end in ``classes`` values).
    """
    where = where or Where(source, ("eenn",))
    node = Node(data, where)
    node.check_keys({"version", "name", "description", "source", "input", "classes", "statistics", "layers", "exits"})
    errors = Collector()
    name = node.str("name")
    raw_input = node.list("input")
    if len(raw_input) != 3:
        raise SpecError(node.at("input"), f"input is [channels, height, width], got {raw_input!r}")
    c, h, w = (to_int(v, node.at("input") / i, minimum=1) for i, v in enumerate(raw_input))
    input_shape = TensorShape(c, h, w)
    classes = node.int("classes", minimum=2)
    layers = layers_from_specs(node.list("layers"), node.at("layers"), input_shape, errors=errors)
    if not node.list("layers"):
        errors.add(node.at("layers"), "a network needs at least one layer")
    exits: tuple[ExitPoint, ...] = ()
    if layers and not errors.errors:
        if layers[-1].out_shape.words != classes:
            errors.add(node.at("layers") / (len(layers) - 1), f"the last layer outputs {layers[-1].out_shape}, not the {classes} classes")
        if node.has("exits"):
            try:
                exits = _parse_exits(node.child("exits"), layers, classes, errors)
            except SpecError as err:
                errors.extend(err)
    errors.raise_if_any()
    stats = node.str("statistics", default=None)
    return EarlyExitNetwork(
        name=name,
        input_shape=input_shape,
        classes=classes,
        layers=layers,
        exits=exits,
        statistics=stats,
        description=str(node.raw("description", default="") or ""),
        source=Path(source) if source is not None else None,
    )


def load_network(path: Path | str) -> EarlyExitNetwork:
    """Read a network file (YAML with a top-level ``eenn`` key; ``.onnx`` files are imported).

    Raises
    ------
    SpecError
        Naming the file and entry of every problem.
    """
    p = Path(path)
    if p.suffix.lower() == ".onnx":
        from tnx_timeloop.frontends.onnx_import import import_onnx

        return import_onnx(p)
    doc = load_yaml_file(p)
    if not isinstance(doc, Mapping) or "eenn" not in doc:
        raise SpecError(Where(p), "expected a top-level 'eenn' key (an early-exit network description)")
    return parse_network(doc["eenn"], where=Where(p, ("eenn",)), source=p)


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------


def _layer_to_dict(layer: Layer, previous: str, strip: str = "") -> dict[str, Any]:
    d: dict[str, Any] = {"name": layer.name.removeprefix(strip), "type": layer.kind}
    if layer.kind in ("conv", "pwconv", "fc"):
        d["out"] = layer.out_shape.channels
    if layer.kind in ("conv", "dwconv"):
        d["kernel"] = layer.kernel[0] if layer.kernel[0] == layer.kernel[1] else list(layer.kernel)
    if layer.kind in ("conv", "dwconv", "pwconv") and layer.stride != (1, 1):
        d["stride"] = layer.stride[0] if layer.stride[0] == layer.stride[1] else list(layer.stride)
    if layer.kind in ("conv", "dwconv"):
        default_pad = ((layer.dilation[0] * (layer.kernel[0] - 1)) // 2, (layer.dilation[1] * (layer.kernel[1] - 1)) // 2)
        if layer.padding != default_pad:
            d["padding"] = list(layer.padding)
        if layer.dilation != (1, 1):
            d["dilation"] = list(layer.dilation)
    if layer.kind == "dwconv" and layer.multiplier != 1:
        d["multiplier"] = layer.multiplier
    if layer.kind == "pool":
        d["kind"] = layer.pool_kind
        if (layer.out_shape.height, layer.out_shape.width) == (1, 1) and layer.stride == (1, 1) \
                and layer.kernel == (layer.in_shape.height, layer.in_shape.width) and layer.padding == (0, 0):
            d["global"] = True
        else:
            d["kernel"] = list(layer.kernel)
            d["stride"] = list(layer.stride)
            if layer.padding != (0, 0):
                d["padding"] = list(layer.padding)
    if layer.kind == "add":
        d["inputs"] = [s.removeprefix(strip) if s.startswith(strip) and strip else s for s in layer.inputs]
    elif layer.inputs[0] != previous:
        src = layer.inputs[0]
        d["input"] = src.removeprefix(strip) if strip and src.startswith(strip) else src
    return d


def network_to_dict(net: EarlyExitNetwork) -> dict[str, Any]:
    """The ``eenn`` section (explicit heads; round-trips through :func:`parse_network`)."""
    out: dict[str, Any] = {"version": 0.1, "name": net.name}
    if net.description:
        out["description"] = net.description
    out["input"] = net.input_shape.as_list()
    out["classes"] = net.classes
    if net.statistics is not None:
        out["statistics"] = net.statistics
    layers = []
    previous = NETWORK_INPUT
    for layer in net.layers:
        layers.append(_layer_to_dict(layer, previous))
        previous = layer.name
    out["layers"] = layers
    if net.exits:
        cands = []
        for e in net.exits:
            heads = {}
            for head in e.heads:
                prefix = f"{e.name}.{head.size}."
                prev = e.after
                entries = []
                for layer in head.layers:
                    entries.append(_layer_to_dict(layer, prev, strip=prefix))
                    prev = layer.name
                heads[head.size] = entries
            cands.append({"after": e.after, "name": e.name, "heads": heads})
        out["exits"] = {"candidates": cands}
    return out


def write_network(net: EarlyExitNetwork, path: Path | str, *, header: str = "") -> Path:
    """Write ``net`` as a network YAML file, one layer per line (``header`` lines become comments)."""
    import yaml

    def flow(value: Any) -> str:
        text = yaml.safe_dump([value], default_flow_style=True, sort_keys=False, width=10_000).strip()
        return text[1:-1]  # without the wrapping list (and without a scalar's document-end marker)

    d = network_to_dict(net)
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines.append("eenn:")
    for key, value in d.items():
        if key == "layers":
            lines.append("  layers:")
            lines += [f"    - {flow(layer)}" for layer in value]
        elif key == "exits":
            lines.append("  exits:")
            lines.append("    candidates:")
            for cand in value["candidates"]:
                lines.append(f"      - after: {flow(cand['after'])}")
                lines.append(f"        name: {flow(cand['name'])}")
                lines.append("        heads:")
                for size, layers in cand["heads"].items():
                    lines.append(f"          {flow(size)}:")
                    lines += [f"            - {flow(layer)}" for layer in layers]
        else:
            lines.append(f"  {key}: {flow(value)}")
    p = Path(path)
    p.write_text("\n".join(lines) + "\n")
    return p


# ---------------------------------------------------------------------------
# lowering
# ---------------------------------------------------------------------------

_DIMS = ("C", "M", "R", "S", "N", "P", "Q")


def _t(dim: str, coef: str | None = None) -> ProjectionTerm:
    return ProjectionTerm(dim, coef)


def _window(dim_k: str, dim_o: str, stride: str, dilation: str) -> tuple[ProjectionTerm, ...]:
    return (_t(dim_k, dilation), _t(dim_o, stride))


def lower_layer(layer: Layer, *, batch: int = 1) -> Problem:
    """The Timeloop problem of one layer (see the module notes for each type).

    Parameters
    ----------
    layer : Layer
        The layer with resolved shapes.
    batch : int
        Inputs processed together (``N``).

    Returns
    -------
    Problem
        Dimensions ``C M R S N P Q``; data-spaces ``Weights``, ``Inputs``, ``Outputs``.
        ``problem.macs`` equals ``layer.macs * batch``.
    """
    o = layer.out_shape
    kh, kw = layer.kernel
    sh, sw = layer.stride
    dh, dw = layer.dilation
    coeffs = (("Hdilation", dh), ("Hstride", sh), ("Wdilation", dw), ("Wstride", sw))
    win_w = _window("R", "P", "Wstride", "Wdilation")
    win_h = _window("S", "Q", "Hstride", "Hdilation")
    outputs_cm = DataSpace("Outputs", ((_t("N"),), (_t("M"),), (_t("Q"),), (_t("P"),)), True)
    outputs_c = DataSpace("Outputs", ((_t("N"),), (_t("C"),), (_t("M"),), (_t("Q"),), (_t("P"),)), True)
    scalar = DataSpace("Weights", ((_t("M"),),))
    if layer.kind in ("conv", "pwconv", "fc"):
        if layer.kind == "fc":
            bounds = dict(C=layer.in_shape.words, M=o.channels, R=1, S=1, P=1, Q=1)
            coeffs = (("Hdilation", 1), ("Hstride", 1), ("Wdilation", 1), ("Wstride", 1))
        else:
            bounds = dict(C=layer.in_shape.channels, M=o.channels, R=kw, S=kh, P=o.width, Q=o.height)
        spaces = (
            DataSpace("Weights", ((_t("C"),), (_t("M"),), (_t("R"),), (_t("S"),))),
            DataSpace("Inputs", ((_t("N"),), (_t("C"),), win_w, win_h)),
            outputs_cm,
        )
        shape = "CNN-Layer"
    elif layer.kind == "dwconv":
        bounds = dict(C=layer.in_shape.channels, M=layer.multiplier, R=kw, S=kh, P=o.width, Q=o.height)
        spaces = (
            DataSpace("Weights", ((_t("C"),), (_t("M"),), (_t("R"),), (_t("S"),))),
            DataSpace("Inputs", ((_t("N"),), (_t("C"),), win_w, win_h)),
            outputs_c,
        )
        shape = "Depthwise"
    elif layer.kind == "pool":
        bounds = dict(C=o.channels, M=1, R=kw, S=kh, P=o.width, Q=o.height)
        spaces = (scalar, DataSpace("Inputs", ((_t("N"),), (_t("C"),), win_w, win_h)), outputs_c)
        shape = "Pool"
    else:  # add
        bounds = dict(C=o.channels, M=1, R=len(layer.inputs), S=1, P=o.width, Q=o.height)
        spaces = (
            scalar,
            DataSpace("Inputs", ((_t("N"),), (_t("R"),), (_t("C"),), (_t("Q"),), (_t("P"),))),
            outputs_c,
        )
        shape = "Eltwise"
        coeffs = ()
    bounds["N"] = int(batch)
    problem = Problem(
        name=shape,
        dimensions=_DIMS,
        bounds=tuple(int(bounds[d]) for d in _DIMS),
        dataspaces=spaces,
        coefficients=coeffs,
    )
    if problem.macs != layer.macs * batch:  # pragma: no cover - guards the formulas above
        raise AssertionError(f"{layer.name}: lowered {problem.macs} operations, layer has {layer.macs * batch}")
    return problem
