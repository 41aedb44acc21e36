"""Sensitivity of a layer's cost to its channel count (the dimension-alignment effect).

A layer whose channel count divides the array's rows or columns maps without idle
processing elements; one more or one fewer channel can leave a whole pass of the
array mostly idle, or (with perfect factorisations only) leave no good spatial
factor at all. :func:`sweep_channels` maps the layer with its channel count moved by
small steps around the nominal value and reports cycles, energy, EDP and the EDP
per operation, so that such cliffs stand out.

The channel count moved is the layer's output channels (``conv``, ``pwconv``) or
output features (``fc``), or its channels (``dwconv``, input and output together).
With ``with_consumers`` the layers that read its output (convolutions and FC layers)
are re-mapped with the matching input channel count and added to the cost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from tnx_timeloop.errors import SearchError, SpecError, Where
from tnx_timeloop.frontends.early_exit import EarlyExitNetwork, Layer, TensorShape, lower_layer
from tnx_timeloop.search.eenn import Platform, map_problems
from tnx_timeloop.spec.quantize import arch_for_precision, check_precision

__all__ = ["SweepPoint", "SweepResult", "sweep_channels", "format_sweep_table", "plot_sweep"]


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """The cost at one channel count.

    Attributes
    ----------
    channels : int
        The channel count mapped.
    macs : int
        Operations of the layer (and consumers) at that count.
    cycles : float
        Latency in cycles (sum over the layer and its consumers).
    energy_pj : float
        Energy in pJ.
    utilization : float
        The layer's own MAC utilization.
    valid : bool
        Whether every problem found a valid mapping.
    """

    channels: int
    macs: int
    cycles: float
    energy_pj: float
    utilization: float
    valid: bool = True

    @property
    def edp(self) -> float:
        """Energy x cycles, in pJ x cycles."""
        return self.energy_pj * self.cycles

    @property
    def edp_per_mac(self) -> float:
        """EDP divided by the operations (pJ x cycles per MAC)."""
        return self.edp / self.macs if self.macs else float("nan")


@dataclass(frozen=True, slots=True)
class SweepResult:
    """A channel sweep of one layer."""

    network: str
    layer: str
    kind: str
    nominal: int
    precision: str
    core: str
    points: tuple[SweepPoint, ...]

    def point(self, channels: int) -> SweepPoint:
        """The point at a channel count."""
        for p in self.points:
            if p.channels == channels:
                return p
        raise KeyError(channels)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able view."""
        nominal = self.point(self.nominal)
        return {
            "network": self.network, "layer": self.layer, "kind": self.kind, "nominal_channels": self.nominal,
            "precision": self.precision, "core": self.core,
            "points": [{"channels": p.channels, "macs": p.macs, "cycles": p.cycles, "energy_pj": p.energy_pj,
                        "edp": p.edp, "edp_per_mac": p.edp_per_mac, "utilization": p.utilization, "valid": p.valid,
                        "edp_per_mac_vs_nominal": p.edp_per_mac / nominal.edp_per_mac if nominal.valid else None}
                       for p in self.points],
        }


def _with_channels(layer: Layer, channels: int) -> Layer:
    if layer.kind in ("conv", "pwconv", "fc"):
        o = layer.out_shape
        return replace(layer, out_shape=TensorShape(channels, o.height, o.width))
    if layer.kind == "dwconv":
        i, o = layer.in_shape, layer.out_shape
        return replace(layer, in_shape=TensorShape(channels, i.height, i.width),
                       out_shape=TensorShape(channels * layer.multiplier, o.height, o.width))
    raise SpecError(Where(None, ("layer",)), f"layer {layer.name!r} is a {layer.kind}; sweep a conv, pwconv, dwconv or fc layer")


def _consumer_with_input(layer: Layer, shape: TensorShape) -> Layer | None:
    if layer.kind in ("conv", "pwconv", "fc"):
        return replace(layer, in_shape=shape)
    return None


def sweep_channels(
    network: EarlyExitNetwork,
    platform: Platform,
    layer_name: str,
    *,
    deltas: Sequence[int] = tuple(range(-16, 17)),
    precision: str = "int8",
    core_type: int = 0,
    with_consumers: bool = False,
    budget: int = 5000,
    seed: int = 0,
    pad: bool = False,
    cache: Any = None,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Map a layer with its channel count moved by ``deltas`` around the nominal value.

    Parameters
    ----------
    network : EarlyExitNetwork
    platform : Platform
        The core type ``core_type`` of it is used.
    layer_name : str
        A backbone layer (or an exit-head layer by its full name).
    deltas : sequence of int
        Channel offsets from the nominal count (counts below 1 are skipped).
    precision : str
        Precision of the layer.
    with_consumers : bool
        Also re-map the convolution/FC layers reading its output.
    budget, seed, pad, cache, jobs, progress
        As for :func:`~tnx_timeloop.search.eenn.map_problems`.

    Returns
    -------
    SweepResult

    Raises
    ------
    SpecError
        For an unknown layer (the message lists the layers), a layer type without
        channels to move, or a precision the core does not support.
    """
    layers = {lay.name: lay for lay in network.layers}
    for e in network.exits:
        for h in e.heads:
            layers.update({lay.name: lay for lay in h.layers})
    if layer_name not in layers:
        raise SpecError(Where(network.source, ("eenn", "layers")),
                        f"no layer {layer_name!r}; layers are {[lay.name for lay in network.layers]}")
    layer = layers[layer_name]
    nominal = layer.in_shape.channels if layer.kind == "dwconv" else layer.out_shape.channels
    core = platform.core_types[core_type]
    p = check_precision(core, precision, Where(platform.source, ("architecture",)))
    arch = arch_for_precision(core, p)
    consumers = [lay for lay in network.layers if layer.name in lay.inputs] if with_consumers else []
    counts = sorted({nominal + int(d) for d in deltas if nominal + int(d) >= 1} | {nominal})
    items = []
    owners: list[tuple[int, bool]] = []
    for ci, c in enumerate(counts):
        modified = _with_channels(layer, c)
        items.append((arch, lower_layer(modified)))
        owners.append((ci, True))
        for cons in consumers:
            changed = _consumer_with_input(cons, modified.out_shape)
            if changed is not None:
                items.append((arch, lower_layer(changed)))
                owners.append((ci, False))
    costs = map_problems(items, budget=budget, seed=seed, pad=pad, cache=cache, jobs=jobs, progress=progress)
    cycles = np.zeros(len(counts))
    energy = np.zeros(len(counts))
    macs = np.zeros(len(counts), dtype=np.int64)
    util = np.zeros(len(counts))
    valid = np.ones(len(counts), dtype=bool)
    for (ci, own), (_, prob), cost in zip(owners, items, costs, strict=True):
        valid[ci] &= cost.valid
        cycles[ci] += cost.cycles
        energy[ci] += cost.energy_pj
        macs[ci] += prob.macs
        if own:
            util[ci] = cost.utilization
    points = tuple(SweepPoint(c, int(macs[i]), float(cycles[i]), float(energy[i]), float(util[i]), bool(valid[i]))
                   for i, c in enumerate(counts))
    return SweepResult(network.name, layer.name, layer.kind, nominal, p.name, platform.core_type_names[core_type], points)


def format_sweep_table(result: SweepResult) -> str:
    """The sweep as a plain-text table (EDP per MAC relative to the nominal count)."""
    nominal = result.point(result.nominal)
    lines = [f"{result.network}: layer {result.layer} ({result.kind}), channels around {result.nominal}, "
             f"{result.precision} on {result.core}",
             f"{'channels':>8} {'MACs':>11} {'cycles':>9} {'energy nJ':>10} {'EDP pJ*cyc':>11} {'util':>6} {'EDP/MAC vs nominal':>18}"]
    for p in result.points:
        rel = p.edp_per_mac / nominal.edp_per_mac if nominal.valid and p.valid else float("nan")
        mark = "  <- nominal" if p.channels == result.nominal else ""
        bad = "" if p.valid else "  (no valid mapping)"
        lines.append(f"{p.channels:8d} {p.macs:11d} {p.cycles:9.0f} {p.energy_pj / 1e3:10.2f} {p.edp:11.4g} "
                     f"{p.utilization:6.3f} {rel:18.3f}{mark}{bad}")
    return "\n".join(lines)


def plot_sweep(result: SweepResult, path: Path | str) -> Path:
    """EDP and EDP per MAC versus channel count, as a PNG (matplotlib, lazily imported)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise SearchError("plots need matplotlib: pip install matplotlib") from err
    pts = [p for p in result.points if p.valid]
    fig, ax = plt.subplots(figsize=(7, 4))
    ch = [p.channels for p in pts]
    ax.plot(ch, [p.edp for p in pts], "o-", color="tab:blue", label="EDP")
    ax.set_xlabel(f"channels of {result.layer}")
    ax.set_ylabel("EDP (pJ x cycles)", color="tab:blue")
    ax.axvline(result.nominal, color="grey", ls="--", lw=1)
    ax2 = ax.twinx()
    ax2.plot(ch, [p.edp_per_mac for p in pts], "s-", color="tab:red", ms=3, label="EDP per MAC")
    ax2.set_ylabel("EDP per MAC", color="tab:red")
    ax.set_title(f"{result.network}/{result.layer}: {result.precision} on {result.core}")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
