"""Tensor networks: constructors, validation errors naming tensor and index, graphs, einsum parsing, trees."""

from __future__ import annotations

import numpy as np
import pytest

from tnx_timeloop.errors import SpecError, SpecErrors
from tnx_timeloop.frontends.einsum import parse_einsum
from tnx_timeloop.frontends.tensornet import (
    cp_linear,
    dense_linear,
    from_einsum,
    gradient_networks,
    tensor_ring,
    tree_from_linear,
    tree_leaves,
    tree_to_linear,
    tt,
    tt_linear,
    ttm,
    ttm_from_core_shapes,
    tucker_linear,
)


def test_ttm_structure_and_parameters():
    net = ttm([4, 8, 8, 4], [8, 4, 4, 8], 16, 32)
    assert net.names == ("x", "G1", "G2", "G3", "G4")
    assert net.tensor("G2").indices == ("r1", "i2", "j2", "r2")
    assert net.shape("G1") == (8, 4, 16) and net.shape("G4") == (16, 8, 4)
    assert net.output == ("b", "i1", "i2", "i3", "i4")
    # 8*4*16 + 16*4*8*16 * 2 + 16*8*4
    assert net.parameters == 512 + 2 * 8192 + 512
    assert net.dense_shape == (32, 1024, 1024)
    assert net.input_names == ("x",)


@pytest.mark.parametrize("builder, n_tensors", [
    (lambda: tt_linear([4, 4], [2, 3], [3, 5, 2], 7), 5),
    (lambda: tucker_linear([4, 4], [2, 3], 2, 7), 6),
    (lambda: cp_linear([4, 4], [2, 3], 5, 7), 5),
    (lambda: tensor_ring([4, 4, 2], [2, 3, 2], [2, 3, 4], 7), 4),
    (lambda: tt([3, 4, 5], [2, 2]), 3),
    (lambda: tt([3, 4, 5], [2, 2], batch=6), 4),
    (lambda: dense_linear(12, 6, 5), 2),
])
def test_formats_build_valid_networks(builder, n_tensors):
    net = builder()
    assert len(net.tensors) == n_tensors
    g = net.graph
    assert {d["kind"] for _, d in g.nodes(data=True)} <= {"tensor", "output", "hyper"}
    assert g.number_of_nodes() >= n_tensors + 1


def test_cp_rank_is_a_hyper_index_and_graph_has_a_hyper_node():
    net = cp_linear([4, 4], [2, 3], 5, 7)
    assert net.hyper == frozenset({"r"})
    g = net.graph
    assert g.nodes["#r"]["kind"] == "hyper"
    assert g.degree("#r") == 4


def test_graph_edges_are_shared_indices():
    net = ttm([4, 4], [2, 2], 3, 5)
    g = net.graph
    assert g.has_edge("G1", "G2", key="r1")
    assert g.has_edge("x", "G1", key="j1")
    assert g.has_edge("x", "y", key="b")


def test_sizes_that_disagree_name_tensor_and_index():
    with pytest.raises(SpecError) as err:
        from_einsum("x[b,j] * W[i,j] -> y[b,i]", shapes=[(4, 3), (5, 8)])
    msg = str(err.value)
    assert "'j'" in msg and "'W'" in msg and "'x'" in msg and "8" in msg and "3" in msg


def test_undeclared_hyper_index_names_index_and_tensors():
    with pytest.raises(SpecErrors) as err:
        from_einsum("q[b,h,s,e] * k[b,h,t,e] -> a[b,h,s,t]", dict(b=2, h=2, s=3, t=3, e=4))
    msg = str(err.value)
    assert "index 'b' appears in 3 places" in msg and "'q'" in msg and "'k'" in msg and "'a'" in msg
    assert "index 'h'" in msg
    net = from_einsum("q[b,h,s,e] * k[b,h,t,e] -> a[b,h,s,t]", dict(b=2, h=2, s=3, t=3, e=4), hyper=["b", "h"])
    assert net.output_name == "a"


def test_ranks_that_do_not_chain():
    with pytest.raises(SpecError, match=r"ranks do not chain: core G1 ends with rank r1 = 8 but core G2 starts with rank r1 = 16"):
        ttm_from_core_shapes([(4, 4, 8), (16, 4, 4, 8), (8, 4, 4)], 3)
    net = ttm_from_core_shapes([(4, 4, 8), (8, 4, 4, 2), (2, 4, 4)], 3)
    assert net.size_of["r1"] == 8 and net.size_of["r2"] == 2


@pytest.mark.parametrize("call, text", [
    (lambda: ttm([4, 4], [4, 4, 4], 3, 2), "in_modes has 2 modes but out_modes has 3"),
    (lambda: ttm([4, 4, 4], [4, 4, 4], [3], 2), "needs 2 ranks, got 1"),
    (lambda: ttm([4, 4], [4, 4], 0, 2), "ranks are integers >= 1"),
    (lambda: ttm([4, 4], [4, 4], 2, 0), "batch"),
    (lambda: tensor_ring([4, 4], [4, 4], [2], 2), "needs 2 ranks"),
    (lambda: from_einsum("x[b,j] * W[i,j] -> y[b,i]", dict(b=2, j=3)), "index 'i' of tensor 'W' has no size"),
    (lambda: from_einsum("x[b,j,k] * W[i,j] -> y[b,i]", dict(b=2, j=3, i=2, k=2)), "index 'k' appears only in tensor 'x'"),
    (lambda: from_einsum("x[b,j] * W[i,j] -> y[b,z]", dict(b=2, j=3, i=2)), "output index 'z' appears in no operand"),
    (lambda: from_einsum("x[b,b] * W[b,i] -> y[i]", dict(b=2, i=2)), "repeats index 'b'"),
    (lambda: from_einsum("x[b,j] -> y[b,j]", dict(b=2, j=3)), "at least two tensors"),
    (lambda: from_einsum("ab,bc->ac", dict(a=2, b=3, c=4, d=5)), "size given for index 'd'"),
])
def test_bad_input_errors(call, text):
    with pytest.raises(SpecError) as err:
        call()
    assert text in str(err.value)


def test_parse_einsum_forms():
    p = parse_einsum("ij,jk->ik")
    assert p.operands == (("T0", ("i", "j")), ("T1", ("j", "k"))) and p.output == ("i", "k")
    assert parse_einsum("ij,jk").output == ("i", "k")
    p = parse_einsum("x[b, j1] * W1[i1, j1] -> out[b, i1]")
    assert p.operands[1] == ("W1", ("i1", "j1")) and p.output_name == "out"
    with pytest.raises(SpecError, match="more than one"):
        parse_einsum("a->b->c")
    with pytest.raises(SpecError, match="invalid index name"):
        parse_einsum("x[b * W[i] -> y[b]")
    with pytest.raises(SpecError, match="cannot read operand 'W'"):
        parse_einsum("x[b] * W -> y[b]")


def test_tree_round_trip_with_opt_einsum_format():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 7):
        items = list(range(n))
        path = []
        while len(items) > 1:
            i, j = sorted(rng.choice(len(items), size=2, replace=False))
            path.append((int(i), int(j)))
            a, b = items.pop(j), items.pop(i)
            items.append((b, a))
        tree = tree_from_linear(path, n)
        assert sorted(tree_leaves(tree)) == list(range(n))
        assert tree_from_linear(tree_to_linear(tree, n), n) == tree


def test_gradient_networks_are_valid():
    net = ttm([2, 3, 2], [3, 2, 2], [2, 3], 4, input_grad=False)
    grads = gradient_networks(net)
    assert set(grads) == {"G1", "G2", "G3"}
    assert grads["G2"].output == ("r1", "i2", "j2", "r2")
    assert "dy" in grads["G2"].names and "G2" not in grads["G2"].names
