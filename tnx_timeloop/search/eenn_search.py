"""Constrained multi-objective search of early-exit designs (NSGA-II, seeded).

Decision variables (integers), for ``n`` candidate exits and ``L`` backbone layers:

* ``n`` exit switches (0/1): the number and placement of exits;
* ``n`` head-size indices (one per candidate, used when it is switched on);
* the backbone precision, the exit-head precision and the confidence threshold;
* ``L`` core indices: the layer-to-core allocation (a head runs on its attach layer's core).

Objectives (minimised): ``-accuracy`` (from the exit statistics), EDP (expected energy x
delay, :class:`~tnx_timeloop.search.eenn.DesignCost`) and the exit overhead (share of
the expected energy spent in exit heads). Constraints: minimum accuracy, memory per
core, a bound on the worst-case (all inputs to the end) single-input latency.

The initial population holds the static designs (no exits) of every precision on the
balanced contiguous splits of the backbone over 1..n cores, and random designs whose
allocation is the contiguous split balancing their expected work. pymoo's NSGA-II runs
with two-point crossover (it keeps runs of consecutive layers on one core together)
and a mutation that resets a few design variables and moves the boundary between
two cores' runs of layers by a few layers (a per-layer core change would mostly add
NoC transfers). After the last generation, every design on the (accuracy, EDP) front
is also tried with the allocation balancing its expected work
(:meth:`~tnx_timeloop.search.eenn.EENNEvaluator.balanced_allocation`; a memetic
polish). The seed reproduces the result exactly. Every evaluated design is archived;
the reported Pareto front is the non-dominated set of all feasible evaluated designs,
and each static baseline is the lowest-EDP design without exits at that precision over
the balanced contiguous splits and everything the search evaluated.

pymoo and matplotlib are optional: they are imported when a search runs or a plot is
drawn.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tnx_timeloop.errors import SearchError
from tnx_timeloop.search.eenn import Design, DesignCost, EENNEvaluator

__all__ = [
    "SearchSettings",
    "ParetoPoint",
    "EENNSearchResult",
    "DesignEncoding",
    "search_eenn",
    "pareto_mask",
    "format_pareto_table",
    "plot_pareto",
]

ACCURACY_SLACKS = (0.01, 0.03)  # accuracy losses accepted when comparing with a static baseline (1 and 3 points)


@dataclass(frozen=True, slots=True)
class SearchSettings:
    """Settings of :func:`search_eenn`.

    Attributes
    ----------
    population, generations : int
        NSGA-II population size and number of generations.
    seed : int
        Seed of the initial population and of pymoo.
    min_accuracy : float or None
        Constraint: expected accuracy >= this.
    latency_bound_cycles : float or None
        Constraint: worst-case single-input latency <= this, in cycles.
    """

    population: int = 64
    generations: int = 60
    seed: int = 0
    min_accuracy: float | None = None
    latency_bound_cycles: float | None = None


@dataclass(frozen=True, slots=True)
class ParetoPoint:
    """A design and its cost."""

    design: Design
    cost: DesignCost

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able view."""
        d = self.design
        return {
            "exits": list(d.exits),
            "head_sizes": list(d.head_sizes),
            "backbone": d.backbone,
            "exit_precision": d.exit_precision,
            "threshold_index": d.threshold_index,
            "allocation": list(d.allocation),
            **self.cost.to_dict(),
        }


@dataclass
class EENNSearchResult:
    """What a search found.

    Attributes
    ----------
    pareto : list of ParetoPoint
        Non-dominated feasible designs (accuracy, EDP, exit overhead), by decreasing accuracy.
    baselines : dict
        Precision -> the best static design (no exits).
    reductions : list of dict
        EDP reductions of the best designs against the static baselines.
    evaluations : int
        Designs evaluated (distinct).
    seconds : float
        Wall time of the search (mapping excluded).
    thresholds : tuple of float
        The statistics' thresholds (to print a design's threshold).
    provenance : str
        The statistics' provenance (kind and text).
    """

    pareto: list[ParetoPoint]
    baselines: dict[str, ParetoPoint]
    reductions: list[dict[str, Any]]
    evaluations: int
    seconds: float
    settings: SearchSettings
    thresholds: tuple[float, ...]
    provenance: str
    network: str
    platform: str
    archive: list[ParetoPoint] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able view (the archive is left out)."""
        s = self.settings
        return {
            "network": self.network,
            "platform": self.platform,
            "statistics_provenance": self.provenance,
            "settings": {"population": s.population, "generations": s.generations, "seed": s.seed,
                         "min_accuracy": s.min_accuracy, "latency_bound_cycles": s.latency_bound_cycles},
            "thresholds": list(self.thresholds),
            "evaluations": self.evaluations,
            "seconds": round(self.seconds, 3),
            "baselines": {p: pt.to_dict() for p, pt in self.baselines.items()},
            "reductions": self.reductions,
            "pareto": [pt.to_dict() for pt in self.pareto],
        }


class DesignEncoding:
    """Integer vectors <-> :class:`~tnx_timeloop.search.eenn.Design` for one evaluator.

    Layout: ``[exit on/off x n | head size x n | backbone | exit precision | threshold | core x L]``.
    """

    def __init__(self, ev: EENNEvaluator) -> None:
        self.ev = ev
        net = ev.network
        self.exits = net.exits
        self.n = len(net.exits)
        self.n_layers = len(net.layers)
        self.n_var = 2 * self.n + 3 + self.n_layers
        xu = [1] * self.n + [len(e.sizes) - 1 for e in net.exits]
        xu += [len(ev.precisions) - 1, len(ev.exit_precisions) - 1, len(ev.stats.thresholds) - 1]
        xu += [ev.platform.n_cores - 1] * self.n_layers
        self.xl = np.zeros(self.n_var, dtype=np.int64)
        self.xu = np.array(xu, dtype=np.int64)

    def decode(self, x: Sequence[float]) -> Design:
        """The design of a vector (values are rounded and clipped to the bounds)."""
        v = np.clip(np.rint(np.asarray(x, dtype=np.float64)).astype(np.int64), self.xl, self.xu)
        n = self.n
        on = [i for i in range(n) if v[i] == 1]
        exits = tuple(self.exits[i].name for i in on)
        sizes = tuple(self.exits[i].sizes[int(v[n + i])] for i in on)
        b = self.ev.precisions[int(v[2 * n])]
        e = self.ev.exit_precisions[int(v[2 * n + 1])]
        t = int(v[2 * n + 2])
        alloc = tuple(int(a) for a in v[2 * n + 3:])
        return Design(exits, sizes, b, e, t, alloc)

    def encode(self, d: Design) -> np.ndarray:
        """The vector of a design (unused head sizes are 0)."""
        v = np.zeros(self.n_var, dtype=np.int64)
        names = [e.name for e in self.exits]
        for name, size in zip(d.exits, d.head_sizes, strict=True):
            i = names.index(name)
            v[i] = 1
            v[self.n + i] = self.exits[i].sizes.index(size)
        v[2 * self.n] = self.ev.precisions.index(d.backbone)
        v[2 * self.n + 1] = self.ev.exit_precisions.index(d.exit_precision)
        v[2 * self.n + 2] = d.threshold_index
        v[2 * self.n + 3:] = d.allocation
        return v


def pareto_mask(objectives: np.ndarray) -> np.ndarray:
    """bool (N,): rows of ``objectives`` (N, K; minimised) that no other row dominates.

    Notes
    -----
    Rows are visited in lexicographic order, where no row can dominate an earlier
    one, and each is compared with the non-dominated rows found so far: O(N F K)
    for a front of F rows. Identical rows are all kept.

    Examples
    --------
    >>> pareto_mask(np.array([[1, 2], [2, 1], [2, 2], [1, 2]])).tolist()
    [True, True, False, True]
    """
    f = np.asarray(objectives, dtype=np.float64)
    n = len(f)
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    order = np.lexsort(f.T[::-1])
    front = np.empty_like(f)
    size = 0
    for i in order:
        p = f[i]
        if size:
            block = front[:size]
            if ((block <= p).all(axis=1) & (block < p).any(axis=1)).any():
                continue
        front[size] = p
        size += 1
        keep[i] = True
    return keep


def _random_contiguous(rng: np.random.Generator, n_layers: int, n_cores: int) -> np.ndarray:
    k = int(rng.integers(1, n_cores + 1))
    cores = rng.permutation(n_cores)[:k]
    cuts = np.sort(rng.choice(np.arange(1, n_layers), size=k - 1, replace=False)) if k > 1 else np.array([], dtype=np.int64)
    stage = np.searchsorted(cuts, np.arange(n_layers), side="right")
    return cores[stage]


def _initial_population(enc: DesignEncoding, ev: EENNEvaluator, size: int, rng: np.random.Generator) -> np.ndarray:
    rows: list[np.ndarray] = []
    for p in ev.precisions:
        for alloc in ev.contiguous_allocations(p):
            rows.append(enc.encode(ev.static_design(p, alloc)))
    seen = {tuple(r) for r in rows}
    guard = 0
    while len(rows) < size and guard < 100 * size:
        guard += 1
        v = rng.integers(enc.xl, enc.xu + 1)
        v[2 * enc.n + 3:] = _random_contiguous(rng, enc.n_layers, ev.platform.n_cores)
        if guard % 2:
            v = enc.encode(ev.balanced_allocation(enc.decode(v)))
        if tuple(v) not in seen:
            seen.add(tuple(v))
            rows.append(v)
    return np.array(rows[: max(size, len(rows))], dtype=np.float64)


def _mutate(v: np.ndarray, enc: DesignEncoding, rng: np.random.Generator) -> np.ndarray:
    """Reset a few design variables, and move a boundary between two cores' runs of layers."""
    v = v.copy()
    head = 2 * enc.n + 3
    flips = rng.random(head) < 1.0 / head
    if flips.any():
        v[:head][flips] = rng.integers(enc.xl[:head][flips], enc.xu[:head][flips] + 1)
    alloc = v[head:]
    if len(alloc) > 1 and rng.random() < 0.5:
        boundaries = np.nonzero(alloc[1:] != alloc[:-1])[0] + 1
        if len(boundaries) and rng.random() < 0.8:
            b = int(rng.choice(boundaries))
            m = int(rng.integers(1, 9))
            if rng.random() < 0.5:
                alloc[b:b + m] = alloc[b - 1]  # the earlier core takes the next layers
            else:
                alloc[max(0, b - m):b] = alloc[b]  # the later core takes the previous layers
        else:
            i = int(rng.integers(1, len(alloc)))
            alloc[i:] = rng.integers(0, enc.xu[head] + 1)  # open a new run to the end
    elif rng.random() < 0.1:
        perm = rng.permutation(int(enc.xu[head]) + 1)
        alloc[:] = perm[alloc]
    v[head:] = alloc
    return v


def _reductions(archive: list[ParetoPoint], baselines: dict[str, ParetoPoint], settings: SearchSettings) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def best(cands: list[ParetoPoint]) -> ParetoPoint | None:
        return min(cands, key=lambda pt: pt.cost.edp) if cands else None

    for p, base in baselines.items():
        pure = [pt for pt in archive if pt.design.backbone == p and pt.design.exits and pt.design.exit_precision == p]
        mixed = [pt for pt in archive if pt.design.exits]
        conditions: list[tuple[str, list[ParetoPoint]]] = []
        for slack in ACCURACY_SLACKS:
            floor = base.cost.accuracy - slack - 1e-12
            conditions.append((f"exits at {p}, accuracy within {slack * 100:g} point(s) of the static {p}",
                               [c for c in pure if c.cost.accuracy >= floor]))
        conditions.append((f"exits at {p}, any accuracy meeting the constraints", pure))
        floor = base.cost.accuracy - ACCURACY_SLACKS[0] - 1e-12
        conditions.append((f"any precisions, accuracy within {ACCURACY_SLACKS[0] * 100:g} point of the static {p}",
                           [c for c in mixed if c.cost.accuracy >= floor]))
        for label, cands in conditions:
            b = best(cands)
            entry: dict[str, Any] = {"baseline": p, "condition": label, "baseline_edp": base.cost.edp,
                                     "baseline_accuracy": base.cost.accuracy}
            if b is None:
                entry.update({"found": False})
            else:
                entry.update({
                    "found": True,
                    "edp": b.cost.edp,
                    "accuracy": b.cost.accuracy,
                    "edp_reduction": 1.0 - b.cost.edp / base.cost.edp,
                    "energy_reduction": 1.0 - b.cost.energy_pj / base.cost.energy_pj,
                    "delay_reduction": 1.0 - b.cost.delay_cycles / base.cost.delay_cycles,
                    "design": b.design.describe(),
                })
            out.append(entry)
    return out


def search_eenn(
    ev: EENNEvaluator,
    settings: SearchSettings = SearchSettings(),
    *,
    evaluate: Callable[[Design], DesignCost] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EENNSearchResult:
    """Run the constrained NSGA-II search.

    Parameters
    ----------
    ev : EENNEvaluator
        Prepared costs (mapping done).
    settings : SearchSettings
        Population, generations, seed and constraints.
    evaluate : callable, optional
        ``evaluate(design) -> DesignCost``; default ``ev.evaluate`` (the analytical
        expected cost). A multi-core simulation can be plugged in here.
    progress : callable, optional
        ``progress(generation, generations)``.

    Returns
    -------
    EENNSearchResult

    Raises
    ------
    SearchError
        If pymoo is missing, or no feasible design (nor baseline) is found.
    """
    try:
        from pymoo.algorithms.moo.nsga2 import NSGA2
        from pymoo.core.callback import Callback
        from pymoo.core.mutation import Mutation
        from pymoo.core.problem import Problem
        from pymoo.operators.crossover.pntx import TwoPointCrossover
        from pymoo.optimize import minimize
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise SearchError("tnx eenn search needs pymoo: pip install pymoo") from err

    fn = evaluate or ev.evaluate
    enc = DesignEncoding(ev)
    memo: dict[Design, DesignCost] = {}
    start = time.monotonic()

    def cost_of(d: Design) -> DesignCost:
        c = memo.get(d)
        if c is None:
            c = fn(d)
            memo[d] = c
        return c

    def constraints(c: DesignCost) -> list[float]:
        g = [c.memory_violation]
        if settings.min_accuracy is not None:
            g.append(settings.min_accuracy - c.accuracy)
        if settings.latency_bound_cycles is not None:
            g.append(c.worst_latency_cycles / settings.latency_bound_cycles - 1.0)
        return g

    n_constr = 1 + (settings.min_accuracy is not None) + (settings.latency_bound_cycles is not None)

    class _EENNProblem(Problem):
        def __init__(self) -> None:
            super().__init__(n_var=enc.n_var, n_obj=3, n_ieq_constr=n_constr, xl=enc.xl, xu=enc.xu, vtype=int)

        def _evaluate(self, x: np.ndarray, out: dict, *args: Any, **kwargs: Any) -> None:
            f = np.zeros((len(x), 3))
            g = np.zeros((len(x), n_constr))
            for r, row in enumerate(x):
                c = cost_of(enc.decode(row))
                f[r] = (-c.accuracy, c.edp, c.exit_overhead)
                g[r] = constraints(c)
            out["F"] = f
            out["G"] = g

    class _Mutation(Mutation):
        def _do(self, problem: Any, x: np.ndarray, *args: Any, random_state: Any = None, **kwargs: Any) -> np.ndarray:
            gen = random_state if random_state is not None else np.random.default_rng(settings.seed)
            out = np.array([_mutate(np.rint(row).astype(np.int64), enc, gen) for row in x])
            return out.astype(x.dtype)

    class _Progress(Callback):
        def notify(self, algorithm: Any) -> None:
            if progress is not None:
                progress(int(algorithm.n_gen), settings.generations)

    rng = np.random.default_rng(settings.seed)
    x0 = _initial_population(enc, ev, settings.population, rng)
    algorithm = NSGA2(
        pop_size=settings.population,
        sampling=x0,
        crossover=TwoPointCrossover(),
        mutation=_Mutation(prob=1.0),
        eliminate_duplicates=True,
    )
    minimize(_EENNProblem(), algorithm, ("n_gen", settings.generations), seed=settings.seed, verbose=False,
             callback=_Progress())
    # static baselines: the contiguous splits, plus any static design the search evaluated
    for p in ev.precisions:
        for alloc in ev.contiguous_allocations(p):
            cost_of(ev.static_design(p, alloc))
    # memetic polish: the (accuracy, EDP) front with allocations balancing the expected work
    feasible = [(d, c) for d, c in memo.items() if max(constraints(c)) <= 0]
    if feasible:
        front = pareto_mask(np.array([(-c.accuracy, c.edp) for _, c in feasible]))
        for (d, _), on in zip(feasible, front, strict=True):
            if on and d.exits:
                cost_of(ev.balanced_allocation(d))
    archive = [ParetoPoint(d, c) for d, c in memo.items() if max(constraints(c)) <= 0]
    baselines: dict[str, ParetoPoint] = {}
    for p in ev.precisions:
        static = [pt for pt in memo.items() if not pt[0].exits and pt[0].backbone == p and pt[1].memory_violation <= 0]
        if static:
            d, c = min(static, key=lambda dc: dc[1].edp)
            baselines[p] = ParetoPoint(d, c)
    if not archive:
        raise SearchError("no feasible design found; relax --min-accuracy or --latency-bound, or raise --generations")
    objs = np.array([(-pt.cost.accuracy, pt.cost.edp, pt.cost.exit_overhead) for pt in archive])
    mask = pareto_mask(objs)
    pareto = sorted((pt for pt, m in zip(archive, mask, strict=True) if m), key=lambda pt: (-pt.cost.accuracy, pt.cost.edp))
    st = ev.stats
    return EENNSearchResult(
        pareto=pareto,
        baselines=baselines,
        reductions=_reductions(archive, baselines, settings),
        evaluations=len(memo),
        seconds=time.monotonic() - start,
        settings=settings,
        thresholds=tuple(st.thresholds),
        provenance=f"{st.provenance.summary()} -- {st.provenance.text}",
        network=ev.network.name,
        platform=ev.platform.name,
        archive=archive,
    )


def _fmt_design(pt: ParetoPoint, thresholds: Sequence[float]) -> tuple[str, str, str, str]:
    d = pt.design
    exits = ",".join(f"{e}/{s[0]}" for e, s in zip(d.exits, d.head_sizes, strict=True)) or "(none)"
    used = sorted(set(d.allocation))
    cores = "".join(str(c) for c in used)
    prec = d.backbone + (f"/{d.exit_precision}" if d.exits else "")
    return exits, prec, f"{thresholds[d.threshold_index]:g}" if d.exits else "-", cores


def format_pareto_table(result: EENNSearchResult, *, limit: int | None = 25) -> str:
    """The Pareto front, the baselines and the reductions as plain-text tables."""
    head = (f"{'acc':>6} {'EDP pJ*cyc':>11} {'energy uJ':>9} {'interval':>9} {'latency':>9} {'worst lat':>9} {'ovh %':>6}  "
            f"{'prec':<10} {'thr':>4} {'cores':<5} exits (head s/m/l)")
    front2 = [pt for pt, m in zip(result.pareto, pareto_mask(np.array([(-pt.cost.accuracy, pt.cost.edp)
                                                                        for pt in result.pareto]).reshape(-1, 2)),
                                  strict=True) if m]
    lines = [f"Pareto front of {result.network} on {result.platform}: {len(result.pareto)} designs on the "
             f"(accuracy, EDP, exit overhead) front ({result.evaluations} evaluated, seed {result.settings.seed}); "
             f"the {len(front2)} on the (accuracy, EDP) front:", head]

    def row(pt: ParetoPoint) -> str:
        c = pt.cost
        exits, prec, thr, cores = _fmt_design(pt, result.thresholds)
        return (f"{c.accuracy:6.4f} {c.edp:11.4g} {c.energy_pj / 1e6:9.3f} {c.interval_cycles:9.0f} {c.latency_cycles:9.0f} "
                f"{c.worst_latency_cycles:9.0f} {100 * c.exit_overhead:6.2f}  {prec:<10} {thr:>4} {cores:<5} {exits}")

    if limit is None or len(front2) <= limit:
        shown = front2
    else:
        picks = sorted({int(round(x)) for x in np.linspace(0, len(front2) - 1, max(limit, 2))})
        shown = [front2[i] for i in picks]
    lines += [row(pt) for pt in shown]
    if len(shown) < len(front2):
        lines.append(f"({len(shown)} of {len(front2)} rows, evenly spaced; all {len(result.pareto)} front designs are in "
                     "the JSON and CSV output)")
    lines.append("")
    lines.append("Static baselines (no exits, best contiguous split or best static design found):")
    lines.append(head)
    lines += [row(pt) for pt in result.baselines.values()]
    lines.append("")
    lines.append("EDP reduction against the static baselines:")
    for r in result.reductions:
        if r["found"]:
            lines.append(f"  vs static {r['baseline']}: {100 * r['edp_reduction']:6.1f} % EDP, "
                         f"{100 * r['energy_reduction']:5.1f} % energy, {100 * r['delay_reduction']:5.1f} % delay "
                         f"(accuracy {r['accuracy']:.4f} vs {r['baseline_accuracy']:.4f}) -- {r['condition']}: {r['design']}")
        else:
            lines.append(f"  vs static {r['baseline']}: no design -- {r['condition']}")
    lines.append("")
    lines.append(f"Exit statistics: {result.provenance}")
    return "\n".join(lines)


def plot_pareto(result: EENNSearchResult, path: Path | str) -> Path:
    """Accuracy versus EDP of the Pareto front and the baselines, as a PNG (matplotlib, lazily imported)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise SearchError("plots need matplotlib: pip install matplotlib") from err
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = {"fp32": "tab:blue", "int8": "tab:green", "int4": "tab:orange"}
    for p in sorted({pt.design.backbone for pt in result.pareto}):
        pts = [pt for pt in result.pareto if pt.design.backbone == p]
        ax.scatter([pt.cost.edp for pt in pts], [pt.cost.accuracy for pt in pts], s=18, label=f"Pareto, backbone {p}",
                   color=colours.get(p), alpha=0.8)
    for p, pt in result.baselines.items():
        ax.scatter([pt.cost.edp], [pt.cost.accuracy], marker="*", s=160, edgecolor="black", color=colours.get(p),
                   label=f"static {p}")
    ax.set_xscale("log")
    ax.set_xlabel("expected EDP per input (pJ x cycles)")
    ax.set_ylabel("expected accuracy")
    ax.set_title(f"{result.network} on {result.platform}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
