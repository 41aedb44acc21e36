"""Exit statistics measured on a real early-exit model (``tnx eenn profile``).

Optional extra: PyTorch is imported when a model is profiled; the statistics
themselves are computed with NumPy from the collected softmax outputs.

The model's ``forward(x)`` returns a sequence of logits, one per exit in backbone
order, the final classifier last. The loader yields ``(inputs, labels)`` batches.
For every exit and threshold the profiler records the fraction of inputs whose
confidence passes the threshold (maximum softmax probability ``>= t``, or the
entropy normalised by ``log K`` ``<= t``) and the accuracy on those inputs, plus
the exit's accuracy on all inputs -- the statistics file format of
:mod:`tnx_timeloop.frontends.exit_stats`.

Precisions are measured by post-training fake quantization (:func:`fake_quantize`):
weights symmetric per output channel, the inputs of every convolution and linear
layer per tensor at run time (unsigned when non-negative); float formats by
rounding to that format. Modules listed as exit modules (the model's ``exits``
attribute when it has one) get the exit precision, all others the backbone's.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.frontends.exit_stats import FINAL_EXIT, ExitCurve, ExitStatistics, Provenance
from tnx_timeloop.spec.quantize import parse_precision

__all__ = [
    "collect_probabilities",
    "confidence",
    "exit_curves",
    "evaluate_policy",
    "fake_quantize",
    "profile_exits",
]


def collect_probabilities(model: Any, loader: Iterable[Any]) -> tuple[list[np.ndarray], np.ndarray]:
    """Softmax outputs of every exit and the labels, over a whole loader.

    Returns
    -------
    probabilities : list of ndarray of float64, shape (N, K)
        One per exit, final last.
    labels : ndarray of int64, shape (N,)
    """
    import torch

    model.eval()
    per_exit: list[list[np.ndarray]] = []
    labels: list[np.ndarray] = []
    with torch.no_grad():
        for batch in loader:
            x, y = batch[0], batch[1]
            outs = model(x)
            if not isinstance(outs, (tuple, list)):
                outs = [outs]
            if not per_exit:
                per_exit = [[] for _ in outs]
            if len(outs) != len(per_exit):
                raise SpecError(Where(None, ("model",)), "the model returned a different number of exits for another batch")
            for k, o in enumerate(outs):
                per_exit[k].append(torch.softmax(o.float(), dim=1).cpu().numpy().astype(np.float64))
            labels.append(np.asarray(y.cpu().numpy() if hasattr(y, "cpu") else y, dtype=np.int64))
    if not labels:
        raise SpecError(Where(None, ("data",)), "the loader yielded no batches")
    return [np.concatenate(p) for p in per_exit], np.concatenate(labels)


def confidence(probabilities: np.ndarray, criterion: str) -> np.ndarray:
    """float64 (N,): maximum probability (``confidence``) or entropy / log K (``entropy``)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if criterion == "confidence":
        return p.max(axis=1)
    if criterion == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        return h / np.log(p.shape[1])
    raise SpecError(Where(None, ("criterion",)), f"unknown criterion {criterion!r}; choose 'confidence' or 'entropy'")


def _passes(score: np.ndarray, threshold: float, criterion: str) -> np.ndarray:
    return score >= threshold if criterion == "confidence" else score <= threshold


def exit_curves(
    probabilities: Sequence[np.ndarray],
    labels: np.ndarray,
    *,
    exit_names: Sequence[str],
    thresholds: Sequence[float],
    criterion: str = "confidence",
    head: str = "*",
    backbone: str = "fp32",
    exit_precision: str = "fp32",
) -> list[ExitCurve]:
    """Per-exit accuracy and exit rates versus threshold from collected probabilities.

    Parameters
    ----------
    probabilities : sequence of ndarray, each (N, K)
        Softmax outputs per exit, final last.
    labels : ndarray of int, shape (N,)
    exit_names : sequence of str
        Names of the early exits (``len(probabilities) - 1``); the last is ``final``.
    thresholds : sequence of float
        Increasing thresholds.

    Returns
    -------
    list of ExitCurve
    """
    if len(exit_names) != len(probabilities) - 1:
        raise SpecError(Where(None, ("exit_names",)),
                        f"the model has {len(probabilities) - 1} early exits but {len(exit_names)} names were given")
    y = np.asarray(labels)
    curves = []
    for name, p in zip([*exit_names, FINAL_EXIT], probabilities, strict=True):
        correct = p.argmax(axis=1) == y
        score = confidence(p, criterion)
        rates, accs = [], []
        for t in thresholds:
            m = _passes(score, float(t), criterion)
            rates.append(float(m.mean()))
            accs.append(float(correct[m].mean()) if m.any() else None)
        is_final = name == FINAL_EXIT
        curves.append(ExitCurve(name, "*" if is_final else head, backbone, "*" if is_final else exit_precision,
                                float(correct.mean()), tuple(rates), tuple(accs)))
    return curves


def evaluate_policy(
    probabilities: Sequence[np.ndarray],
    labels: np.ndarray,
    chosen: Sequence[int],
    threshold: float,
    criterion: str = "confidence",
) -> tuple[np.ndarray, float]:
    """Exact exit fractions and accuracy of a network using early exits ``chosen`` (indices) then the final one.

    Each input leaves at the first chosen exit whose confidence passes ``threshold``.
    Used to check the nested-confidence combination of the statistics.

    Returns
    -------
    fractions : ndarray of float64, shape (len(chosen) + 1,)
    accuracy : float
    """
    y = np.asarray(labels)
    n = len(y)
    left = np.ones(n, dtype=bool)
    fractions = []
    correct = 0
    for k in chosen:
        p = probabilities[k]
        go = left & _passes(confidence(p, criterion), threshold, criterion)
        fractions.append(go.sum() / n)
        correct += int((p.argmax(axis=1)[go] == y[go]).sum())
        left &= ~go
    p = probabilities[-1]
    fractions.append(left.sum() / n)
    correct += int((p.argmax(axis=1)[left] == y[left]).sum())
    return np.array(fractions, dtype=np.float64), correct / n


def _fake(x: Any, bits: int, kind: str, *, per_channel: bool) -> Any:
    import torch

    if kind != "int":
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(kind)
        return x if dtype is None else x.to(dtype).to(x.dtype)
    if per_channel and x.dim() > 1:
        amax = x.detach().abs().flatten(1).max(dim=1).values.clamp(min=1e-12)
        shape = (-1,) + (1,) * (x.dim() - 1)
        qmax = 2 ** (bits - 1) - 1
        scale = (amax / qmax).view(shape)
        return torch.clamp(torch.round(x / scale), -qmax, qmax) * scale
    if float(x.min()) >= 0.0:
        qmax = 2**bits - 1
        scale = x.detach().max().clamp(min=1e-12) / qmax
        return torch.clamp(torch.round(x / scale), 0, qmax) * scale
    qmax = 2 ** (bits - 1) - 1
    scale = x.detach().abs().max().clamp(min=1e-12) / qmax
    return torch.clamp(torch.round(x / scale), -qmax, qmax) * scale


def fake_quantize(model: Any, backbone: str, *, exit_precision: str | None = None, exit_modules: Iterable[Any] | None = None) -> Any:
    """A copy of ``model`` whose convolutions and linear layers compute at the given precisions.

    Parameters
    ----------
    model : torch.nn.Module
    backbone : str
        Precision of every layer outside the exit modules (``"fp32"`` leaves it unchanged).
    exit_precision : str, optional
        Precision of the layers inside ``exit_modules`` (default: ``backbone``).
    exit_modules : iterable of torch.nn.Module, optional
        The exit heads (default: ``model.exits`` when the model has that attribute).

    Returns
    -------
    torch.nn.Module
        A deep copy; the original is untouched.
    """
    import torch

    b = parse_precision(backbone)
    e = parse_precision(exit_precision or backbone)
    q = copy.deepcopy(model)
    heads = list(exit_modules) if exit_modules is not None else list(getattr(model, "exits", []) or [])
    orig = dict(model.named_modules())
    head_ids = set()
    for name, mod in orig.items():
        for h in heads:
            if mod is h or any(mod is m for m in h.modules()):
                head_ids.add(name)
    for name, mod in q.named_modules():
        if not isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            continue
        prec = e if name in head_ids else b
        if prec.kind == "fp32" or (prec.kind == "int" and prec.weight_bits >= 32):
            continue
        with torch.no_grad():
            mod.weight.copy_(_fake(mod.weight, prec.weight_bits, prec.kind, per_channel=True))

        def hook(_m: Any, args: tuple, prec: Any = prec) -> tuple:
            return (_fake(args[0], prec.act_bits, prec.kind, per_channel=False), *args[1:])

        mod.register_forward_pre_hook(hook)
    return q


def profile_exits(
    model: Any,
    loader: Iterable[Any] | Any,
    *,
    network: str,
    exit_names: Sequence[str],
    thresholds: Sequence[float],
    provenance: Provenance,
    criterion: str = "confidence",
    precisions: Sequence[tuple[str, str]] = (("fp32", "fp32"),),
    head: str = "*",
    exit_modules: Iterable[Any] | None = None,
) -> ExitStatistics:
    """Measure exit statistics of a PyTorch early-exit model.

    Parameters
    ----------
    model : torch.nn.Module
        ``forward(x)`` returns the logits of every exit, final last.
    loader : iterable of (inputs, labels), or a callable returning one
        Re-iterated once per precision.
    network : str
        The network description's name.
    exit_names : sequence of str
        Names of the early exits as the network description declares them.
    thresholds : sequence of float
        Increasing thresholds.
    provenance : Provenance
        Must be ``measured`` and name the model and the data.
    criterion : str
        ``confidence`` or ``entropy``.
    precisions : sequence of (backbone, exit) precision names
        Each pair is measured with :func:`fake_quantize`.
    head : str
        Head-size name the curves are recorded under.
    exit_modules : iterable of torch.nn.Module, optional
        The exit heads (default: ``model.exits``).

    Returns
    -------
    ExitStatistics
    """
    if provenance.kind != "measured" or not provenance.model or not provenance.data:
        raise SpecError(Where(None, ("provenance",)), "profiled statistics need provenance kind 'measured' naming the model and the data")
    if criterion not in ("confidence", "entropy"):
        raise SpecError(Where(None, ("criterion",)), f"unknown criterion {criterion!r}; choose 'confidence' or 'entropy'")
    ts = [float(t) for t in thresholds]
    if not ts or any(b <= a for a, b in zip(ts, ts[1:], strict=False)):
        raise SpecError(Where(None, ("thresholds",)), f"thresholds must be increasing and non-empty, got {ts}")
    curves: list[ExitCurve] = []
    finals: set[str] = set()
    for b, e in precisions:
        qmodel = fake_quantize(model, b, exit_precision=e, exit_modules=exit_modules)
        data = loader() if callable(loader) else loader
        probs, labels = collect_probabilities(qmodel, data)
        for c in exit_curves(probs, labels, exit_names=exit_names, thresholds=ts, criterion=criterion, head=head,
                             backbone=parse_precision(b).name, exit_precision=parse_precision(e).name):
            if c.exit == FINAL_EXIT:
                if c.backbone in finals:
                    continue
                finals.add(c.backbone)
            curves.append(c)
    return ExitStatistics(network, criterion, tuple(ts), provenance, tuple(curves))
