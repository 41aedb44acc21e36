"""Tensor networks of tensorized layers, their contraction trees, training graphs and lowering.

A :class:`TensorNetwork` is a set of tensors with named indices (any name length) and
index sizes, plus the output's indices. An index joins the tensors that carry it; an
index carried by more than two places (tensors plus the output) is a *hyper* (batch)
index and must be declared so: the batch index of ``y[b,i] = x[b,j] W[i,j]`` appears
in ``x`` and ``y`` only (two places), but in ``q[b,h,s,e] k[b,h,t,e] -> a[b,h,s,t]`` the
``b`` and ``h`` indices appear three times.

Constructors cover the layer formats in use (``y`` has the batch index ``b``)::

    ttm(in_modes, out_modes, ranks, batch)       # y[b,i1..id] = x[b,j1..jd] G1[i1,j1,r1] ... Gd[r_{d-1},id,jd]
    tt_linear(in_modes, out_modes, ranks, batch) # W reshaped to (i1..id, j1..jd) as a TT of 2d cores
    tt(modes, ranks, batch=None)                 # a TT vector (alone, or contracted with x[b, n1..nd])
    tucker_linear(...), cp_linear(...), tensor_ring(...), dense_linear(...)
    from_einsum("x[b,j] * W[i,j] -> y[b,i]", sizes={...})

A contraction path is a binary :data:`Tree` over tensor positions (``((0, 1), 2)``).
:func:`forward_contractions` lists its pairwise contractions; :func:`backward_contractions`
the reverse-mode training graph (the gradient of every trainable tensor and, when asked,
of the input), which reuses every intermediate the forward pass kept: for a tree node
``v = L . R`` with incoming gradient ``dv``, ``dL = dv . R`` and ``dR = dv . L``.

Lowering (:func:`lower_contraction`) turns one pairwise contraction into a Timeloop
:class:`~tnx_timeloop.spec.problem.Problem`: the dimensions are its indices, two input
data-spaces and one read-write output, with projections from the index lists.
:func:`canonical_contraction` recognises identical contractions: every pairwise
contraction is a batched GEMM once indices with the same role (in both inputs and the
output, contracted, free in one input, summed in one input) are merged, and two
contractions with the same merged sizes are mapped once (see its Notes for why merging
keeps the model's costs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from math import prod
from typing import Any, TypeAlias

import networkx as nx
import numpy as np

from tnx_timeloop.errors import SpecError, SpecErrors, Where
from tnx_timeloop.frontends.einsum import einsum_symbols, parse_einsum
from tnx_timeloop.spec.problem import DataSpace, Problem, ProjectionTerm

__all__ = [
    "Tensor",
    "TensorNetwork",
    "Tree",
    "Contraction",
    "CanonicalContraction",
    "SplitLowering",
    "network_graph",
    "from_einsum",
    "dense_linear",
    "ttm",
    "ttm_from_core_shapes",
    "tt",
    "tt_linear",
    "tucker_linear",
    "cp_linear",
    "tensor_ring",
    "tree_leaves",
    "tree_from_linear",
    "tree_to_linear",
    "validate_tree",
    "forward_contractions",
    "backward_contractions",
    "training_contractions",
    "gradient_networks",
    "lower_contraction",
    "canonical_contraction",
    "canonical_problem",
    "execute_contractions",
    "random_arrays",
    "INPUT_NAMES",
]

Tree: TypeAlias = int | tuple["Tree", "Tree"]
"""A contraction tree: a tensor position (leaf) or a pair of sub-trees."""

INPUT_NAMES = ("Inputs", "Weights", "Outputs")
"""Data-space names of a lowered contraction (first operand, second operand, result)."""


# ---------------------------------------------------------------------------
# tensors and networks
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tensor:
    """One tensor of a network.

    Attributes
    ----------
    name : str
        Unique within the network, e.g. ``"G1"``.
    indices : tuple of str
        Index names, one per mode.
    requires_grad : bool
        Whether training needs this tensor's gradient (weights: yes; the layer input:
        when the layer is not the first).
    is_input : bool
        True for activations (the layer input ``x``), False for weights.
    """

    name: str
    indices: tuple[str, ...]
    requires_grad: bool = True
    is_input: bool = False


@dataclass(frozen=True, slots=True)
class TensorNetwork:
    """A tensor network: tensors, index sizes, output indices and declared hyper indices.

    Validation runs on construction and reports every problem at once
    (:class:`~tnx_timeloop.errors.SpecErrors`), each naming the tensor and the index.

    Attributes
    ----------
    name : str
        A label (``"ttm"``, a layer name...).
    tensors : tuple of Tensor
        At least two.
    sizes : tuple of (str, int)
        Size of every index, in first-use order.
    output : tuple of str
        Indices of the result.
    hyper : frozenset of str
        Indices allowed in more than two places (batch/hyper indices).
    output_name : str
        Name of the result tensor (``"y"``).
    format : str
        The layer format that built it (``"ttm"``, ``"einsum"``...), for reports.
    dense_shape : tuple of int, optional
        ``(batch, in_features, out_features)`` of the dense layer this network
        factorizes, when it is a linear layer; used for dense baselines.
    where : Where
        Location of the definition in user input, for error messages.
    """

    name: str
    tensors: tuple[Tensor, ...]
    sizes: tuple[tuple[str, int], ...]
    output: tuple[str, ...]
    hyper: frozenset[str] = frozenset()
    output_name: str = "y"
    format: str = "einsum"
    dense_shape: tuple[int, int, int] | None = None
    where: Where = field(default_factory=Where, compare=False)

    def __post_init__(self) -> None:
        _validate(self)

    # -- lookups ---------------------------------------------------------------
    @property
    def size_of(self) -> dict[str, int]:
        """Index name -> size."""
        return dict(self.sizes)

    @property
    def indices(self) -> tuple[str, ...]:
        """Every index, in first-use order."""
        return tuple(i for i, _ in self.sizes)

    @property
    def names(self) -> tuple[str, ...]:
        """Tensor names, in order."""
        return tuple(t.name for t in self.tensors)

    def tensor(self, name: str) -> Tensor:
        """The tensor called ``name``."""
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(f"network {self.name!r} has no tensor {name!r}; tensors are {list(self.names)}")

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of a tensor (sizes of its indices)."""
        s = self.size_of
        return tuple(s[i] for i in self.tensor(name).indices)

    def words(self, name: str) -> int:
        """Number of elements of tensor ``name``."""
        return prod(self.shape(name))

    @property
    def parameters(self) -> int:
        """Elements of the weight tensors (every tensor that is not an input)."""
        return sum(self.words(t.name) for t in self.tensors if not t.is_input)

    @property
    def input_names(self) -> tuple[str, ...]:
        """Names of the activation tensors (``is_input``)."""
        return tuple(t.name for t in self.tensors if t.is_input)

    def einsum(self) -> str:
        """The network as a named einsum expression (readable, re-parsable)."""
        ops = " * ".join(f"{t.name}[{','.join(t.indices)}]" for t in self.tensors)
        return f"{ops} -> {self.output_name}[{','.join(self.output)}]"

    def einsum_classic(self) -> tuple[str, list[tuple[int, ...]]]:
        """``(expression, shapes)`` with one letter per index (for NumPy and opt_einsum)."""
        sym = einsum_symbols(self.indices)
        lhs = ",".join("".join(sym[i] for i in t.indices) for t in self.tensors)
        return f"{lhs}->{''.join(sym[i] for i in self.output)}", [self.shape(t.name) for t in self.tensors]

    @property
    def graph(self) -> nx.MultiGraph:
        """The network as a networkx graph (see :func:`network_graph`)."""
        return network_graph(self)

    def with_requires_grad(self, names: Mapping[str, bool]) -> TensorNetwork:
        """A copy with ``requires_grad`` changed for the named tensors."""
        tensors = tuple(
            Tensor(t.name, t.indices, names.get(t.name, t.requires_grad), t.is_input) for t in self.tensors
        )
        return _replace(self, tensors=tensors)


def _replace(net: TensorNetwork, **changes: Any) -> TensorNetwork:
    values = {f: getattr(net, f) for f in net.__dataclass_fields__}
    values.update(changes)
    return TensorNetwork(**values)


def _validate(net: TensorNetwork) -> None:
    """Collect every problem of a network and raise them together."""
    errs: list[SpecError] = []
    where = net.where
    label = f"network {net.name!r}"

    def add(msg: str) -> None:
        errs.append(SpecError(where, f"{label}: {msg}"))

    if len(net.tensors) < 2:
        add(f"needs at least two tensors, has {len(net.tensors)}")
    names = [t.name for t in net.tensors]
    for n in sorted({n for n in names if names.count(n) > 1}):
        add(f"tensor name {n!r} is used {names.count(n)} times")
    if net.output_name in names:
        add(f"the output name {net.output_name!r} is also a tensor name")
    sizes: dict[str, int] = {}
    for i, s in net.sizes:
        if i in sizes:
            add(f"index {i!r} is given a size twice")
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 1:
            add(f"index {i!r} has size {s!r}; sizes are integers >= 1")
        sizes[i] = s
    places: dict[str, list[str]] = {}
    for t in net.tensors:
        if not t.indices:
            add(f"tensor {t.name!r} has no index (scalars are not supported)")
        for i in t.indices:
            if t.indices.count(i) > 1:
                add(f"tensor {t.name!r} repeats index {i!r} (traces are not supported)")
            places.setdefault(i, [])
            if t.name not in places[i]:
                places[i].append(t.name)
            if i not in sizes:
                add(f"index {i!r} of tensor {t.name!r} has no size")
    for i in net.output:
        if i not in places:
            add(f"output index {i!r} appears in no tensor")
        elif net.output.count(i) > 1:
            add(f"output repeats index {i!r}")
    for i in sizes:
        if i not in places:
            add(f"index {i!r} has a size but no tensor uses it")
    for i, holders in places.items():
        count = len(holders) + (i in net.output)
        if count > 2 and i not in net.hyper:
            where_list = holders + ([f"the output {net.output_name!r}"] if i in net.output else [])
            add(
                f"index {i!r} appears in {count} places ({', '.join(repr(h) if not h.startswith('the ') else h for h in where_list)}) "
                "but is not declared a batch/hyper index; declare it one ('hyper:' in a workload file, --hyper on the "
                "command line) or rename the repeats"
            )
        if count == 1 and i not in net.output:
            add(
                f"index {i!r} appears only in tensor {holders[0]!r} and not in the output; "
                "sum it out of that tensor first (dangling indices are not supported)"
            )
    for i in net.hyper:
        if i not in places:
            add(f"hyper index {i!r} appears in no tensor")
    if errs:
        raise errs[0] if len(errs) == 1 else SpecErrors(errs)


def network_graph(net: TensorNetwork) -> nx.MultiGraph:
    """The network as a networkx multigraph.

    Nodes are the tensors (``kind="tensor"``, with ``indices`` and ``shape``), the
    output (``kind="output"``, named ``net.output_name``) and one node per hyper index
    carried by more than two places (``kind="hyper"``, named ``"#<index>"``). An index
    shared by exactly two places is an edge between them (key = the index name,
    ``size`` attribute); a hyper index connects its node to every holder.

    Returns
    -------
    networkx.MultiGraph
    """
    g = nx.MultiGraph(name=net.name)
    s = net.size_of
    for t in net.tensors:
        g.add_node(t.name, kind="tensor", indices=t.indices, shape=tuple(s[i] for i in t.indices),
                   requires_grad=t.requires_grad)
    g.add_node(net.output_name, kind="output", indices=net.output, shape=tuple(s[i] for i in net.output))
    holders: dict[str, list[str]] = {}
    for t in net.tensors:
        for i in t.indices:
            holders.setdefault(i, []).append(t.name)
    for i in net.output:
        holders.setdefault(i, []).append(net.output_name)
    for i, hs in holders.items():
        if len(hs) == 2:
            g.add_edge(hs[0], hs[1], key=i, index=i, size=s[i])
        elif len(hs) > 2:
            node = f"#{i}"
            g.add_node(node, kind="hyper", index=i, size=s[i])
            for h in hs:
                g.add_edge(node, h, key=i, index=i, size=s[i])
    return g


def _make(name: str, tensors: Sequence[tuple[str, Sequence[str], bool]], sizes: Mapping[str, int],
          output: Sequence[str], *, hyper: Iterable[str] = (), fmt: str, where: Where | None = None,
          dense_shape: tuple[int, int, int] | None = None, inputs: Iterable[str] = ("x",),
          output_name: str = "y") -> TensorNetwork:
    inputs = set(inputs)
    order: dict[str, int] = {}
    for _, idx, _ in tensors:
        for i in idx:
            order.setdefault(i, len(order))
    for i in sizes:
        order.setdefault(i, len(order))
    return TensorNetwork(
        name=name,
        tensors=tuple(Tensor(n, tuple(idx), bool(g), n in inputs) for n, idx, g in tensors),
        sizes=tuple((i, _as_size(sizes[i])) for i in order if i in sizes),
        output=tuple(output),
        hyper=frozenset(hyper),
        output_name=output_name,
        format=fmt,
        dense_shape=dense_shape,
        where=where or Where(),
    )


def _as_size(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    return v


# ---------------------------------------------------------------------------
# constructors
# ---------------------------------------------------------------------------


def from_einsum(
    expression: str,
    sizes: Mapping[str, int] | None = None,
    *,
    shapes: Sequence[Sequence[int]] | None = None,
    hyper: Iterable[str] = (),
    name: str = "einsum",
    requires_grad: bool | Mapping[str, bool] = True,
    inputs: Iterable[str] = (),
    where: Where | None = None,
) -> TensorNetwork:
    """A network from an einsum expression and index sizes (or operand shapes).

    Parameters
    ----------
    expression : str
        Classic (``"bj,ij->bi"``) or named (``"x[b,j] * W[i,j] -> y[b,i]"``) form.
    sizes : mapping, optional
        Index name -> size.
    shapes : sequence of sequence of int, optional
        One shape per operand; sizes are read from them and must agree with each
        other and with ``sizes``.
    hyper : iterable of str
        Indices allowed in more than two places.
    name : str
        Network label.
    requires_grad : bool or mapping
        Whether each operand needs a gradient in training (a mapping by operand name).
    inputs : iterable of str
        Operands that are activations rather than weights (not counted as parameters).
    where : Where, optional
        Location for error messages.

    Raises
    ------
    SpecError
        Naming the tensor and index for sizes that disagree, a shape of the wrong
        rank, a missing size or an undeclared hyper index.
    """
    where = where or Where()
    parsed = parse_einsum(expression, where=where)
    known: dict[str, int] = dict(sizes or {})
    origin: dict[str, str] = {i: "sizes" for i in known}
    errs: list[SpecError] = []
    if shapes is not None:
        if len(shapes) != len(parsed.operands):
            raise SpecError(where, f"{len(shapes)} shapes given for {len(parsed.operands)} operands of {expression!r}")
        for (tname, idx), shp in zip(parsed.operands, shapes, strict=True):
            if len(shp) != len(idx):
                errs.append(SpecError(where, f"tensor {tname!r} has {len(idx)} indices {list(idx)} but shape {tuple(shp)}"))
                continue
            for i, n in zip(idx, shp, strict=True):
                if i in known and known[i] != int(n):
                    errs.append(SpecError(
                        where, f"index {i!r} has size {int(n)} in tensor {tname!r} but {known[i]} in "
                        f"{'the sizes given' if origin[i] == 'sizes' else 'tensor ' + repr(origin[i])}"
                    ))
                else:
                    known.setdefault(i, int(n))
                    origin.setdefault(i, tname)
    if errs:
        raise errs[0] if len(errs) == 1 else SpecErrors(errs)
    grads = requires_grad if isinstance(requires_grad, Mapping) else {}
    default = requires_grad if isinstance(requires_grad, bool) else True
    used = {i for _, idx in parsed.operands for i in idx}
    extra = [i for i in known if i not in used]
    if extra:
        raise SpecError(where, f"size given for index {extra[0]!r}, which no operand of {expression!r} uses")
    net = _make(
        name,
        [(n, idx, grads.get(n, default)) for n, idx in parsed.operands],
        known,
        parsed.output,
        hyper=hyper,
        fmt="einsum",
        where=where,
        inputs=inputs,
        output_name=parsed.output_name,
    )
    return net


def _modes(values: Sequence[int], what: str, where: Where) -> tuple[int, ...]:
    out = tuple(int(v) for v in values)
    if not out:
        raise SpecError(where, f"{what} is empty")
    bad = [v for v in out if v < 1]
    if bad:
        raise SpecError(where, f"{what} has a size {bad[0]} < 1")
    return out


def _ranks(ranks: int | Sequence[int], n: int, what: str, where: Where) -> tuple[int, ...]:
    if isinstance(ranks, (int, np.integer)):
        out = (int(ranks),) * n
    else:
        out = tuple(int(r) for r in ranks)
        if len(out) != n:
            raise SpecError(where, f"{what} needs {n} ranks, got {len(out)} ({list(out)})")
    bad = [(k, r) for k, r in enumerate(out) if r < 1]
    if bad:
        raise SpecError(where, f"{what}: rank {bad[0][0] + 1} is {bad[0][1]}; ranks are integers >= 1")
    return out


def _check_batch(batch: int, where: Where) -> int:
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise SpecError(where, f"batch is {batch!r}; it is an integer >= 1")
    return int(batch)


def _train_cores(core_modes: Sequence[Sequence[tuple[str, int]]], ranks: Sequence[int],
                 sizes: dict[str, int]) -> list[tuple[str, Sequence[str], bool]]:
    """Cores ``G1..Gn`` of an open tensor train: ``Gk[r_{k-1}, modes..., r_k]`` (no rank at the ends).

    Records every mode's and rank's size in ``sizes``.
    """
    n = len(core_modes)
    cores: list[tuple[str, Sequence[str], bool]] = []
    for k, modes in enumerate(core_modes):
        idx = [m for m, _ in modes]
        sizes.update(modes)
        if k > 0:
            idx.insert(0, f"r{k}")
        if k < n - 1:
            idx.append(f"r{k + 1}")
            sizes[f"r{k + 1}"] = ranks[k]
        cores.append((f"G{k + 1}", tuple(idx), True))
    return cores


def dense_linear(in_features: int, out_features: int, batch: int, *, name: str = "dense",
                 input_grad: bool = True, where: Where | None = None) -> TensorNetwork:
    """The dense linear layer ``y[b,i] = x[b,j] W[i,j]``.

    Parameters
    ----------
    in_features, out_features : int
        ``J`` and ``I``.
    batch : int
        Size of the batch index ``b`` (for a convolution lowered by im2col: N*P*Q).
    input_grad : bool
        Whether training needs ``dx`` (False for a network's first layer).
    """
    where = where or Where()
    b = _check_batch(batch, where)
    j, i = _modes([in_features], "in_features", where)[0], _modes([out_features], "out_features", where)[0]
    return _make(name, [("x", ("b", "j"), input_grad), ("W", ("i", "j"), True)],
                 {"b": b, "j": j, "i": i}, ("b", "i"), fmt="dense", where=where, dense_shape=(b, j, i))


def ttm(in_modes: Sequence[int], out_modes: Sequence[int], ranks: int | Sequence[int], batch: int, *,
        name: str = "ttm", input_grad: bool = True, where: Where | None = None) -> TensorNetwork:
    """The tensor-train-matrix (TTM) linear layer.

    ``y[b, i1..id] = x[b, j1..jd] * G1[i1,j1,r1] * G2[r1,i2,j2,r2] * ... * Gd[r_{d-1},id,jd]``

    Parameters
    ----------
    in_modes : sequence of int
        ``J_1..J_d`` (their product is the input features).
    out_modes : sequence of int
        ``I_1..I_d`` (same length as ``in_modes``).
    ranks : int or sequence of int
        The ``d - 1`` internal TT ranks (an int: all equal).
    batch : int
        Size of the batch index ``b``.
    input_grad : bool
        Whether training needs ``dx``.

    Raises
    ------
    SpecError
        If the mode lists differ in length, or the number of ranks is not ``d - 1``.
    """
    where = where or Where()
    jm = _modes(in_modes, "ttm in_modes", where)
    im = _modes(out_modes, "ttm out_modes", where)
    if len(jm) != len(im):
        raise SpecError(where, f"ttm: in_modes has {len(jm)} modes but out_modes has {len(im)}; they must match")
    d = len(jm)
    rk = _ranks(ranks, d - 1, f"ttm with {d} cores", where)
    sizes = {"b": _check_batch(batch, where)}
    tensors: list[tuple[str, Sequence[str], bool]] = [("x", ("b", *[f"j{k + 1}" for k in range(d)]), input_grad)]
    tensors += _train_cores([[(f"i{k + 1}", im[k]), (f"j{k + 1}", jm[k])] for k in range(d)], rk, sizes)
    return _make(name, tensors, sizes, ("b", *[f"i{k + 1}" for k in range(d)]), fmt="ttm", where=where,
                 dense_shape=(sizes["b"], prod(jm), prod(im)))


def ttm_from_core_shapes(core_shapes: Sequence[Sequence[int]], batch: int, *, name: str = "ttm",
                         input_grad: bool = True, where: Where | None = None) -> TensorNetwork:
    """A TTM layer from explicit core shapes ``[(I1, J1, R1), (R1, I2, J2, R2), ..., (R_{d-1}, Id, Jd)]``.

    Raises
    ------
    SpecError
        If a core has the wrong number of modes or neighbouring ranks do not chain
        (naming both cores and the rank index).
    """
    where = where or Where()
    d = len(core_shapes)
    if d < 1:
        raise SpecError(where, "ttm: no cores given")
    errs = []
    ins, outs, ranks = [], [], []
    for k, shp in enumerate(core_shapes):
        want = 2 + (k > 0) + (k < d - 1) if d > 1 else 2
        if len(shp) != want:
            errs.append(SpecError(where, f"ttm core G{k + 1} has shape {tuple(shp)}; expected {want} modes "
                                  f"({'r, ' if k > 0 else ''}i, j{', r' if k < d - 1 else ''})"))
            continue
        off = 1 if k > 0 else 0
        outs.append(int(shp[off]))
        ins.append(int(shp[off + 1]))
        if k < d - 1:
            ranks.append(int(shp[-1]))
        if k > 0 and len(core_shapes[k - 1]) >= 3 and int(core_shapes[k - 1][-1]) != int(shp[0]):
            errs.append(SpecError(
                where, f"ranks do not chain: core G{k} ends with rank r{k} = {int(core_shapes[k - 1][-1])} "
                f"but core G{k + 1} starts with rank r{k} = {int(shp[0])}"
            ))
    if errs:
        raise errs[0] if len(errs) == 1 else SpecErrors(errs)
    return ttm(ins, outs, ranks, batch, name=name, input_grad=input_grad, where=where)


def tt(modes: Sequence[int], ranks: int | Sequence[int], batch: int | None = None, *, name: str = "tt",
       input_grad: bool = True, where: Where | None = None) -> TensorNetwork:
    """A tensor-train (TT) vector ``T[n1..nd] = G1[n1,r1] G2[r1,n2,r2] ... Gd[r_{d-1},nd]``.

    Without ``batch`` the network reconstructs ``T``; with it, it contracts ``T`` with an
    input ``x[b, n1..nd]`` giving ``y[b]`` (a TT-format linear functional).
    """
    where = where or Where()
    nm = _modes(modes, "tt modes", where)
    d = len(nm)
    rk = _ranks(ranks, d - 1, f"tt with {d} cores", where)
    sizes: dict[str, int] = {}
    tensors: list[tuple[str, Sequence[str], bool]] = []
    if batch is not None:
        sizes["b"] = _check_batch(batch, where)
        tensors.append(("x", ("b", *[f"n{k + 1}" for k in range(d)]), input_grad))
    tensors += _train_cores([[(f"n{k + 1}", nm[k])] for k in range(d)], rk, sizes)
    output = ("b",) if batch is not None else tuple(f"n{k + 1}" for k in range(d))
    return _make(name, tensors, sizes, output, fmt="tt", where=where)


def tt_linear(in_modes: Sequence[int], out_modes: Sequence[int], ranks: int | Sequence[int], batch: int, *,
              name: str = "tt", input_grad: bool = True, where: Where | None = None) -> TensorNetwork:
    """A linear layer whose weight, reshaped to modes ``(I1..Id, J1..Jd)``, is a TT vector of ``2d`` cores.

    ``W[i1..id, j1..jd] = G1[i1,r1] ... Gd[r_{d-1},id,rd] G_{d+1}[rd,j1,r_{d+1}] ... G_{2d}[r_{2d-1},jd]``,
    ``y[b,i..] = x[b,j..] W[i..,j..]``. ``ranks`` are the ``2d - 1`` internal ranks.
    """
    where = where or Where()
    jm = _modes(in_modes, "tt in_modes", where)
    im = _modes(out_modes, "tt out_modes", where)
    d_in, d_out = len(jm), len(im)
    n = d_in + d_out
    rk = _ranks(ranks, n - 1, f"tt linear with {n} cores", where)
    sizes = {"b": _check_batch(batch, where)}
    mode_names = [f"i{k + 1}" for k in range(d_out)] + [f"j{k + 1}" for k in range(d_in)]
    mode_sizes = list(im) + list(jm)
    tensors: list[tuple[str, Sequence[str], bool]] = [("x", ("b", *[f"j{k + 1}" for k in range(d_in)]), input_grad)]
    tensors += _train_cores([[(mode_names[k], mode_sizes[k])] for k in range(n)], rk, sizes)
    return _make(name, tensors, sizes, ("b", *[f"i{k + 1}" for k in range(d_out)]), fmt="tt", where=where,
                 dense_shape=(sizes["b"], prod(jm), prod(im)))


def tucker_linear(in_modes: Sequence[int], out_modes: Sequence[int], ranks: int | Sequence[int], batch: int, *,
                  name: str = "tucker", input_grad: bool = True, where: Where | None = None) -> TensorNetwork:
    """A linear layer whose reshaped weight is in Tucker form.

    ``y[b,i..] = x[b,j1..jd] V1[j1,t1]..Vd[jd,td] C[s1..sd,t1..td] U1[i1,s1]..Ud[id,sd]``;
    ``ranks``: one int, or ``2d`` values (``s1..sd`` for the output modes, then ``t1..td``).
    """
    where = where or Where()
    jm = _modes(in_modes, "tucker in_modes", where)
    im = _modes(out_modes, "tucker out_modes", where)
    if len(jm) != len(im):
        raise SpecError(where, f"tucker: in_modes has {len(jm)} modes but out_modes has {len(im)}; they must match")
    d = len(jm)
    rk = _ranks(ranks, 2 * d, f"tucker with {d}+{d} modes", where)
    sizes = {"b": _check_batch(batch, where)}
    tensors: list[tuple[str, Sequence[str], bool]] = [("x", ("b", *[f"j{k + 1}" for k in range(d)]), input_grad)]
    for k in range(d):
        sizes[f"j{k + 1}"], sizes[f"t{k + 1}"] = jm[k], rk[d + k]
        tensors.append((f"V{k + 1}", (f"j{k + 1}", f"t{k + 1}"), True))
    tensors.append(("C", tuple([f"s{k + 1}" for k in range(d)] + [f"t{k + 1}" for k in range(d)]), True))
    for k in range(d):
        sizes[f"i{k + 1}"], sizes[f"s{k + 1}"] = im[k], rk[k]
        tensors.append((f"U{k + 1}", (f"i{k + 1}", f"s{k + 1}"), True))
    return _make(name, tensors, sizes, ("b", *[f"i{k + 1}" for k in range(d)]), fmt="tucker", where=where,
                 dense_shape=(sizes["b"], prod(jm), prod(im)))


def cp_linear(in_modes: Sequence[int], out_modes: Sequence[int], rank: int, batch: int, *,
              name: str = "cp", input_grad: bool = True, where: Where | None = None) -> TensorNetwork:
    """A linear layer whose reshaped weight is a CP (canonical polyadic) sum of rank ``rank``.

    ``y[b,i..] = x[b,j1..jd] B1[j1,r]..Bd[jd,r] A1[i1,r]..Ad[id,r]``; ``r`` is a hyper index.
    """
    where = where or Where()
    jm = _modes(in_modes, "cp in_modes", where)
    im = _modes(out_modes, "cp out_modes", where)
    (r,) = _ranks(rank if isinstance(rank, (int, np.integer)) else tuple(rank), 1, "cp", where)
    sizes = {"b": _check_batch(batch, where), "r": r}
    tensors: list[tuple[str, Sequence[str], bool]] = [("x", ("b", *[f"j{k + 1}" for k in range(len(jm))]), input_grad)]
    for k, n in enumerate(jm):
        sizes[f"j{k + 1}"] = n
        tensors.append((f"B{k + 1}", (f"j{k + 1}", "r"), True))
    for k, n in enumerate(im):
        sizes[f"i{k + 1}"] = n
        tensors.append((f"A{k + 1}", (f"i{k + 1}", "r"), True))
    return _make(name, tensors, sizes, ("b", *[f"i{k + 1}" for k in range(len(im))]), hyper={"r"}, fmt="cp",
                 where=where, dense_shape=(sizes["b"], prod(jm), prod(im)))


def tensor_ring(in_modes: Sequence[int], out_modes: Sequence[int], ranks: int | Sequence[int], batch: int, *,
                name: str = "tr", input_grad: bool = True, where: Where | None = None) -> TensorNetwork:
    """A tensor-ring (TR) matrix linear layer: a TTM whose first and last ranks are joined.

    ``y[b,i..] = x[b,j..] G1[r0,i1,j1,r1] G2[r1,i2,j2,r2] ... Gd[r_{d-1},id,jd,r0]``; ``ranks`` are
    ``r0..r_{d-1}`` (``d`` values, the ring closes on ``r0``).
    """
    where = where or Where()
    jm = _modes(in_modes, "tr in_modes", where)
    im = _modes(out_modes, "tr out_modes", where)
    if len(jm) != len(im):
        raise SpecError(where, f"tr: in_modes has {len(jm)} modes but out_modes has {len(im)}; they must match")
    d = len(jm)
    if d < 2:
        raise SpecError(where, "tr: a ring needs at least 2 cores")
    rk = _ranks(ranks, d, f"tr with {d} cores (the ring closes on r0)", where)
    sizes = {"b": _check_batch(batch, where)}
    tensors: list[tuple[str, Sequence[str], bool]] = [("x", ("b", *[f"j{k + 1}" for k in range(d)]), input_grad)]
    for k in range(d):
        sizes[f"j{k + 1}"], sizes[f"i{k + 1}"], sizes[f"r{k}"] = jm[k], im[k], rk[k]
        tensors.append((f"G{k + 1}", (f"r{k}", f"i{k + 1}", f"j{k + 1}", f"r{(k + 1) % d}"), True))
    return _make(name, tensors, sizes, ("b", *[f"i{k + 1}" for k in range(d)]), fmt="tr", where=where,
                 dense_shape=(sizes["b"], prod(jm), prod(im)))


# ---------------------------------------------------------------------------
# contraction trees
# ---------------------------------------------------------------------------


def tree_leaves(tree: Tree) -> tuple[int, ...]:
    """Tensor positions of a tree, left to right."""
    if isinstance(tree, (int, np.integer)):
        return (int(tree),)
    return tree_leaves(tree[0]) + tree_leaves(tree[1])


def validate_tree(net: TensorNetwork, tree: Tree) -> None:
    """Raise a :class:`SpecError` unless ``tree`` contracts every tensor of ``net`` exactly once."""
    leaves = tree_leaves(tree)
    n = len(net.tensors)
    if sorted(leaves) != list(range(n)):
        raise SpecError(net.where, f"network {net.name!r}: path covers tensors {sorted(leaves)}, expected 0..{n - 1} once each")


def tree_from_linear(path: Sequence[Sequence[int]], n: int) -> Tree:
    """A tree from opt_einsum's path format (pairs of positions in a shrinking list; results appended).

    Raises
    ------
    SpecError
        If a step does not contract exactly two operands, or the path leaves more than one.
    """
    items: list[Tree] = list(range(n))
    for step in path:
        pos = sorted((int(p) for p in step), reverse=True)
        if len(pos) != 2 or pos[0] >= len(items) or pos[1] < 0 or pos[0] == pos[1]:
            raise SpecError(Where(), f"path step {tuple(step)} is not a pair of operands among {len(items)}")
        a = items.pop(pos[0])
        b = items.pop(pos[1])
        items.append((b, a))
    if len(items) != 1:
        raise SpecError(Where(), f"path leaves {len(items)} operands uncontracted")
    return items[0]


def tree_to_linear(tree: Tree, n: int) -> list[tuple[int, int]]:
    """opt_einsum's path format of a tree (post-order)."""
    items: list[Any] = list(range(n))
    out: list[tuple[int, int]] = []

    def visit(t: Tree) -> Any:
        if isinstance(t, (int, np.integer)):
            return int(t)
        a, b = visit(t[0]), visit(t[1])
        ia, ib = items.index(a), items.index(b)
        out.append((min(ia, ib), max(ia, ib)))
        for k in sorted((ia, ib), reverse=True):
            items.pop(k)
        node = (a, b)
        items.append(node)
        return node

    visit(tree)
    return out


# ---------------------------------------------------------------------------
# pairwise contractions
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Contraction:
    """One pairwise contraction ``result[out] = sum left[left_indices] * right[right_indices]``.

    Attributes
    ----------
    left, right, result : str
        Operand and result names (intermediates ``t1, t2...``; gradients ``d<name>``).
    left_indices, right_indices, out_indices : tuple of str
    sizes : tuple of (str, int)
        Sizes of every index involved.
    phase : str
        ``"forward"`` or ``"backward"``.
    """

    left: str
    right: str
    result: str
    left_indices: tuple[str, ...]
    right_indices: tuple[str, ...]
    out_indices: tuple[str, ...]
    sizes: tuple[tuple[str, int], ...]
    phase: str = "forward"

    @property
    def indices(self) -> tuple[str, ...]:
        """Every index of the contraction (left, then new ones of right, then of the output)."""
        seen: dict[str, None] = {}
        for i in (*self.left_indices, *self.right_indices, *self.out_indices):
            seen.setdefault(i, None)
        return tuple(seen)

    @property
    def macs(self) -> int:
        """Multiply-accumulates: the product of every index size."""
        s = dict(self.sizes)
        return prod(s[i] for i in self.indices)

    def words(self, which: str) -> int:
        """Elements of ``"left"``, ``"right"`` or ``"out"``."""
        s = dict(self.sizes)
        idx = {"left": self.left_indices, "right": self.right_indices, "out": self.out_indices}[which]
        return prod(s[i] for i in idx)

    def einsum(self) -> str:
        """Named einsum of this step, e.g. ``x[b,j1] * G1[i1,j1,r1] -> t1[b,i1,r1]``."""
        return (f"{self.left}[{','.join(self.left_indices)}] * {self.right}[{','.join(self.right_indices)}]"
                f" -> {self.result}[{','.join(self.out_indices)}]")


class SplitLowering:
    """Pairwise contractions of a network indexed by tensor subsets (bitmasks), memoised.

    Subset ``S`` (bit ``k`` = tensor ``k``) stands for the intermediate result of
    contracting its tensors; its indices are those of its tensors that the output or a
    tensor outside ``S`` still needs. This is what path searches use.

    Parameters
    ----------
    net : TensorNetwork

    Notes
    -----
    Index sets are computed with bit operations: ``O(#indices)`` per subset.
    """

    def __init__(self, net: TensorNetwork) -> None:
        self.net = net
        self.n = len(net.tensors)
        self.full = (1 << self.n) - 1
        self.order = net.indices
        self.size = net.size_of
        holder = {i: 0 for i in self.order}
        for k, t in enumerate(net.tensors):
            for i in t.indices:
                holder[i] |= 1 << k
        self.holder = holder
        self.in_output = frozenset(net.output)
        self.grad_mask = sum(1 << k for k, t in enumerate(net.tensors) if t.requires_grad)
        self._idx: dict[int, tuple[str, ...]] = {}
        self._fwd: dict[tuple[int, int], CanonicalContraction] = {}
        self._bwd: dict[tuple[int, int], tuple[CanonicalContraction, ...]] = {}

    def indices(self, mask: int) -> tuple[str, ...]:
        """Indices of the intermediate for tensor subset ``mask`` (output order for the full set)."""
        hit = self._idx.get(mask)
        if hit is not None:
            return hit
        if mask == self.full:
            out = tuple(self.net.output)
        elif mask & (mask - 1) == 0:
            out = self.net.tensors[mask.bit_length() - 1].indices
        else:
            out = tuple(
                i for i in self.order
                if self.holder[i] & mask and (i in self.in_output or self.holder[i] & ~mask & self.full)
            )
        self._idx[mask] = out
        return out

    def connected(self, a: int, b: int) -> bool:
        """Whether subsets ``a`` and ``b`` share an index (their contraction is not an outer product)."""
        ia = set(self.indices(a))
        return any(i in ia for i in self.indices(b))

    def macs(self, left: int, right: int) -> int:
        """MACs of contracting subsets ``left`` and ``right``."""
        idx = set(self.indices(left)) | set(self.indices(right))
        return prod(self.size[i] for i in idx)

    def needs_grad(self, mask: int) -> bool:
        """Whether any tensor of ``mask`` requires a gradient."""
        return bool(mask & self.grad_mask)

    def canonical(self, a_idx: tuple[str, ...], b_idx: tuple[str, ...], o_idx: tuple[str, ...]) -> CanonicalContraction:
        """The canonical form of contracting index lists ``a`` and ``b`` into ``o``."""
        return _canonical_from_sets(set(a_idx), set(b_idx), set(o_idx), self.size)

    def forward_canonical(self, left: int, right: int) -> CanonicalContraction:
        """Canonical form of the forward contraction of subsets ``left`` and ``right``."""
        hit = self._fwd.get((left, right))
        if hit is None:
            hit = self.canonical(self.indices(left), self.indices(right), self.indices(left | right))
            self._fwd[(left, right)] = hit
        return hit

    def backward_canonicals(self, left: int, right: int) -> tuple[CanonicalContraction, ...]:
        """Canonical forms of the backward contractions of the tree node ``left . right``.

        ``d(left) = d(node) . right`` if ``left`` holds a tensor needing a gradient, and
        the same for ``right``. The node's incoming gradient exists whenever one of its
        sides needs one.
        """
        hit = self._bwd.get((left, right))
        if hit is not None:
            return hit
        node = self.indices(left | right)
        out = []
        if self.needs_grad(left):
            out.append(self.canonical(node, self.indices(right), self.indices(left)))
        if self.needs_grad(right):
            out.append(self.canonical(node, self.indices(left), self.indices(right)))
        result = tuple(out)
        self._bwd[(left, right)] = result
        return result


def _tree_masks(tree: Tree) -> int:
    return sum(1 << k for k in tree_leaves(tree))


def _step_name(k: int, taken: set[str]) -> str:
    name = f"t{k}"
    while name in taken:
        name = "_" + name
    return name


def forward_contractions(net: TensorNetwork, tree: Tree) -> list[Contraction]:
    """The pairwise contractions of ``tree``, in execution (post-) order.

    Intermediates are named ``t1, t2, ...``; the last step's result is the output.

    Raises
    ------
    SpecError
        If ``tree`` does not cover every tensor exactly once.
    """
    validate_tree(net, tree)
    low = SplitLowering(net)
    taken = set(net.names) | {net.output_name}
    steps: list[Contraction] = []
    size = net.size_of

    def visit(t: Tree) -> tuple[int, str]:
        if isinstance(t, (int, np.integer)):
            return 1 << int(t), net.tensors[int(t)].name
        (ma, na), (mb, nb) = visit(t[0]), visit(t[1])
        mask = ma | mb
        name = net.output_name if mask == low.full else _step_name(len(steps) + 1, taken)
        a_idx, b_idx, o_idx = low.indices(ma), low.indices(mb), low.indices(mask)
        used = dict.fromkeys((*a_idx, *b_idx, *o_idx))
        steps.append(Contraction(na, nb, name, a_idx, b_idx, o_idx, tuple((i, size[i]) for i in used)))
        return mask, name

    visit(tree)
    return steps


def backward_contractions(net: TensorNetwork, tree: Tree, forward: Sequence[Contraction] | None = None) -> list[Contraction]:
    """The training graph of ``tree``: reverse-mode contractions for every gradient needed.

    Starting from ``d<output>`` (the gradient of the loss with respect to the output),
    each tree node ``v = L . R`` passes ``dL = dv . R`` (when ``L`` holds a tensor that
    requires a gradient) and ``dR = dv . L``, using the forward intermediates ``L`` and
    ``R`` the forward pass kept. Gradients of leaves are named ``d<tensor>``.

    Parameters
    ----------
    net : TensorNetwork
    tree : Tree
    forward : sequence of Contraction, optional
        :func:`forward_contractions` of the same tree (computed if not given).

    Returns
    -------
    list of Contraction
        Phase ``"backward"``, in an executable order (a gradient before its uses).
    """
    forward = list(forward) if forward is not None else forward_contractions(net, tree)
    low = SplitLowering(net)
    size = net.size_of
    by_mask: dict[int, str] = {}
    fwd_iter = iter(forward)

    def name_nodes(t: Tree) -> int:
        if isinstance(t, (int, np.integer)):
            by_mask[1 << int(t)] = net.tensors[int(t)].name
            return 1 << int(t)
        m = name_nodes(t[0]) | name_nodes(t[1])
        by_mask[m] = next(fwd_iter).result
        return m

    name_nodes(tree)
    steps: list[Contraction] = []

    def grad_name(mask: int) -> str:
        return "d" + by_mask[mask]

    def visit(t: Tree) -> None:
        if isinstance(t, (int, np.integer)):
            return
        ma, mb = _tree_masks(t[0]), _tree_masks(t[1])
        node = low.indices(ma | mb)
        for this, other, sub in ((ma, mb, t[0]), (mb, ma, t[1])):
            if not low.needs_grad(this):
                continue
            t_idx, o_idx = low.indices(this), low.indices(other)
            used = dict.fromkeys((*node, *o_idx, *t_idx))
            steps.append(Contraction(grad_name(ma | mb), by_mask[other], grad_name(this), node, o_idx, t_idx,
                                     tuple((i, size[i]) for i in used), phase="backward"))
            visit(sub)

    visit(tree)
    return steps


def training_contractions(net: TensorNetwork, tree: Tree) -> list[Contraction]:
    """Forward then backward contractions of ``tree`` (one training step of the layer)."""
    fwd = forward_contractions(net, tree)
    return fwd + backward_contractions(net, tree, fwd)


def gradient_networks(net: TensorNetwork) -> dict[str, TensorNetwork]:
    """Each needed gradient as a stand-alone network (no sharing with the forward pass).

    ``d<T>`` = the network with ``T`` removed and ``d<output>`` added, with ``T``'s
    indices as output. Useful to search each gradient's own best path.

    Returns
    -------
    dict
        Tensor name -> its gradient network (only tensors with ``requires_grad``).
    """
    out = {}
    dy = Tensor("d" + net.output_name, net.output, False, True)
    for t in net.tensors:
        if not t.requires_grad:
            continue
        others = tuple(Tensor(u.name, u.indices, False, u.is_input) for u in net.tensors if u.name != t.name)
        used = {i for u in (*others, dy) for i in u.indices}
        out[t.name] = TensorNetwork(
            name=f"{net.name}:d{t.name}",
            tensors=(*others, dy),
            sizes=tuple((i, s) for i, s in net.sizes if i in used),
            output=t.indices,
            hyper=frozenset(i for i in net.hyper if i in used),
            output_name="d" + t.name,
            format=net.format,
            where=net.where,
        )
    return out


# ---------------------------------------------------------------------------
# lowering to Timeloop problems
# ---------------------------------------------------------------------------


def lower_contraction(c: Contraction, *, names: tuple[str, str, str] = INPUT_NAMES) -> Problem:
    """A Timeloop problem for one pairwise contraction.

    Dimensions are the contraction's indices (names kept, any length); the two
    operands are input data-spaces and the result a read-write output, each projected
    by its index list. The operation space (product of the bounds) is the MAC count.

    Parameters
    ----------
    c : Contraction
    names : (str, str, str)
        Data-space names for left, right and result.

    Returns
    -------
    Problem
    """
    s = dict(c.sizes)
    dims = c.indices

    def proj(idx: tuple[str, ...]) -> tuple[tuple[ProjectionTerm, ...], ...]:
        return tuple((ProjectionTerm(i),) for i in idx)

    return Problem(
        name=f"contraction:{c.einsum()}",
        dimensions=dims,
        bounds=tuple(int(s[i]) for i in dims),
        dataspaces=(
            DataSpace(names[0], proj(c.left_indices)),
            DataSpace(names[1], proj(c.right_indices)),
            DataSpace(names[2], proj(c.out_indices), read_write=True),
        ),
    )


@dataclass(frozen=True, slots=True, order=True)
class CanonicalContraction:
    """A pairwise contraction up to renaming, reordering and regrouping of same-role indices.

    The product of the sizes of the indices in each role; the two operands are put in a
    fixed order (the one with the larger ``(free, summed)`` sizes first).

    Attributes
    ----------
    batch : int
        Indices in both operands and the result (``G``).
    free_left : int
        In the first operand and the result (``N``).
    free_right : int
        In the second operand and the result (``M``).
    contracted : int
        In both operands, not the result (``C``).
    sum_left, sum_right : int
        In one operand only (``U``, ``V``); 1 in contractions of valid networks'
        trees, kept for generality.
    """

    batch: int
    free_left: int
    free_right: int
    contracted: int
    sum_left: int = 1
    sum_right: int = 1

    @property
    def macs(self) -> int:
        """Multiply-accumulates."""
        return self.batch * self.free_left * self.free_right * self.contracted * self.sum_left * self.sum_right

    @property
    def words(self) -> tuple[int, int, int]:
        """Elements of (left operand, right operand, result)."""
        return (
            self.batch * self.free_left * self.contracted * self.sum_left,
            self.batch * self.free_right * self.contracted * self.sum_right,
            self.batch * self.free_left * self.free_right,
        )

    def label(self) -> str:
        """``G32 N64 M8 C16`` (sizes above 1 only; ``N1`` for a scalar)."""
        parts = [f"{k}{v}" for k, v in zip("GNMCUV", (self.batch, self.free_left, self.free_right, self.contracted,
                                                       self.sum_left, self.sum_right), strict=True) if v > 1]
        return " ".join(parts) or "N1"


def _canonical_from_sets(a: set[str], b: set[str], o: set[str], size: Mapping[str, int]) -> CanonicalContraction:
    g = n = m = c = u = v = 1
    for i in a | b | o:
        s = size[i]
        ia, ib, io = i in a, i in b, i in o
        if ia and ib:
            if io:
                g *= s
            else:
                c *= s
        elif ia:
            if io:
                n *= s
            else:
                u *= s
        elif ib:
            if io:
                m *= s
            else:
                v *= s
        else:  # an output index no operand has: a broadcast, costed as a free index of the left
            n *= s
    if (m, v) > (n, u):
        n, m, u, v = m, n, v, u
    return CanonicalContraction(g, n, m, c, u, v)


def canonical_contraction(c: Contraction) -> CanonicalContraction:
    """The canonical form of a contraction (what identical contractions share).

    Notes
    -----
    Indices with the same role (same membership in left, right, result) are merged
    into one dimension of the product size. Every data-space depends on all or none of
    a role's indices, so a mapping's tile sizes, reuse and spatial fan-out depend only
    on the per-level *products* of their factors: any factorisation of the separate
    indices has a merged counterpart with the same costs (the prime factors of the
    product can be dealt to either index), and interleaving another loop between two
    same-role loops never beats keeping them adjacent. The merged problem is smaller,
    so the mapper also searches it better. Reference: the reshape argument of
    Timeloop-style loop-nest analysis (Parashar et al., ISPASS 2019).
    """
    return _canonical_from_sets(set(c.left_indices), set(c.right_indices), set(c.out_indices), dict(c.sizes))


def canonical_problem(cc: CanonicalContraction, extra_dims: Iterable[str] = ()) -> Problem:
    """The Timeloop problem of a canonical contraction (a batched GEMM).

    ``Inputs[G,N,C,U] * Weights[G,C,M,V] -> Outputs[G,N,M]`` with the CNN-layer
    letters for the GEMM roles (``N`` batch rows, ``M`` output channels, ``C`` input
    channels); ``G``, ``U``, ``V`` appear only when larger than 1.

    Parameters
    ----------
    cc : CanonicalContraction
    extra_dims : iterable of str
        Further dimension names of bound 1 that no data-space uses (so that an
        architecture whose inline constraints name, e.g., ``R`` and ``S`` still parses).
    """
    bounds = {"G": cc.batch, "N": cc.free_left, "M": cc.free_right, "C": cc.contracted, "U": cc.sum_left,
              "V": cc.sum_right}
    present = [d for d in ("G", "N", "M", "C", "U", "V") if d in ("N", "M", "C") or bounds[d] > 1]

    def proj(dims: Sequence[str]) -> tuple[tuple[ProjectionTerm, ...], ...]:
        return tuple((ProjectionTerm(d),) for d in dims if d in present)

    extra = [d for d in dict.fromkeys(extra_dims) if d not in present]
    return Problem(
        name="contraction",
        dimensions=tuple(present + extra),
        bounds=tuple([int(bounds[d]) for d in present] + [1] * len(extra)),
        dataspaces=(
            DataSpace(INPUT_NAMES[0], proj(["G", "N", "C", "U"])),
            DataSpace(INPUT_NAMES[1], proj(["G", "C", "M", "V"])),
            DataSpace(INPUT_NAMES[2], proj(["G", "N", "M"]), read_write=True),
        ),
    )


# ---------------------------------------------------------------------------
# NumPy execution (for checks)
# ---------------------------------------------------------------------------


def execute_contractions(contractions: Sequence[Contraction], arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run contractions with :func:`numpy.einsum`; returns ``arrays`` plus every result.

    Parameters
    ----------
    contractions : sequence of Contraction
        In an executable order.
    arrays : mapping
        Name -> array for every operand not produced by an earlier step (shapes in the
        order of each tensor's indices).
    """
    env = dict(arrays)
    for c in contractions:
        sym = einsum_symbols(list(c.indices))
        expr = (f"{''.join(sym[i] for i in c.left_indices)},{''.join(sym[i] for i in c.right_indices)}"
                f"->{''.join(sym[i] for i in c.out_indices)}")
        env[c.result] = np.einsum(expr, env[c.left], env[c.right])
    return env


def random_arrays(net: TensorNetwork, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Standard-normal float64 arrays for every tensor of ``net`` (for tests)."""
    return {t.name: rng.standard_normal(net.shape(t.name)) for t in net.tensors}
