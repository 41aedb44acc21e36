"""Backbone and exit heads of an imported graph (shared by the PyTorch and ONNX importers).

An importer traces a model into layers (each with its dependencies) and a list of output
layers: the last output is the final classifier, the others are early exits. The backbone
is what the final output depends on; each exit's head is what only its output depends on,
and it must branch from exactly one backbone layer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.frontends.early_exit import NETWORK_INPUT

__all__ = ["split_backbone_and_exits"]


def split_backbone_and_exits(
    order: Sequence[str],
    layers: Mapping[str, dict[str, Any]],
    deps: Mapping[str, Sequence[str]],
    outputs: Sequence[str],
    exit_names: Sequence[str] | None,
    where: Where,
    *,
    head_entry: Callable[[dict[str, Any], str], dict[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The backbone's layer entries (in ``order``) and the exit candidates, sorted by attach point.

    ``head_entry(entry, attach_layer)`` may rewrite each head layer's entry (e.g. its names).

    Raises
    ------
    SpecError
        When the exit names do not match the extra outputs, or an exit does not branch from
        exactly one backbone layer through its own layers.
    """

    def ancestors(layer: str) -> set[str]:
        seen: set[str] = set()
        stack = [layer]
        while stack:
            cur = stack.pop()
            if cur in seen or cur == NETWORK_INPUT:
                continue
            seen.add(cur)
            stack.extend(deps.get(cur, []))
        return seen

    backbone = ancestors(outputs[-1])
    names = list(exit_names) if exit_names is not None else [f"exit{i + 1}" for i in range(len(outputs) - 1)]
    if len(names) != len(outputs) - 1:
        raise SpecError(where, f"{len(outputs) - 1} exit outputs but {len(names)} exit names")
    candidates = []
    for ename, out_layer in zip(names, outputs[:-1], strict=True):
        head = [n for n in order if n in ancestors(out_layer) - backbone]
        attach = {d for n in head for d in deps[n] if d in backbone}
        if not head or len(attach) != 1:
            raise SpecError(where / ename, f"exit {ename!r} must branch from exactly one backbone layer through its "
                                           f"own layers (found attach points {sorted(attach)})")
        after = attach.pop()
        entries = [head_entry(layers[n], after) if head_entry else layers[n] for n in head]
        candidates.append({"after": after, "name": ename, "heads": {"imported": entries}})
    pos = {n: i for i, n in enumerate(order)}
    candidates.sort(key=lambda c: pos[c["after"]])
    return [layers[n] for n in order if n in backbone], candidates
