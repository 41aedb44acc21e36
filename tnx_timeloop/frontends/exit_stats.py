"""Exit statistics: per exit and precision, accuracy and exit rates versus confidence threshold.

A statistics file has one top-level key, ``eenn_statistics``::

    eenn_statistics:
      version: 0.1
      network: mobilenetv2-cifar10          # the network file's name
      criterion: confidence                  # max softmax >= threshold exits; or 'entropy' (<= threshold)
      thresholds: [0.5, 0.7, 0.9]
      provenance:
        kind: measured                       # measured | publication | assumption
        text: "tnx eenn profile on ..."      # what was done, in words
        model: "..."                         # measured: the model (and its training)
        data: "..."                          # measured: the data set and split
        citation: "..."                      # publication: the reference
      curves:
        - {exit: b3, head: medium, backbone: int8, exit_precision: int8,
           accuracy: 0.61, rate: [0.52, 0.33, 0.12], exit_accuracy: [0.85, 0.92, 0.97]}
        - {exit: final, backbone: int8, accuracy: 0.93, rate: [...], exit_accuracy: [...]}

Each curve describes one classifier on its own: ``accuracy`` over all inputs;
``rate[k]`` the fraction of all inputs whose confidence passes ``thresholds[k]``
at this classifier; ``exit_accuracy[k]`` its accuracy on those inputs (``null``
when the rate is 0). ``head``, ``backbone`` and ``exit_precision`` may be
``"*"`` (any); a lookup takes the most specific match. The final classifier is
the exit called ``final`` (its precision is the backbone's).

Combining exits (:func:`exit_distribution`) assumes **nested confidence**: the
inputs an earlier exit is confident about are the ones every later classifier is
most confident about. With ``K_i(c)`` the number of correct answers (as a
fraction of all inputs) of classifier ``i`` on its ``c`` most confident inputs --
piecewise linear through ``(0, 0)``, ``(rate[k], rate[k] * exit_accuracy[k])`` and
``(1, accuracy)`` -- and the chosen exits ``e_1 < ... < e_n`` followed by the
final classifier, the cumulative exited fraction is ``C_j = max(C_{j-1},
rate_{e_j}(t))`` (``C_0 = 0``, final ``C = 1``), the fraction leaving at exit ``j``
is ``C_j - C_{j-1}`` and the accuracy is ``sum_j K_{e_j}(C_j) - K_{e_j}(C_{j-1})``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.spec._read import Collector, Node, to_float
from tnx_timeloop.spec.yaml_io import dump_yaml, load_yaml_file

__all__ = [
    "CRITERIA",
    "PROVENANCE_KINDS",
    "FINAL_EXIT",
    "Provenance",
    "ExitCurve",
    "ExitStatistics",
    "ExitDistribution",
    "parse_statistics",
    "load_statistics",
    "statistics_to_dict",
    "write_statistics",
    "check_statistics",
    "exit_distribution",
    "calibrated_power_curve",
]

CRITERIA = ("confidence", "entropy")
PROVENANCE_KINDS = ("measured", "publication", "assumption")
FINAL_EXIT = "final"
_TOL = 1e-6


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where the numbers of a statistics file come from.

    Attributes
    ----------
    kind : str
        ``measured`` (by ``tnx eenn profile``), ``publication`` or ``assumption``.
    text : str
        What was done or assumed, in words.
    model, data : str or None
        For measured statistics: the model (architecture, training) and the data set.
    citation : str or None
        For published figures: the reference.
    """

    kind: str
    text: str
    model: str | None = None
    data: str | None = None
    citation: str | None = None

    def summary(self) -> str:
        """One line: kind, then model/data/citation where given."""
        parts = [self.kind]
        if self.model:
            parts.append(f"model: {self.model}")
        if self.data:
            parts.append(f"data: {self.data}")
        if self.citation:
            parts.append(f"citation: {self.citation}")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class ExitCurve:
    """Accuracy and exit rates of one classifier at one configuration.

    Attributes
    ----------
    exit : str
        Exit name, or ``"final"``.
    head, backbone, exit_precision : str
        Head size and precisions it was measured at (``"*"`` = any).
    accuracy : float
        Accuracy over all inputs, in [0, 1].
    rates : tuple of float
        Per threshold, the fraction of all inputs passing it.
    exit_accuracy : tuple of float or None
        Per threshold, accuracy on the passing inputs (None when none pass).
    """

    exit: str
    head: str
    backbone: str
    exit_precision: str
    accuracy: float
    rates: tuple[float, ...]
    exit_accuracy: tuple[float | None, ...]

    def correct_at(self, fraction: float) -> float:
        """``K(c)``: correct answers on the ``c`` most confident inputs, as a fraction of all inputs.

        Parameters
        ----------
        fraction : float
            ``c`` in [0, 1].

        Returns
        -------
        float
            Piecewise-linear interpolation of ``(0, 0)``, ``(rate, rate * exit_accuracy)``
            and ``(1, accuracy)``.
        """
        xs, ys = _knots(self)
        return float(np.interp(min(max(fraction, 0.0), 1.0), xs, ys))


@functools.lru_cache(maxsize=8192)
def _knots(curve: ExitCurve) -> tuple[np.ndarray, np.ndarray]:
    """Knots of ``K(c)`` for a curve (cached: curves are frozen)."""
    pts = {0.0: 0.0, 1.0: curve.accuracy}
    for r, a in zip(curve.rates, curve.exit_accuracy, strict=True):
        if a is None or r <= 0.0 or r >= 1.0:
            continue
        pts[float(r)] = float(r) * float(a)
    xs = np.array(sorted(pts), dtype=np.float64)
    return xs, np.array([pts[x] for x in xs], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class ExitStatistics:
    """The statistics of one network (all exits, head sizes and precisions)."""

    network: str
    criterion: str
    thresholds: tuple[float, ...]
    provenance: Provenance
    curves: tuple[ExitCurve, ...]
    source: Path | None = field(default=None, compare=False)

    def lookup(self, exit: str, *, head: str = "*", backbone: str = "*", exit_precision: str = "*") -> ExitCurve:
        """The most specific curve matching an exit, head size and precisions.

        Raises
        ------
        SpecError
            If no curve matches (naming the file and what is missing).
        """
        best: ExitCurve | None = None
        best_score = -1
        for c in self.curves:
            if c.exit != exit:
                continue
            score = 0
            ok = True
            for have, want in ((c.head, head), (c.backbone, backbone), (c.exit_precision, exit_precision)):
                if have == want:
                    score += 1
                elif have != "*" and want != "*":
                    ok = False
            if ok and score > best_score:
                best, best_score = c, score
        if best is None:
            have = sorted({(c.head, c.backbone, c.exit_precision) for c in self.curves if c.exit == exit})
            raise SpecError(
                Where(self.source, ("eenn_statistics", "curves")),
                f"no statistics for exit {exit!r} with head {head!r}, backbone {backbone!r}, exit precision "
                f"{exit_precision!r}; the file has (head, backbone, exit precision) {have or 'nothing for this exit'}",
            )
        return best

    @property
    def exits(self) -> tuple[str, ...]:
        """Exit names with curves (``final`` included), in first-seen order."""
        return tuple(dict.fromkeys(c.exit for c in self.curves))

    @property
    def precisions(self) -> tuple[str, ...]:
        """Backbone precisions with curves."""
        return tuple(dict.fromkeys(c.backbone for c in self.curves if c.backbone != "*"))


@dataclass(frozen=True, slots=True)
class ExitDistribution:
    """Where inputs leave a configured network, and its accuracy.

    Attributes
    ----------
    fractions : ndarray of float64, shape (n + 1,)
        Fraction of inputs leaving at each chosen exit, then at the final classifier.
    accuracy : float
        Expected accuracy of the whole network.
    cumulative : ndarray of float64, shape (n + 1,)
        Fraction of inputs that have left by each exit (the last is 1).
    """

    fractions: np.ndarray
    accuracy: float
    cumulative: np.ndarray

    @property
    def reach(self) -> np.ndarray:
        """float64 (n + 1,): fraction of inputs that reach each exit (and the final classifier)."""
        return 1.0 - np.concatenate(([0.0], self.cumulative[:-1]))


def exit_distribution(curves: Sequence[ExitCurve], final: ExitCurve, threshold_index: int) -> ExitDistribution:
    """Exit fractions and accuracy of a network with exits ``curves`` (in order) and ``final``.

    Parameters
    ----------
    curves : sequence of ExitCurve
        The chosen early exits in backbone order.
    final : ExitCurve
        The final classifier.
    threshold_index : int
        Index into the statistics' thresholds (the same threshold at every exit).

    Returns
    -------
    ExitDistribution

    Notes
    -----
    The nested-confidence combination of the module notes; O(n) in the number of exits.

    Examples
    --------
    >>> e = ExitCurve("e1", "*", "*", "*", 0.6, (0.5,), (0.9,))
    >>> f = ExitCurve("final", "*", "*", "*", 0.9, (0.8,), (0.99,))
    >>> d = exit_distribution([e], f, 0)
    >>> [round(float(x), 3) for x in d.fractions], round(d.accuracy, 4)
    ([0.5, 0.5], 0.855)
    """
    fractions: list[float] = []
    cumulative: list[float] = []
    correct = 0.0
    done = 0.0
    for c in curves:
        rate = float(c.rates[threshold_index])
        now = max(done, min(1.0, rate))
        correct += c.correct_at(now) - c.correct_at(done)
        fractions.append(now - done)
        cumulative.append(now)
        done = now
    correct += final.correct_at(1.0) - final.correct_at(done)
    fractions.append(1.0 - done)
    cumulative.append(1.0)
    return ExitDistribution(np.array(fractions), float(correct), np.array(cumulative))


def calibrated_power_curve(accuracy: float, thresholds: Sequence[float], classes: int) -> tuple[list[float], list[float | None]]:
    """Exit rates and accuracies of a calibrated classifier with power-law confidence.

    The assumption model used for statistics files without measurements: the
    maximum softmax probability is ``c = 1/K + (1 - 1/K) u`` with ``u`` distributed as
    ``Beta(a, 1)`` (density ``a u^(a-1)``), and the classifier is calibrated (its
    accuracy on inputs of confidence ``c`` is ``c``), so that its overall accuracy is
    ``E[c]``, which fixes ``a``.

    Parameters
    ----------
    accuracy : float
        Overall accuracy, in ``(1/K, 1)``.
    thresholds : sequence of float
        Confidence thresholds.
    classes : int
        ``K``.

    Returns
    -------
    rates : list of float
        ``P(c >= t)`` per threshold.
    exit_accuracy : list of float or None
        ``E[c | c >= t]`` per threshold.

    Examples
    --------
    >>> r, a = calibrated_power_curve(0.55, [0.1, 1.0], 10)
    >>> r[0], round(a[0], 6), r[1]
    (1.0, 0.55, 0.0)
    """
    low = 1.0 / classes
    if not low < accuracy < 1.0:
        raise ValueError(f"accuracy must be in ({low}, 1), got {accuracy}")
    m = (accuracy - low) / (1.0 - low)
    a = m / (1.0 - m)
    rates: list[float] = []
    accs: list[float | None] = []
    for t in thresholds:
        x = min(max((t - low) / (1.0 - low), 0.0), 1.0)
        rate = 1.0 - x**a
        rates.append(rate)
        if rate <= 1e-12:
            accs.append(None)
            continue
        mean_u = a / (a + 1.0) * (1.0 - x ** (a + 1.0)) / rate
        accs.append(low + (1.0 - low) * mean_u)
    return rates, accs


# ---------------------------------------------------------------------------
# parsing and validation
# ---------------------------------------------------------------------------


def _fraction(value: Any, where: Where, what: str, errors: Collector) -> float | None:
    try:
        f = to_float(value, where)
    except SpecError as err:
        errors.extend(err)
        return None
    if not math.isfinite(f) or f < -_TOL or f > 1.0 + _TOL:
        errors.add(where, f"{what} {f:g} is outside [0, 1]; statistics are fractions of the inputs")
        return None
    return min(max(f, 0.0), 1.0)


def parse_statistics(data: Mapping[str, Any], *, where: Where | None = None, source: Path | str | None = None) -> ExitStatistics:
    """Build :class:`ExitStatistics` from the ``eenn_statistics`` section.

    Raises
    ------
    SpecError
        Collecting every problem: unknown keys, a missing or unknown provenance
        kind, rates or accuracies outside [0, 1], lists whose length differs from
        the thresholds, rates that are not monotone in the threshold, confident
        inputs with more correct answers than the classifier has overall, and
        repeated curves.
    """
    where = where or Where(source, ("eenn_statistics",))
    node = Node(data, where)
    node.check_keys({"version", "network", "criterion", "thresholds", "provenance", "curves", "description"})
    errors = Collector()
    network = node.str("network")
    criterion = node.str("criterion", default="confidence").lower()
    if criterion not in CRITERIA:
        errors.add(node.at("criterion"), f"unknown criterion {criterion!r}; choose one of {list(CRITERIA)}")
    thresholds: list[float] = []
    for i, t in enumerate(node.list("thresholds")):
        try:
            thresholds.append(to_float(t, node.at("thresholds") / i))
        except SpecError as err:
            errors.extend(err)
    if not thresholds:
        errors.add(node.at("thresholds"), "give at least one threshold")
    if any(b <= a for a, b in zip(thresholds, thresholds[1:], strict=False)):
        errors.add(node.at("thresholds"), f"thresholds must increase, got {thresholds}")
    if not node.has("provenance"):
        raise SpecError(
            node.where,
            "missing key 'provenance': say where the numbers come from (kind: measured | publication | "
            "assumption, and text; measured needs model and data, publication needs citation)",
        )
    pn = node.child("provenance")
    pn.check_keys({"kind", "text", "model", "data", "citation"})
    kind = pn.str("kind").lower()
    if kind not in PROVENANCE_KINDS:
        errors.add(pn.at("kind"), f"unknown provenance kind {kind!r}; choose one of {list(PROVENANCE_KINDS)}")
    prov = Provenance(kind, pn.str("text"), pn.str("model", default=None), pn.str("data", default=None),
                      pn.str("citation", default=None))
    if kind == "measured" and (not prov.model or not prov.data):
        errors.add(pn.where, "measured statistics must name the model and the data ('model:' and 'data:')")
    if kind == "publication" and not prov.citation:
        errors.add(pn.where, "published statistics must give the 'citation'")
    curves: list[ExitCurve] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    n = len(thresholds)
    for i, raw in enumerate(node.list("curves")):
        cw = node.at("curves") / i
        try:
            cn = Node(raw, cw)
            cn.check_keys({"exit", "head", "backbone", "exit_precision", "accuracy", "rate", "exit_accuracy"})
            exit_name = cn.str("exit")
            head = cn.str("head", default="*")
            backbone = cn.str("backbone", default="*").lower()
            exit_prec = cn.str("exit_precision", default="*").lower()
            if exit_name == FINAL_EXIT:
                exit_prec = "*" if exit_prec in ("*", backbone) else exit_prec
            acc = _fraction(cn.raw("accuracy"), cn.at("accuracy"), "accuracy", errors)
            rates_raw = cn.list("rate")
            accs_raw = cn.list("exit_accuracy")
            if len(rates_raw) != n:
                errors.add(cn.at("rate"), f"{len(rates_raw)} rates for {n} thresholds")
                continue
            if len(accs_raw) != n:
                errors.add(cn.at("exit_accuracy"), f"{len(accs_raw)} accuracies for {n} thresholds")
                continue
            rates = [_fraction(r, cn.at("rate") / k, "exit rate", errors) for k, r in enumerate(rates_raw)]
            accs: list[float | None] = []
            for k, a in enumerate(accs_raw):
                accs.append(None if a is None else _fraction(a, cn.at("exit_accuracy") / k, "exit accuracy", errors))
            if acc is None or any(r is None for r in rates):
                continue
            rr = [float(r) for r in rates if r is not None]
            diffs = np.diff(rr)
            if criterion == "confidence" and (diffs > _TOL).any():
                errors.add(cn.at("rate"), f"exit rates must not grow with the confidence threshold, got {rr}")
            if criterion == "entropy" and (diffs < -_TOL).any():
                errors.add(cn.at("rate"), f"exit rates must not shrink as the entropy threshold grows, got {rr}")
            for k, (r, a) in enumerate(zip(rr, accs, strict=True)):
                if a is None:
                    if r > _TOL:
                        errors.add(cn.at("exit_accuracy") / k, f"rate {r:g} > 0 needs an exit accuracy")
                    continue
                if r * a > acc + 1e-4 or acc - r * a > 1.0 - r + 1e-4:
                    errors.add(
                        cn.at("exit_accuracy") / k,
                        f"inconsistent with accuracy {acc:g}: {r:g} of the inputs exiting at accuracy {a:g} "
                        "would need more (or fewer) correct answers than the classifier has",
                    )
            key = (exit_name, head, backbone, exit_prec)
            if key in seen:
                errors.add(cw, f"curve repeats entry {seen[key]} (exit {exit_name!r}, head {head!r}, backbone "
                           f"{backbone!r}, exit precision {exit_prec!r})")
                continue
            seen[key] = i
            curves.append(ExitCurve(exit_name, head, backbone, exit_prec, float(acc), tuple(rr), tuple(accs)))
        except SpecError as err:
            errors.extend(err)
    if not node.list("curves"):
        errors.add(node.at("curves"), "no curves")
    elif not any(c.exit == FINAL_EXIT for c in curves) and not errors.errors:
        errors.add(node.at("curves"), f"no curve for the final classifier (exit: {FINAL_EXIT})")
    errors.raise_if_any()
    return ExitStatistics(network, criterion, tuple(thresholds), prov, tuple(curves),
                          Path(source) if source is not None else None)


def load_statistics(path: Path | str) -> ExitStatistics:
    """Read a statistics file (top-level key ``eenn_statistics``)."""
    p = Path(path)
    doc = load_yaml_file(p)
    if not isinstance(doc, Mapping) or "eenn_statistics" not in doc:
        raise SpecError(Where(p), "expected a top-level 'eenn_statistics' key (exit statistics)")
    return parse_statistics(doc["eenn_statistics"], where=Where(p, ("eenn_statistics",)), source=p)


def check_statistics(
    stats: ExitStatistics,
    exit_names: Sequence[str],
    *,
    network: str | None = None,
    heads: Mapping[str, Sequence[str]] | None = None,
    precisions: Sequence[str] = (),
    exit_precisions: Sequence[str] | None = None,
) -> None:
    """Check that ``stats`` match a network's declared exits and cover what a search needs.

    Parameters
    ----------
    stats : ExitStatistics
    exit_names : sequence of str
        The network's candidate exits.
    network : str, optional
        The network's name (must equal ``stats.network``).
    heads : mapping, optional
        Head sizes per exit that must have curves.
    precisions : sequence of str
        Backbone precisions that must have curves (for every exit and the final one).
    exit_precisions : sequence of str, optional
        Exit precisions that must have curves (default: ``precisions``).

    Raises
    ------
    SpecError
        Naming the statistics file and every mismatch: an exit the network does not
        declare, a declared exit without statistics, a missing head size or precision.
    """
    where = Where(stats.source, ("eenn_statistics",))
    errors = Collector()
    if network is not None and stats.network != network:
        errors.add(where / "network", f"statistics are for network {stats.network!r}, not {network!r}")
    declared = set(exit_names) | {FINAL_EXIT}
    for i, c in enumerate(stats.curves):
        if c.exit not in declared:
            errors.add(where / "curves" / i / "exit",
                       f"exit {c.exit!r} is not declared by the network; its exits are {list(exit_names)} and {FINAL_EXIT!r}")
    have = set(stats.exits)
    for name in [*exit_names, FINAL_EXIT]:
        if name not in have:
            errors.add(where / "curves", f"no statistics for the network's exit {name!r}")
    errors.raise_if_any()
    exit_precs = list(exit_precisions) if exit_precisions is not None else list(precisions)
    for b in precisions:
        try:
            stats.lookup(FINAL_EXIT, backbone=b)
        except SpecError as err:
            errors.extend(err)
        for name in exit_names:
            for size in (heads or {}).get(name, ("*",)):
                for e in exit_precs:
                    try:
                        stats.lookup(name, head=size, backbone=b, exit_precision=e)
                    except SpecError as err:
                        errors.extend(err)
    errors.raise_if_any()


def statistics_to_dict(stats: ExitStatistics) -> dict[str, Any]:
    """The ``eenn_statistics`` section (round-trips through :func:`parse_statistics`)."""
    prov: dict[str, Any] = {"kind": stats.provenance.kind, "text": stats.provenance.text}
    for key in ("model", "data", "citation"):
        value = getattr(stats.provenance, key)
        if value:
            prov[key] = value
    curves = []
    for c in stats.curves:
        entry: dict[str, Any] = {"exit": c.exit}
        if c.head != "*":
            entry["head"] = c.head
        entry["backbone"] = c.backbone
        if c.exit != FINAL_EXIT or c.exit_precision != "*":
            entry["exit_precision"] = c.exit_precision
        entry["accuracy"] = round(c.accuracy, 6)
        entry["rate"] = [round(r, 6) for r in c.rates]
        entry["exit_accuracy"] = [None if a is None else round(a, 6) for a in c.exit_accuracy]
        curves.append(entry)
    return {
        "version": 0.1,
        "network": stats.network,
        "criterion": stats.criterion,
        "thresholds": [float(t) for t in stats.thresholds],
        "provenance": prov,
        "curves": curves,
    }


def write_statistics(stats: ExitStatistics, path: Path | str, *, header: str = "") -> Path:
    """Write a statistics file; curves are written one per line (flow style)."""
    import yaml

    d = statistics_to_dict(stats)
    curves = d.pop("curves")
    text = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    text += dump_yaml({"eenn_statistics": d})
    text += "  curves:\n"
    for c in curves:
        line = yaml.safe_dump(c, default_flow_style=True, sort_keys=False, width=10_000).strip()
        text += f"  - {line}\n"
    p = Path(path)
    p.write_text(text)
    return p
