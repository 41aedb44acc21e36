"""Lowering pairwise contractions to Timeloop problems: MACs, projections, canonical forms, lower bounds."""

from __future__ import annotations

import numpy as np
import pytest

from tests.tn.tn_helpers import mini_arch, tiny_arch
from tnx_timeloop import api
from tnx_timeloop.frontends.tensornet import (
    CanonicalContraction,
    canonical_contraction,
    canonical_problem,
    cp_linear,
    forward_contractions,
    from_einsum,
    lower_contraction,
    training_contractions,
    ttm,
)
from tnx_timeloop.mapper import MapSpace, parse_constraints, search_mappings
from tnx_timeloop.model.batch import MappingBatch
from tnx_timeloop.model.evaluate import evaluate_batch
from tnx_timeloop.search.paths import all_trees
from tnx_timeloop.search.stepcost import lower_bound, make_engine, max_parallelism
from tnx_timeloop.spec.problem import parse_problem, problem_to_dict
from tnx_timeloop.testing import random_mappings


def _einsum_macs(c) -> int:
    """MACs counted independently: with all-ones operands each output element sums its products."""
    s = dict(c.sizes)
    from tnx_timeloop.frontends.einsum import einsum_symbols

    sym = einsum_symbols(list(c.indices))
    a = np.ones([s[i] for i in c.left_indices])
    b = np.ones([s[i] for i in c.right_indices])
    expr = f"{''.join(sym[i] for i in c.left_indices)},{''.join(sym[i] for i in c.right_indices)}->{''.join(sym[i] for i in c.out_indices)}"
    return int(np.einsum(expr, a, b).sum())


def test_lowered_contractions_evaluate_to_the_einsum_macs():
    arch = tiny_arch()
    net = ttm([2, 3, 2], [2, 2, 3], [2, 3], 4)
    steps = training_contractions(net, all_trees(len(net.tensors))[4])
    hyper = from_einsum("q[n,h,s,e] * k[n,h,t,e] -> a[n,h,s,t]", dict(n=2, h=2, s=3, t=2, e=2), hyper=["n", "h"])
    steps += forward_contractions(hyper, (0, 1))
    for c in steps:
        p = lower_contraction(c)
        assert p.dimensions == c.indices
        assert [ds.name for ds in p.dataspaces] == ["Inputs", "Weights", "Outputs"] and p.dataspaces[2].read_write
        assert p.dataspaces[0].dimensions == c.left_indices
        r = search_mappings(arch, p, budget=300, objective="latency", seed=0)
        rep = r.best_report
        assert rep.valid[0]
        expected = _einsum_macs(c)
        assert rep.macs == expected == c.macs
        # independently of `macs`: temporal iterations x MAC units in use
        assert int(rep.compute_cycles[0]) * int(rep.compute_utilized_instances[0]) == expected
        cp = canonical_problem(canonical_contraction(c))
        assert cp.macs == expected


def test_lowered_problem_round_trips_through_timeloop_yaml():
    c = forward_contractions(ttm([2, 3], [2, 2], 3, 4), ((0, 1), 2))[0]
    p = lower_contraction(c)
    assert parse_problem(problem_to_dict(p)) == p


def test_identical_contractions_share_a_canonical_key():
    net = ttm([4, 4, 4, 4], [4, 4, 4, 4], 8, 16)
    fwd = forward_contractions(net, ((((0, 1), 2), 3), 4))
    # the middle steps contract the same shapes under different index names
    keys = [canonical_contraction(c) for c in fwd]
    assert keys[1] == keys[2]
    # renaming and reordering indices does not change the key
    a = from_einsum("x[b,j,k] * W[i,j,k] -> y[b,i]", dict(b=8, j=4, k=2, i=3))
    b = from_einsum("W2[u,v,m] * x2[n,v,u] -> z[m,n]", dict(n=8, u=4, v=2, m=3))
    assert canonical_contraction(forward_contractions(a, (0, 1))[0]) == canonical_contraction(forward_contractions(b, (0, 1))[0])
    assert canonical_contraction(forward_contractions(a, (0, 1))[0]) == CanonicalContraction(1, 8, 3, 8)


def test_hyper_index_is_a_batch_dimension():
    net = cp_linear([2, 3], [3, 2], 4, 5)
    fwd = forward_contractions(net, ((((0, 1), 2), 3), 4))
    assert canonical_contraction(fwd[0]) == CanonicalContraction(1, 15, 4, 2)  # x . B1: r is B1's free index
    # (x . B1) . B2: r is in both and still needed by A1, A2 -> a batch dimension; j2 contracted
    assert canonical_contraction(fwd[1]) == CanonicalContraction(4, 5, 1, 3)


def test_merging_same_role_indices_keeps_the_optimal_cost():
    """Exhaustive mapping of a contraction and of its merged (canonical) form reach the same best cost."""
    arch = mini_arch()
    c = forward_contractions(from_einsum("x[b,j,k] * W[j] -> y[b,k]", dict(b=2, j=4, k=2)), (0, 1))[0]
    assert canonical_contraction(c) == CanonicalContraction(1, 4, 1, 4)  # b and k merge into N
    full = search_mappings(arch, lower_contraction(c), algorithm="exhaustive", budget=10**7, objective=["latency", "energy"])
    merged = search_mappings(arch, canonical_problem(canonical_contraction(c)), algorithm="exhaustive", budget=10**7,
                             objective=["latency", "energy"])
    assert full.optimal and merged.optimal
    assert int(full.best_report.cycles[0]) == int(merged.best_report.cycles[0])
    assert float(full.best_report.energy_pj[0]) == pytest.approx(float(merged.best_report.energy_pj[0]), rel=1e-12)


ARCHS = [("tt-kernel", {"engine": "gemm", "rows": 4, "cols": 8}), ("tt-kernel", {"engine": "tt", "dram_bw": 4}),
         ("simple-output-stationary", {})]


@pytest.mark.parametrize("name, variables", ARCHS, ids=lambda x: str(x))
def test_lower_bound_holds_for_random_valid_mappings(name, variables):
    arch = api.load_spec([f"arch/single-core/{name}.yaml"], variables=variables).arch
    eng = make_engine(arch)
    rng = np.random.default_rng(5)
    checked = 0
    for _ in range(12):
        cc = CanonicalContraction(*[int(x) for x in rng.choice([1, 2, 3, 4, 5, 6, 8, 16, 32], size=4)])
        p = canonical_problem(cc, eng.extra_dims)
        space = MapSpace(arch, p, parse_constraints(arch, p, ()))
        batches = [space.sample(rng, 300), MappingBatch.from_mappings(random_mappings(arch, p, 60, seed=int(rng.integers(1 << 30))))]
        lb_c, lb_e = lower_bound(eng, cc)
        for b in batches:
            r = evaluate_batch(arch, p, b, eng.energy)
            v = r.valid
            checked += int(v.sum())
            assert (r.cycles[v] >= lb_c).all()
            assert (r.energy_pj[v] >= lb_e * (1 - 1e-12)).all()
            assert (r.compute_utilized_instances[v] <= max_parallelism(arch, tuple(x for x in (cc.batch, cc.free_left, cc.free_right, cc.contracted) if x > 1) or (1,))).all()
    assert checked > 200
