"""Hardware-aware contraction-path search: the path minimising latency, energy or EDP on an accelerator.

The cost of a path (a binary contraction tree) is the sum of its pairwise contractions'
costs, each from the mapper on the accelerator (:mod:`tnx_timeloop.search.stepcost`);
for training, a tree node also pays the two backward contractions it induces
(:func:`~tnx_timeloop.frontends.tensornet.backward_contractions`), so forward and
backward are optimised together. Searches (one signature, registered in
:data:`PATH_METHODS`):

* ``dp`` -- dynamic program over tensor subsets, every bipartition (outer products
  included): exact over all contraction trees under additive step costs;
* ``dp-connected`` -- the same over connected sub-networks only (no outer products),
  for larger networks: exact over trees without outer products;
* ``exhaustive`` -- enumerates every tree explicitly (small networks; checks the DP);
* ``mac-pruned`` -- the paper's heuristic: the ``k`` trees with the fewest MACs (an exact
  k-best DP), then the best of them on the hardware;
* ``auto`` -- ``dp`` up to :data:`DP_ALL_MAX_TENSORS` tensors, else ``dp-connected``.

Exact searches map lazily: every step starts at its lower bound; the search is run,
the steps of the best tree that are not mapped yet are mapped, and this repeats until
the best tree consists of mapped steps only. As lower bounds never exceed mapped
costs, that tree is optimal for the mapped costs of all steps -- without mapping most of
them (branch and bound with an admissible bound).

Baselines (:data:`BASELINES`): opt_einsum's ``optimal``, ``dp`` and ``greedy`` (FLOP
cost, hardware-blind) and cotengra's hyper-optimizer when installed, each scored on the
same hardware with the same per-step costs. :func:`compare_paths` reports every one and
the gain of the hardware-aware path over the FLOP-optimal one.

References
----------
J. Zhang et al., "Comprehensive Design Space Exploration for Tensorized Neural Network
Hardware Accelerators", arXiv:2511.17971 (2025). D. G. A. Smith and J. Gray,
"opt_einsum", JOSS 3(26), 753 (2018). J. Gray and S. Kourtis, "Hyper-optimized tensor
network contraction", Quantum 5, 410 (2021).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tnx_timeloop.errors import SearchError
from tnx_timeloop.frontends.tensornet import (
    CanonicalContraction,
    Contraction,
    SplitLowering,
    TensorNetwork,
    Tree,
    backward_contractions,
    canonical_contraction,
    forward_contractions,
    tree_from_linear,
    tree_to_linear,
    validate_tree,
)
from tnx_timeloop.search.stepcost import StepCost, StepCoster, objective_key

__all__ = [
    "ScoredStep",
    "PathResult",
    "PathComparison",
    "PathSpace",
    "PATH_METHODS",
    "BASELINES",
    "DP_ALL_MAX_TENSORS",
    "search_path",
    "baseline_tree",
    "score_tree",
    "compare_paths",
    "all_trees",
    "k_cheapest_trees",
    "tree_macs",
]

DP_ALL_MAX_TENSORS = 10
"""``auto`` uses the all-bipartitions DP up to this many tensors (3^n / 2 splits)."""

_PARETO_CAP = 64


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoredStep:
    """One contraction of a path with its cost on the hardware."""

    contraction: Contraction
    canonical: CanonicalContraction
    cost: StepCost

    def to_dict(self) -> dict[str, Any]:
        """JSON view: the einsum, phase, MACs, canonical shape and cost."""
        c = self.cost
        return {
            "einsum": self.contraction.einsum(),
            "phase": self.contraction.phase,
            "macs": self.contraction.macs,
            "canonical": self.canonical.label(),
            "cycles": c.cycles,
            "energy_pj": c.energy_pj,
            "utilization": c.utilization,
            "engine": c.engine,
            "at_bound": c.at_bound,
            "bound_gap": c.bound_gap,
        }


@dataclass(frozen=True, slots=True)
class PathResult:
    """A contraction path scored on the hardware.

    Attributes
    ----------
    method : str
        The search or baseline that produced it.
    network : str
    tree : Tree
        The contraction tree over tensor positions.
    steps : tuple of ScoredStep
        Forward contractions in execution order, then (training) the backward ones.
    cycles : int
        Total latency in cycles (steps run one after another).
    energy_pj : float
        Total energy in pJ.
    macs : int
        Total MACs.
    seconds : float
        Wall time of the search including mapping, in s.
    mapper_calls : int
        (step, engine) pairs mapped during this search (not counting ones mapped before).
    exact : bool
        Optimal for the per-step costs over the method's tree space.
    training : bool
    note : str
    """

    method: str
    network: str
    tree: Tree
    steps: tuple[ScoredStep, ...]
    cycles: int
    energy_pj: float
    macs: int
    seconds: float = 0.0
    mapper_calls: int = 0
    exact: bool = False
    training: bool = False
    note: str = ""

    @property
    def edp(self) -> float:
        """Energy-delay product in pJ x cycles."""
        return self.energy_pj * self.cycles

    @property
    def utilization(self) -> float:
        """MACs over MAC-unit cycles used, over all steps (0..1)."""
        denom = sum(s.contraction.macs / s.cost.utilization for s in self.steps if s.cost.utilization > 0)
        return self.macs / denom if denom > 0 else 0.0

    def key(self, objective: str) -> tuple[float, float]:
        """Sort key under ``objective``."""
        return objective_key(objective, self.cycles, self.energy_pj)

    def to_dict(self) -> dict[str, Any]:
        """JSON view (path in opt_einsum's format, steps, totals)."""
        return {
            "method": self.method,
            "network": self.network,
            "tree": _tree_json(self.tree),
            "path": [list(p) for p in tree_to_linear(self.tree, _leaf_count(self.tree))],
            "cycles": self.cycles,
            "energy_pj": self.energy_pj,
            "edp": self.edp,
            "macs": self.macs,
            "utilization": self.utilization,
            "seconds": self.seconds,
            "mapper_calls": self.mapper_calls,
            "exact": self.exact,
            "training": self.training,
            "note": self.note,
            "steps": [s.to_dict() for s in self.steps],
        }


def _leaf_count(tree: Tree) -> int:
    return 1 if isinstance(tree, int) else _leaf_count(tree[0]) + _leaf_count(tree[1])


def _tree_json(tree: Tree) -> Any:
    return tree if isinstance(tree, int) else [_tree_json(tree[0]), _tree_json(tree[1])]


@dataclass(frozen=True, slots=True)
class PathComparison:
    """The hardware-aware path beside the baselines, all on the same hardware.

    Attributes
    ----------
    network : str
    objective : str
    training : bool
    results : dict
        Method name -> :class:`PathResult` (``"hardware"`` plus every baseline).
    flop_optimal : str
        The key of the FLOP-optimal baseline in ``results``.
    """

    network: str
    objective: str
    training: bool
    results: dict[str, PathResult] = field(default_factory=dict)
    flop_optimal: str = "optimal"

    @property
    def hardware(self) -> PathResult:
        """The hardware-aware result."""
        return self.results["hardware"]

    def gain(self, metric: str | None = None) -> float:
        """FLOP-optimal path's cost / hardware-aware path's cost (> 1: the search helped).

        ``metric``: ``latency`` (default: the objective), ``energy`` or ``edp``.
        """
        metric = metric or self.objective
        f, h = self.results[self.flop_optimal], self.hardware
        values = {"latency": (f.cycles, h.cycles), "energy": (f.energy_pj, h.energy_pj), "edp": (f.edp, h.edp)}
        a, b = values[metric]
        return a / b if b else math.inf

    def to_dict(self) -> dict[str, Any]:
        """JSON view: every result and the gains."""
        return {
            "network": self.network,
            "objective": self.objective,
            "training": self.training,
            "flop_optimal": self.flop_optimal,
            "gain_latency": self.gain("latency"),
            "gain_energy": self.gain("energy"),
            "gain_edp": self.gain("edp"),
            "results": {k: v.to_dict() for k, v in self.results.items()},
        }


# ---------------------------------------------------------------------------
# the space of trees
# ---------------------------------------------------------------------------


class PathSpace:
    """Tensor subsets and their bipartitions, with each split's canonical contractions.

    Parameters
    ----------
    net : TensorNetwork
    training : bool
        Whether a tree node also pays its backward contractions.
    outer : bool
        Allow splits whose two sides share no index (outer products).

    Notes
    -----
    ``outer=True`` enumerates every bipartition of every subset: ``(3^n - 2^(n+1) + 1) / 2``
    splits for ``n`` tensors. ``outer=False`` keeps connected subsets and splits into
    two connected, index-sharing halves.
    """

    def __init__(self, net: TensorNetwork, *, training: bool = False, outer: bool = True) -> None:
        self.net = net
        self.low = SplitLowering(net)
        self.n = len(net.tensors)
        self.full = (1 << self.n) - 1
        self.training = training
        self.outer = outer
        adj = [0] * self.n
        holders = self.low.holder
        for m in holders.values():
            for k in range(self.n):
                if m >> k & 1:
                    adj[k] |= m & ~(1 << k)
        self.adj = adj
        self._conn: dict[int, bool] = {}
        self.subsets, self.splits = self._enumerate()
        self._node: dict[tuple[int, int], tuple[CanonicalContraction, ...]] = {}

    def connected(self, mask: int) -> bool:
        """Whether the tensors of ``mask`` form a connected sub-network."""
        hit = self._conn.get(mask)
        if hit is None:
            start = mask & -mask
            seen = start
            frontier = start
            while frontier:
                k = (frontier & -frontier).bit_length() - 1
                frontier &= frontier - 1
                new = self.adj[k] & mask & ~seen
                seen |= new
                frontier |= new
            hit = seen == mask
            self._conn[mask] = hit
        return hit

    def _enumerate(self) -> tuple[list[int], dict[int, list[tuple[int, int]]]]:
        subsets = [m for m in range(1, self.full + 1) if m & (m - 1)]
        if not self.outer:
            subsets = [m for m in subsets if self.connected(m)]
        subsets.sort(key=lambda m: (bin(m).count("1"), m))
        splits: dict[int, list[tuple[int, int]]] = {}
        for s in subsets:
            low = s & -s
            rest = s ^ low
            out = []
            sub = rest
            while True:
                a = sub | low
                b = s ^ a
                if b:
                    if self.outer or (self.connected(a) and self.connected(b) and self.adj_between(a, b)):
                        out.append((a, b))
                if sub == 0:
                    break
                sub = (sub - 1) & rest
            splits[s] = out
        return subsets, splits

    def adj_between(self, a: int, b: int) -> bool:
        """Whether some tensor of ``a`` shares an index with some tensor of ``b``."""
        m = a
        while m:
            k = (m & -m).bit_length() - 1
            m &= m - 1
            if self.adj[k] & b:
                return True
        return False

    def node_steps(self, a: int, b: int) -> tuple[CanonicalContraction, ...]:
        """Canonical contractions a tree node ``a . b`` costs (forward, then backward)."""
        key = (a, b) if a < b else (b, a)
        hit = self._node.get(key)
        if hit is None:
            hit = (self.low.forward_canonical(a, b),)
            if self.training:
                hit += self.low.backward_canonicals(a, b)
            self._node[key] = hit
        return hit

    def node_macs(self, a: int, b: int) -> int:
        """MACs of a tree node (forward, plus backward when training)."""
        return sum(cc.macs for cc in self.node_steps(a, b))

    def tree_steps(self, tree: Tree) -> list[CanonicalContraction]:
        """Every canonical contraction a tree costs."""
        out: list[CanonicalContraction] = []

        def visit(t: Tree) -> int:
            if isinstance(t, int):
                return 1 << t
            a, b = visit(t[0]), visit(t[1])
            out.extend(self.node_steps(a, b))
            return a | b

        visit(tree)
        return out


def all_trees(n: int) -> list[Tree]:
    """Every contraction tree over ``n`` tensors (``(2n - 3)!!`` of them; small ``n`` only)."""
    if n > 9:
        raise SearchError(f"exhaustive enumeration of {n} tensors means {_double_factorial(2 * n - 3):,} trees; use dp")
    memo: dict[int, list[Tree]] = {}

    def trees(mask: int) -> list[Tree]:
        if mask & (mask - 1) == 0:
            return [mask.bit_length() - 1]
        hit = memo.get(mask)
        if hit is not None:
            return hit
        low = mask & -mask
        rest = mask ^ low
        out: list[Tree] = []
        sub = rest
        while True:
            a = sub | low
            b = mask ^ a
            if b:
                for ta in trees(a):
                    for tb in trees(b):
                        out.append((ta, tb))
            if sub == 0:
                break
            sub = (sub - 1) & rest
        memo[mask] = out
        return out

    return trees((1 << n) - 1)


def _double_factorial(k: int) -> int:
    return math.prod(range(k, 0, -2)) if k > 0 else 1


# ---------------------------------------------------------------------------
# dynamic programs
# ---------------------------------------------------------------------------

CostFn = Callable[[CanonicalContraction], tuple[float, float]]


def _dp_scalar(space: PathSpace, cost: CostFn, objective: str) -> tuple[Tree, tuple[float, float]]:
    """Min-cost tree under an additive lexicographic key (latency or energy)."""
    swap = objective == "energy"
    best: dict[int, tuple[float, float]] = {1 << k: (0.0, 0.0) for k in range(space.n)}
    choice: dict[int, tuple[int, int]] = {}
    for s in space.subsets:
        top: tuple[float, float] | None = None
        pick = None
        for a, b in space.splits[s]:
            ka, kb = best.get(a), best.get(b)
            if ka is None or kb is None:
                continue
            c0, c1 = ka[0] + kb[0], ka[1] + kb[1]
            for cc in space.node_steps(a, b):
                cyc, en = cost(cc)
                if swap:
                    c0 += en
                    c1 += cyc
                else:
                    c0 += cyc
                    c1 += en
            if top is None or (c0, c1) < top:
                top, pick = (c0, c1), (a, b)
        if top is not None and pick is not None:
            best[s] = top
            choice[s] = pick
    if space.full not in best:
        raise SearchError(f"network {space.net.name!r} has no contraction tree without outer products; use method 'dp'")

    def build(m: int) -> Tree:
        if m & (m - 1) == 0:
            return m.bit_length() - 1
        a, b = choice[m]
        return (build(a), build(b))

    return build(space.full), best[space.full]


def _pareto_insert(front: list[tuple[float, float, Tree]], item: tuple[float, float, Tree]) -> None:
    e, c, _ = item
    for fe, fc, _t in front:
        if fe <= e and fc <= c:
            return
    front[:] = [f for f in front if not (e <= f[0] and c <= f[1])]
    front.append(item)


def _dp_pareto(space: PathSpace, cost: CostFn) -> tuple[Tree, tuple[float, float]]:
    """Min ``(sum E) x (sum C)`` tree via Pareto fronts of (energy, cycles) per subset."""
    fronts: dict[int, list[tuple[float, float, Tree]]] = {1 << k: [(0.0, 0.0, k)] for k in range(space.n)}
    for s in space.subsets:
        front: list[tuple[float, float, Tree]] = []
        for a, b in space.splits[s]:
            fa, fb = fronts.get(a), fronts.get(b)
            if not fa or not fb:
                continue
            ne = nc = 0.0
            for cc in space.node_steps(a, b):
                cyc, en = cost(cc)
                ne += en
                nc += cyc
            for ea, ca, ta in fa:
                for eb, cb, tb in fb:
                    _pareto_insert(front, (ea + eb + ne, ca + cb + nc, (ta, tb)))
        if front:
            front.sort(key=lambda f: f[0] * f[1])
            fronts[s] = front[:_PARETO_CAP]
    if space.full not in fronts:
        raise SearchError(f"network {space.net.name!r} has no contraction tree without outer products; use method 'dp'")
    e, c, tree = min(fronts[space.full], key=lambda f: (f[0] * f[1], f[1]))
    return tree, (e * c, c)


def _dp(space: PathSpace, cost: CostFn, objective: str) -> tuple[Tree, tuple[float, float]]:
    if objective == "edp":
        return _dp_pareto(space, cost)
    return _dp_scalar(space, cost, objective)


def k_cheapest_trees(space: PathSpace, k: int) -> list[tuple[int, Tree]]:
    """The ``k`` trees with the fewest MACs (exact k-best DP), as ``(macs, tree)`` ascending.

    Notes
    -----
    Keeps the ``k`` best (MACs, tree) labels per subset; a tree's MACs are additive over
    its nodes, so the k best of a subset combine k best of its halves. ``O(splits * k^2)``.
    """
    if k < 1:
        raise SearchError(f"k must be >= 1, got {k}")
    labels: dict[int, list[tuple[int, Tree]]] = {1 << j: [(0, j)] for j in range(space.n)}
    for s in space.subsets:
        cand: list[tuple[int, Tree]] = []
        for a, b in space.splits[s]:
            la, lb = labels.get(a), labels.get(b)
            if not la or not lb:
                continue
            node = space.node_macs(a, b)
            for ma, ta in la:
                for mb, tb in lb:
                    cand.append((ma + mb + node, (ta, tb)))
        if cand:
            cand.sort(key=lambda x: x[0])
            labels[s] = cand[:k]
    if space.full not in labels:
        raise SearchError(f"network {space.net.name!r} has no contraction tree without outer products")
    return labels[space.full]


def tree_macs(net: TensorNetwork, tree: Tree, *, training: bool = False) -> int:
    """MACs of a tree (forward, plus backward when ``training``)."""
    space_low = SplitLowering(net)
    total = 0

    def visit(t: Tree) -> int:
        nonlocal total
        if isinstance(t, int):
            return 1 << t
        a, b = visit(t[0]), visit(t[1])
        total += space_low.forward_canonical(a, b).macs
        if training:
            total += sum(cc.macs for cc in space_low.backward_canonicals(a, b))
        return a | b

    visit(tree)
    return total


# ---------------------------------------------------------------------------
# searches (one signature: space, coster, objective, **options -> (tree, exact, note))
# ---------------------------------------------------------------------------


def _mixed(coster: StepCoster) -> CostFn:
    def cost(cc: CanonicalContraction) -> tuple[float, float]:
        k = coster.known(cc)
        if k is not None:
            return (float(k.cycles), float(k.energy_pj))
        return coster.lower_bound(cc)

    return cost


def _lazy(space: PathSpace, coster: StepCoster, objective: str) -> Tree:
    cost = _mixed(coster)
    while True:
        tree, _ = _dp(space, cost, objective)
        missing = [cc for cc in dict.fromkeys(space.tree_steps(tree)) if coster.known(cc) is None]
        if not missing:
            return tree
        coster.costs(missing)


def _method_dp(space: PathSpace, coster: StepCoster, objective: str, **_: Any) -> tuple[Tree, bool, str]:
    return _lazy(space, coster, objective), True, "exact over all trees (outer products included)"


def _method_dp_connected(space: PathSpace, coster: StepCoster, objective: str, **_: Any) -> tuple[Tree, bool, str]:
    return _lazy(space, coster, objective), True, "exact over trees without outer products"


def _sum_cost(steps: Iterable[CanonicalContraction], cost: CostFn) -> tuple[float, float]:
    c = e = 0.0
    for cc in steps:
        a, b = cost(cc)
        c += a
        e += b
    return c, e


def _path_key(objective: str, cycles: float, energy: float) -> tuple[float, float]:
    return objective_key(objective, cycles, energy)


def _method_exhaustive(space: PathSpace, coster: StepCoster, objective: str, **_: Any) -> tuple[Tree, bool, str]:
    trees = all_trees(space.n)
    lb = coster.lower_bound
    ranked = sorted(((_path_key(objective, *_sum_cost(space.tree_steps(t), lb)), i) for i, t in enumerate(trees)))
    best_key: tuple[float, float] | None = None
    best_tree: Tree | None = None
    mixed = _mixed(coster)
    for bound, i in ranked:
        if best_key is not None and bound >= best_key:
            break
        tree = trees[i]
        steps = space.tree_steps(tree)
        if best_key is not None and _path_key(objective, *_sum_cost(steps, mixed)) >= best_key:
            continue
        coster.costs(steps)
        key = _path_key(objective, *_sum_cost(steps, mixed))
        if best_key is None or key < best_key:
            best_key, best_tree = key, tree
    assert best_tree is not None
    return best_tree, True, f"all {len(trees)} trees enumerated (bounded)"


def _method_mac_pruned(space: PathSpace, coster: StepCoster, objective: str, *, k: int = 8,
                       **_: Any) -> tuple[Tree, bool, str]:
    cands = k_cheapest_trees(space, k)
    coster.costs(cc for _, t in cands for cc in space.tree_steps(t))
    mixed = _mixed(coster)
    best = min(cands, key=lambda mt: _path_key(objective, *_sum_cost(space.tree_steps(mt[1]), mixed)))
    return best[1], False, f"best on hardware of the {len(cands)} trees with the fewest MACs"


PATH_METHODS: dict[str, Callable[..., tuple[Tree, bool, str]]] = {
    "dp": _method_dp,
    "dp-connected": _method_dp_connected,
    "exhaustive": _method_exhaustive,
    "mac-pruned": _method_mac_pruned,
}
"""Hardware-aware path searches by name (plus ``auto``)."""


def _resolve_method(method: str, n: int) -> tuple[str, bool]:
    key = method.lower()
    if key == "auto":
        key = "dp" if n <= DP_ALL_MAX_TENSORS else "dp-connected"
    if key not in PATH_METHODS:
        raise SearchError(f"unknown path method {method!r}; choose one of {['auto', *PATH_METHODS]}")
    outer = key in ("dp", "exhaustive", "mac-pruned") and n <= DP_ALL_MAX_TENSORS + 2
    if key == "dp" and n > DP_ALL_MAX_TENSORS + 2:
        raise SearchError(f"method 'dp' over every bipartition of {n} tensors is too large; use 'dp-connected'")
    return key, outer


# ---------------------------------------------------------------------------
# scoring and public entry points
# ---------------------------------------------------------------------------


def _contractions(net: TensorNetwork, tree: Tree, training: bool) -> list[Contraction]:
    fwd = forward_contractions(net, tree)
    return fwd + (backward_contractions(net, tree, fwd) if training else [])


def score_tree(net: TensorNetwork, tree: Tree, coster: StepCoster, *, training: bool = False,
               method: str = "given", seconds: float | None = None, exact: bool = False, note: str = "") -> PathResult:
    """Score a given contraction tree on the hardware (mapping any step not mapped yet).

    Parameters
    ----------
    net : TensorNetwork
    tree : Tree
    coster : StepCoster
    training : bool
        Add the backward contractions of the tree.
    method, exact, note : optional
        Recorded in the result.
    seconds : float, optional
        Time to record; default: the time this call takes.

    Returns
    -------
    PathResult
    """
    start = time.perf_counter()
    validate_tree(net, tree)
    calls0 = getattr(coster, "mapper_calls", 0)
    contractions = _contractions(net, tree, training)
    canon = [canonical_contraction(c) for c in contractions]
    costs = coster.costs(canon)
    steps = tuple(ScoredStep(c, cc, costs[cc]) for c, cc in zip(contractions, canon, strict=True))
    return PathResult(
        method=method,
        network=net.name,
        tree=tree,
        steps=steps,
        cycles=int(sum(s.cost.cycles for s in steps)),
        energy_pj=float(sum(s.cost.energy_pj for s in steps)),
        macs=int(sum(c.macs for c in contractions)),
        seconds=time.perf_counter() - start if seconds is None else seconds,
        mapper_calls=getattr(coster, "mapper_calls", 0) - calls0,
        exact=exact,
        training=training,
        note=note,
    )


def search_path(net: TensorNetwork, coster: StepCoster, *, method: str = "auto", training: bool = False,
                k: int = 8) -> PathResult:
    """The contraction path of ``net`` minimising ``coster.objective`` on the coster's hardware.

    Parameters
    ----------
    net : TensorNetwork
    coster : StepCoster
        Per-step costs (e.g. :class:`~tnx_timeloop.search.stepcost.MapperCoster`); its
        ``objective`` (``latency``, ``energy``, ``edp``) is the path objective.
    method : str
        One of :data:`PATH_METHODS` or ``auto``.
    training : bool
        Optimise forward + backward (the training graph of each tree).
    k : int
        Trees kept by ``mac-pruned``.

    Returns
    -------
    PathResult

    Raises
    ------
    SearchError
        For an unknown method, or a network too large for the method.

    Notes
    -----
    ``dp`` costs ``O(3^n)`` split evaluations per round for ``n`` tensors plus the mapper
    calls for the steps on successive best trees; rounds end when the best tree's steps
    are all mapped.
    """
    start = time.perf_counter()
    calls0 = getattr(coster, "mapper_calls", 0)
    key, outer = _resolve_method(method, len(net.tensors))
    space = PathSpace(net, training=training, outer=outer)
    tree, exact, note = PATH_METHODS[key](space, coster, coster.objective, k=k)
    result = score_tree(net, tree, coster, training=training, method=key, exact=exact, note=note)
    return _with(result, seconds=time.perf_counter() - start, mapper_calls=getattr(coster, "mapper_calls", 0) - calls0)


def _clearly_less(a: tuple[float, float], b: tuple[float, float], rel: float = 1e-9) -> bool:
    """``a < b`` lexicographically, ignoring differences within floating-point summation noise."""
    if a[0] < b[0] * (1 - rel):
        return True
    return a[0] <= b[0] * (1 + rel) and a[1] < b[1] * (1 - rel)


def _with(r: PathResult, **changes: Any) -> PathResult:
    values = {f: getattr(r, f) for f in r.__dataclass_fields__}
    values.update(changes)
    return PathResult(**values)


BASELINES = ("optimal", "dp", "greedy", "cotengra")
"""Hardware-blind baselines: opt_einsum's ``optimal``, ``dp``, ``greedy`` (FLOPs) and cotengra."""


def baseline_tree(net: TensorNetwork, name: str, *, seed: int = 0) -> Tree:
    """The contraction tree a hardware-blind optimizer picks (minimising FLOPs).

    Parameters
    ----------
    name : str
        ``optimal``, ``dp``, ``greedy`` or ``branch-2`` (opt_einsum), or ``cotengra``
        (its hyper-optimizer, 32 trials, seeded random sampler).

    Raises
    ------
    SearchError
        For an unknown name, or ``cotengra`` when it is not installed.
    """
    import opt_einsum as oe

    expr, shapes = net.einsum_classic()
    key = name.lower()
    if key == "cotengra":
        try:
            import cotengra as ctg
        except ImportError:
            raise SearchError("cotengra is not installed; pip install cotengra (optional extra)") from None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = ctg.HyperOptimizer(max_repeats=32, minimize="flops", optlib="random", parallel=False,
                                     progbar=False, optlib_opts={"seed": seed})
            path, _ = oe.contract_path(expr, *shapes, shapes=True, optimize=opt)
    elif key in ("optimal", "dp", "greedy", "branch-2", "branch-all", "random-greedy"):
        path, _ = oe.contract_path(expr, *shapes, shapes=True, optimize=key)
    else:
        raise SearchError(f"unknown baseline {name!r}; choose one of {list(BASELINES) + ['branch-2', 'branch-all']}")
    return tree_from_linear([tuple(p) for p in path], len(net.tensors))


def compare_paths(net: TensorNetwork, coster: StepCoster, *, method: str = "auto", training: bool = False,
                  baselines: Sequence[str] = ("optimal", "dp", "greedy", "cotengra"), k: int = 8,
                  seed: int = 0) -> PathComparison:
    """The hardware-aware path and the hardware-blind baselines, scored on the same hardware.

    Parameters
    ----------
    net : TensorNetwork
    coster : StepCoster
    method : str
        The hardware-aware search (see :func:`search_path`).
    training : bool
    baselines : sequence of str
        Names from :data:`BASELINES`; ``cotengra`` is skipped when not installed. The
        FLOP-optimal reference is ``optimal`` (``dp`` for more than 10 tensors).
    k : int
        Trees kept by ``mac-pruned``.
    seed : int
        Seed of the cotengra baseline.

    Returns
    -------
    PathComparison
        ``results["hardware"]`` is never worse than any baseline: baselines lie in the
        exact searches' tree space; for ``dp-connected`` and ``mac-pruned`` a better
        baseline replaces the result (said in its note).
    """
    results: dict[str, PathResult] = {}
    hw = search_path(net, coster, method=method, training=training, k=k)
    names = list(dict.fromkeys(b.lower() for b in baselines))
    flop = "optimal"
    if len(net.tensors) > 10 and "optimal" in names:
        names[names.index("optimal")] = "dp"
    if "optimal" not in names:
        flop = "dp" if "dp" in names else (names[0] if names else "")
    for name in names:
        if name == "cotengra":
            try:
                import cotengra  # noqa: F401
            except ImportError:
                continue
        t0 = time.perf_counter()
        tree = baseline_tree(net, name, seed=seed)
        path_s = time.perf_counter() - t0
        calls0 = getattr(coster, "mapper_calls", 0)
        r = score_tree(net, tree, coster, training=training, method=name,
                       note=f"hardware-blind (FLOPs), path found in {path_s * 1e3:.1f} ms")
        results[name] = _with(r, seconds=path_s + r.seconds, mapper_calls=getattr(coster, "mapper_calls", 0) - calls0)
    obj = coster.objective
    better = [r for r in results.values() if _clearly_less(r.key(obj), hw.key(obj))]
    if better:
        b = min(better, key=lambda r: r.key(obj))
        hw = _with(hw, tree=b.tree, steps=b.steps, cycles=b.cycles, energy_pj=b.energy_pj, macs=b.macs,
                   note=f"{hw.note}; the {b.method} baseline was better and is taken")
    results = {"hardware": hw, **results}
    if flop not in results:
        flop = "hardware"
    return PathComparison(network=net.name, objective=obj, training=training, results=results, flop_optimal=flop)
