"""Training graphs: the backward contractions (sharing forward intermediates) give the exact gradients."""

from __future__ import annotations

import numpy as np
import pytest

from tnx_timeloop.frontends.tensornet import (
    backward_contractions,
    cp_linear,
    execute_contractions,
    forward_contractions,
    from_einsum,
    gradient_networks,
    random_arrays,
    tensor_ring,
    training_contractions,
    tt_linear,
    ttm,
    tucker_linear,
)
from tnx_timeloop.search.paths import all_trees

NETWORKS = {
    "ttm": lambda: ttm([2, 3, 2], [3, 2, 2], [2, 3], 4),
    "tt": lambda: tt_linear([2, 3], [3, 2], [2, 3, 2], 4),
    "tucker": lambda: tucker_linear([2, 3], [3, 2], [2, 2, 3, 2], 4),
    "cp": lambda: cp_linear([2, 3], [3, 2], 3, 4),
    "tr": lambda: tensor_ring([2, 3, 2], [3, 2, 2], [2, 3, 2], 4),
    "attention": lambda: from_einsum("q[n,h,s,e] * k[n,h,t,e] -> a[n,h,s,t]", dict(n=2, h=2, s=3, t=4, e=3),
                                      hyper=["n", "h"], inputs=["q", "k"]),
}


def _loss(net, arrays, w):
    expr, _ = net.einsum_classic()
    y = np.einsum(expr, *[arrays[t.name] for t in net.tensors])
    return float((y * w).sum())


def _fd_gradient(net, arrays, w, name):
    """Central finite differences of L = sum(y * w), entry by entry (L is linear in each tensor)."""
    base = {k: v.copy() for k, v in arrays.items()}
    g = np.zeros_like(arrays[name])
    eps = 1e-3
    for idx in np.ndindex(g.shape):
        plus = {**base, name: base[name].copy()}
        minus = {**base, name: base[name].copy()}
        plus[name][idx] += eps
        minus[name][idx] -= eps
        g[idx] = (_loss(net, plus, w) - _loss(net, minus, w)) / (2 * eps)
    return g


@pytest.mark.parametrize("fmt", sorted(NETWORKS))
def test_backward_contractions_equal_finite_differences(fmt):
    net = NETWORKS[fmt]()
    rng = np.random.default_rng(7)
    arrays = random_arrays(net, rng)
    w = rng.standard_normal(tuple(net.size_of[i] for i in net.output))
    trees = all_trees(len(net.tensors))
    for tree in [trees[0], trees[len(trees) // 2], trees[-1]]:
        steps = training_contractions(net, tree)
        env = execute_contractions(steps, {**arrays, "d" + net.output_name: w})
        expr, _ = net.einsum_classic()
        np.testing.assert_allclose(env[net.output_name], np.einsum(expr, *[arrays[t.name] for t in net.tensors]),
                                   rtol=1e-12, atol=1e-12)
        for t in net.tensors:
            assert t.requires_grad
            np.testing.assert_allclose(env["d" + t.name], _fd_gradient(net, arrays, w, t.name), rtol=1e-7, atol=1e-7)


def test_backward_reuses_forward_intermediates_and_skips_unneeded_gradients():
    net = ttm([2, 3, 2], [3, 2, 2], [2, 3], 4, input_grad=False)
    tree = ((((0, 1), 2), 3))
    fwd = forward_contractions(net, tree)
    bwd = backward_contractions(net, tree, fwd)
    produced = {c.result for c in fwd}
    used = {c.right for c in bwd}
    assert used & produced  # forward intermediates are operands of backward steps
    assert "dx" not in {c.result for c in bwd}
    assert {c.result for c in bwd} >= {"dG1", "dG2", "dG3"}
    # each tree node costs at most two backward contractions; the leaf x needs none
    assert len(bwd) == 2 * len(fwd) - 1


def test_gradient_networks_match_backward_steps():
    net = tucker_linear([2, 3], [3, 2], 2, 4)
    rng = np.random.default_rng(3)
    arrays = random_arrays(net, rng)
    w = rng.standard_normal(tuple(net.size_of[i] for i in net.output))
    tree = all_trees(len(net.tensors))[5]
    env = execute_contractions(training_contractions(net, tree), {**arrays, "dy": w})
    for name, gnet in gradient_networks(net).items():
        expr, _ = gnet.einsum_classic()
        ops = [w if t.name == "dy" else arrays[t.name] for t in gnet.tensors]
        np.testing.assert_allclose(np.einsum(expr, *ops), env["d" + name], rtol=1e-10, atol=1e-10)
