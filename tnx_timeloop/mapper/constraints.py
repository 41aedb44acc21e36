"""Mapspace constraints in Timeloop's form, normalised per storage level.

Sources, merged in order: the architecture's inline v0.4 ``constraints``, then
files with ``architecture_constraints``/``mapspace_constraints`` (each a list of
directives or ``{targets: [...]}``). A directive is::

    {target: Buffer, type: temporal|spatial|datatype|bypass|utilization,
     factors: "C=4 M<=8 P>=2 S=0", permutation: "PQ" | [P, Q], split: 1,
     keep: [Inputs], bypass: [Weights], min: 0.5}

``=`` fixes a factor, ``<=``/``>=`` bound it, ``0`` gives the level all of the
dimension that other fixed factors leave. A permutation lists dimensions
innermost first; a partial one fixes the innermost positions and leaves the
others free (Timeloop's "baked prefix").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.spec._read import Node, to_float, to_int
from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.mapping import parse_factors, parse_permutation
from tnx_timeloop.spec.problem import Problem

__all__ = ["LoopConstraints", "LevelConstraints", "Constraints", "parse_constraints", "REMAINDER"]

REMAINDER = -1  # factor "0": all of the dimension that the fixed factors leave


@dataclass(frozen=True, slots=True)
class LoopConstraints:
    """Constraints on one level's temporal or spatial loops (dimension names as keys)."""

    fixed: tuple[tuple[str, int], ...] = ()  # value or REMAINDER
    maximum: tuple[tuple[str, int], ...] = ()
    minimum: tuple[tuple[str, int], ...] = ()
    prefix: tuple[str, ...] = ()  # permutation: innermost positions, in order
    split: int | None = None  # spatial only

    def fixed_value(self, dim: str) -> int | None:
        return dict(self.fixed).get(dim)

    def max_value(self, dim: str) -> int | None:
        return dict(self.maximum).get(dim)

    def min_value(self, dim: str) -> int | None:
        return dict(self.minimum).get(dim)


@dataclass(frozen=True, slots=True)
class LevelConstraints:
    """All constraints on one storage level."""

    temporal: LoopConstraints = field(default_factory=LoopConstraints)
    spatial: LoopConstraints = field(default_factory=LoopConstraints)
    keep: frozenset[str] = frozenset()
    bypass: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Constraints:
    """Constraints for every storage level (outermost first) plus a utilization floor."""

    levels: tuple[LevelConstraints, ...]
    min_utilization: float = 0.0
    sources: tuple[str, ...] = ()

    @classmethod
    def none(cls, arch: Architecture) -> Constraints:
        return cls(tuple(LevelConstraints() for _ in arch.storage))


_TYPES = {"temporal", "spatial", "datatype", "bypass", "dataspace", "utilization", "parallelism",
          "max_overbooked_proportion"}


def _merge_loops(old: LoopConstraints, new: LoopConstraints, where: Where) -> LoopConstraints:
    fixed = dict(old.fixed)
    for dim, value in new.fixed:
        if dim in fixed and fixed[dim] != value:
            raise SpecError(where, f"conflicting constraints on factor {dim}: {fixed[dim]} and {value}")
        fixed[dim] = value
    maximum = dict(old.maximum)
    for dim, value in new.maximum:
        maximum[dim] = min(value, maximum.get(dim, value))
    minimum = dict(old.minimum)
    for dim, value in new.minimum:
        minimum[dim] = max(value, minimum.get(dim, value))
    prefix = new.prefix if len(new.prefix) >= len(old.prefix) else old.prefix
    if old.prefix and new.prefix and old.prefix[: len(new.prefix)] != new.prefix[: len(old.prefix)]:
        raise SpecError(where, f"conflicting permutation constraints {list(old.prefix)} and {list(new.prefix)}")
    split = new.split if new.split is not None else old.split
    return LoopConstraints(tuple(fixed.items()), tuple(maximum.items()), tuple(minimum.items()), prefix, split)


def _directives(raw: Any, where: Where) -> Iterable[tuple[Any, Where]]:
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        if "targets" in raw:
            raw, where = raw["targets"], where / "targets"
        elif "constraints" in raw:
            raw, where = raw["constraints"], where / "constraints"
        else:
            raise SpecError(where, "expected a list of constraint directives or {targets: [...]}")
    if not isinstance(raw, list):
        raise SpecError(where, "expected a list of constraint directives")
    return [(d, where / i) for i, d in enumerate(raw)]


def _inline(kind: str, value: Any) -> dict[str, Any]:
    """v0.4 inline constraint (frozen tuples) -> a directive mapping."""
    def thaw(v: Any) -> Any:
        if isinstance(v, tuple) and v and all(isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str) for x in v):
            return {k: thaw(x) for k, x in v}
        if isinstance(v, tuple):
            return [thaw(x) for x in v]
        return v
    body = thaw(value)
    if not isinstance(body, dict):
        body = {}
    return {"type": "datatype" if kind in ("dataspace", "bypass") else kind, **body}


def parse_constraints(
    arch: Architecture,
    problem: Problem,
    sources: Iterable[tuple[str, Any]] = (),
) -> Constraints:
    """Collect and normalise constraints for ``arch`` and ``problem``.

    ``sources`` are ``(file, (key, data))`` pairs as :func:`tnx_timeloop.api.load_spec`
    gives them (``spec.constraints``); the arch's inline constraints come first.

    Raises
    ------
    SpecError
        Naming the file and directive for unknown targets, dimensions,
        data-spaces or types.
    """
    dims = problem.dimensions
    levels = [LevelConstraints() for _ in arch.storage]
    min_util = 0.0
    files: list[str] = []
    items: list[tuple[str, dict, Where]] = []
    for target, kind, value in arch.constraints:
        d = _inline(kind, value)
        items.append((target, d, Where("architecture", ("constraints", target, kind))))
    for src, payload in sources:
        files.append(src)
        key, data = payload if isinstance(payload, tuple) else ("constraints", payload)
        for raw, w in _directives(data, Where(src, (key,))):
            node = Node(raw, w)
            target = node.raw("target")
            if target is None:
                raise SpecError(w, "constraint directive has no 'target'")
            items.append((str(target), dict(raw), w))
    for target, raw, w in items:
        try:
            level = arch.level_index(target)
        except KeyError:
            raise SpecError(w / "target", f"unknown target {target!r}; storage levels are {list(arch.level_names)}") from None
        node = Node(raw, w)
        node.check_keys({"target", "type", "factors", "permutation", "split", "keep", "bypass", "min", "max",
                         "no_link_transfer", "no_multicast_no_reduction", "no_temporal_reuse", "name"})
        kind = str(raw.get("type", "temporal")).lower()
        if kind not in _TYPES:
            raise SpecError(w / "type", f"unknown constraint type {kind!r}; choose one of {sorted(_TYPES)}")
        lc = levels[level]
        if kind in ("datatype", "bypass", "dataspace"):
            names = problem.dataspace_names
            keep, bypass = set(lc.keep), set(lc.bypass)
            for fld, bucket in (("keep", keep), ("bypass", bypass)):
                for ds in node.list(fld, default=[]) or []:
                    if ds not in names:
                        raise SpecError(w / fld, f"unknown data-space {ds!r}; problem has {list(names)}")
                    bucket.add(ds)
            if keep & bypass:
                raise SpecError(w, f"data-spaces both kept and bypassed: {sorted(keep & bypass)}")
            levels[level] = replace(lc, keep=frozenset(keep), bypass=frozenset(bypass))
            continue
        if kind in ("utilization", "parallelism"):
            min_util = max(min_util, to_float(raw.get("min", 0.0), w / "min"))
            continue
        if kind == "max_overbooked_proportion":
            continue
        facs = parse_factors(raw.get("factors"), dims, w / "factors", allow_relations=True)
        fixed, maximum, minimum = [], [], []
        for dim, (rel, value, _res) in facs.items():
            if rel == "=":
                fixed.append((dim, REMAINDER if value == 0 else value))
            elif rel == "<=":
                maximum.append((dim, value))
            else:
                minimum.append((dim, value))
        prefix = parse_permutation(raw.get("permutation"), dims, w / "permutation")
        split = to_int(raw["split"], w / "split", minimum=0) if "split" in raw else None
        loops = LoopConstraints(tuple(fixed), tuple(maximum), tuple(minimum), prefix, split if kind == "spatial" else None)
        if kind == "spatial":
            if arch.fanout(level) == 1 and any(v not in (1, REMAINDER) for _, v in fixed):
                raise SpecError(w, f"spatial constraint at {target}, which has no fan-out")
            levels[level] = replace(lc, spatial=_merge_loops(lc.spatial, loops, w))
        else:
            levels[level] = replace(lc, temporal=_merge_loops(lc.temporal, loops, w))
    return Constraints(tuple(levels), min_util, tuple(files))
