"""Mappings: per storage level, temporal and spatial loop factors, loop orders and bypass.

A Timeloop mapping is a list of directives::

    - {target: Buffer, type: temporal, factors: "C=4 P=5,1", permutation: "PC"}
    - {target: Buffer, type: spatial, factors: "M=16", permutation: "MC", split: 1}
    - {target: Buffer, type: datatype, keep: [Inputs], bypass: [Weights]}

``factors`` may be ``"C=4 M=2"``, ``"C4 M2"``, a list ``["C=4", "M=2"]`` or a
mapping ``{C: 4}``; ``P=5,1`` is an imperfect factor (end 5, residual 1).
Permutations list dimensions innermost first, as a string of one-letter names,
a space-separated string, or a list. At a spatial level the first ``split``
dimensions of the permutation go to the X axis, the rest to Y.

Resolution against an :class:`~tnx_timeloop.spec.arch.Architecture` and a
:class:`~tnx_timeloop.spec.problem.Problem` gives a frozen :class:`Mapping`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.spec._read import Collector, Node, to_int
from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.problem import Problem

__all__ = [
    "LevelMapping",
    "Mapping",
    "parse_mapping",
    "mapping_to_list",
    "parse_factors",
    "parse_permutation",
    "check_coverage",
]


@dataclass(frozen=True, slots=True)
class LevelMapping:
    """The loops and bypass choices of one storage level.

    Factors are per problem dimension, in the problem's dimension order.
    ``*_residual`` equals the factor for perfect factors; otherwise it is the
    trip count of the last iteration (Timeloop's ``P=end,residual``).
    """

    temporal: tuple[int, ...]
    temporal_residual: tuple[int, ...]
    temporal_order: tuple[str, ...]
    spatial: tuple[int, ...]
    spatial_residual: tuple[int, ...]
    spatial_order: tuple[str, ...]
    split: int
    keep: tuple[bool, ...]

    @property
    def is_imperfect(self) -> bool:
        return self.temporal != self.temporal_residual or self.spatial != self.spatial_residual


@dataclass(frozen=True, slots=True)
class Mapping:
    """A complete mapping: one :class:`LevelMapping` per storage level, outermost first."""

    levels: tuple[LevelMapping, ...]
    dimensions: tuple[str, ...]
    dataspaces: tuple[str, ...]

    @property
    def is_imperfect(self) -> bool:
        return any(lv.is_imperfect for lv in self.levels)

    def spatial_xy(self, level: int) -> tuple[int, int]:
        """Product of the spatial factors mapped to X and to Y at ``level``."""
        lv = self.levels[level]
        index = {d: i for i, d in enumerate(self.dimensions)}
        x = y = 1
        for pos, dim in enumerate(lv.spatial_order):
            f = lv.spatial[index[dim]]
            if pos < lv.split:
                x *= f
            else:
                y *= f
        return x, y


# ---------------------------------------------------------------------------
# token parsing
# ---------------------------------------------------------------------------

_FACTOR_TOKEN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*?)\s*(?:=|<=|>=)?\s*(-?\d+)(?:\s*,\s*(\d+))?$")


def parse_factors(
    value: Any, dims: Sequence[str], where: Where, *, allow_relations: bool = False
) -> dict[str, tuple[str, int, int | None]]:
    """Parse a factors spec into ``{dim: (relation, value, residual)}``.

    ``relation`` is ``"="`` unless ``allow_relations`` (constraints), where
    ``"<="``/``">="`` are accepted too. ``residual`` is None unless given (``P=5,1``).

    Raises
    ------
    SpecError
        On an unknown dimension (listing the problem's) or an unreadable token.
    """
    tokens: list[str]
    if value is None:
        return {}
    if isinstance(value, MappingABC):
        tokens = [f"{k}={v}" for k, v in value.items()]
    elif isinstance(value, str):
        tokens = _split_factor_string(value)
    elif isinstance(value, (list, tuple)):
        tokens = []
        for item in value:
            tokens.extend(_split_factor_string(str(item)))
    else:
        raise SpecError(where, f"factors must be a string like 'C=4 M=2', a list or a mapping, got {value!r}")
    dimset = set(dims)
    result: dict[str, tuple[str, int, int | None]] = {}
    for tok in tokens:
        rel = "="
        m_rel = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|=)\s*(-?\d+)(?:\s*,\s*(\d+))?\s*$", tok)
        if m_rel:
            name, rel, num, res = m_rel.groups()
        else:
            name, num, res = _split_glued(tok, dims, where)
        if name not in dimset:
            raise SpecError(where, f"unknown dimension {name!r} in factors; problem has {list(dims)}")
        if rel != "=" and not allow_relations:
            raise SpecError(where, f"'{tok}': a mapping needs exact factors (=); <= and >= are for constraints")
        if name in result:
            raise SpecError(where, f"dimension {name!r} appears twice in factors")
        result[name] = (rel, int(num), int(res) if res is not None else None)
    return result


def _split_factor_string(text: str) -> list[str]:
    # tokens are separated by whitespace, except around '=' and ','
    text = re.sub(r"\s*(<=|>=|=)\s*", r"\1", text.strip())
    text = re.sub(r"\s*,\s*", ",", text)
    return [t for t in text.split() if t]


def _split_glued(tok: str, dims: Sequence[str], where: Where) -> tuple[str, str, str | None]:
    """'C4' or 'P5,1' -> ('C', '4', None) / ('P', '5', '1'), preferring the longest known name."""
    m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*?)(\d+)(?:,(\d+))?$", tok)
    if not m:
        raise SpecError(where, f"cannot read factor {tok!r}; write e.g. 'C=4' or 'P=5,1'")
    body = tok.split(",")[0]
    for name in sorted(dims, key=len, reverse=True):
        if body.startswith(name) and body[len(name):].isdigit():
            res = tok.split(",")[1] if "," in tok else None
            return name, body[len(name):], res
    return m.group(1), m.group(2), m.group(3)


def parse_permutation(value: Any, dims: Sequence[str], where: Where, *, partial: bool = True) -> tuple[str, ...]:
    """Parse a permutation (innermost first) into a tuple of dimension names.

    Accepts ``"CMRS"`` (one-letter names), ``"C M R"``/``"c1,c2"`` or a list.
    With ``partial`` the result may name a subset; repeats are errors.
    """
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        names = [str(v).strip() for v in value]
        expanded: list[str] = []
        for n in names:
            expanded.extend(_tokenize_permutation(n, dims, where) if n not in dims else [n])
        names = expanded
    elif isinstance(value, str):
        names = _tokenize_permutation(value, dims, where)
    else:
        raise SpecError(where, f"permutation must be a string or a list, got {value!r}")
    seen: set[str] = set()
    for n in names:
        if n not in dims:
            raise SpecError(where, f"unknown dimension {n!r} in permutation; problem has {list(dims)}")
        if n in seen:
            raise SpecError(where, f"dimension {n!r} appears twice in permutation")
        seen.add(n)
    if not partial and len(names) != len(dims):
        missing = [d for d in dims if d not in seen]
        raise SpecError(where, f"permutation is missing dimensions {missing}")
    return tuple(names)


def _tokenize_permutation(text: str, dims: Sequence[str], where: Where) -> list[str]:
    parts = [p for p in re.split(r"[\s,]+", text.strip()) if p]
    out: list[str] = []
    by_len = sorted(dims, key=len, reverse=True)
    for part in parts:
        if part in dims:
            out.append(part)
            continue
        # glued one-letter (or longest-match) names, e.g. "CMRSNPQ"
        i = 0
        while i < len(part):
            for name in by_len:
                if part.startswith(name, i):
                    out.append(name)
                    i += len(name)
                    break
            else:
                raise SpecError(where, f"unknown dimension {part[i:]!r} in permutation {text!r}; problem has {list(dims)}")
    return out


# ---------------------------------------------------------------------------
# resolution
# ---------------------------------------------------------------------------

_DIRECTIVE_KEYS = {"target", "type", "factors", "permutation", "split", "keep", "bypass", "name"}


def parse_mapping(
    data: Any, arch: Architecture, problem: Problem, *, where: Where | None = None
) -> Mapping:
    """Resolve a list of Timeloop mapping directives into a :class:`Mapping`.

    Unmentioned factors are 1; unmentioned dimensions of a permutation are
    appended (outermost) in problem order; unmentioned data-spaces are kept,
    except at ``inter_*_spatial`` levels, which keep nothing.

    Raises
    ------
    SpecError
        Naming the directive (``mapping[3].factors``) and what is wrong: an
        unknown target or dimension, a spatial directive at a level without
        fan-out, factors whose product does not cover a dimension, ...
    """
    where = where or Where(None, ("mapping",))
    if isinstance(data, MappingABC) and "mapping" in data:
        data = data["mapping"]
        where = where / "mapping" if not where.keys else where
    if not isinstance(data, list):
        raise SpecError(where, "a mapping is a list of directives ({target, type, factors, permutation, ...})")
    dims = problem.dimensions
    nlev = len(arch.storage)
    ds_names = problem.dataspace_names
    temporal: list[dict[str, tuple[int, int | None]]] = [{} for _ in range(nlev)]
    spatial: list[dict[str, tuple[int, int | None]]] = [{} for _ in range(nlev)]
    t_order: list[tuple[str, ...]] = [() for _ in range(nlev)]
    s_order: list[tuple[str, ...]] = [() for _ in range(nlev)]
    split: list[int | None] = [None] * nlev
    keep: list[list[bool | None]] = [[None] * len(ds_names) for _ in range(nlev)]
    errors = Collector()
    seen: set[tuple[int, str]] = set()
    for i, raw in enumerate(data):
        dw = where / i
        try:
            node = Node(raw, dw)
            node.check_keys(_DIRECTIVE_KEYS)
            target = node.raw("target")
            if target is None:
                raise SpecError(dw, "directive has no 'target'")
            if isinstance(target, int) and not isinstance(target, bool):
                # Timeloop allows numeric targets: storage level id, 0 = innermost
                if not 0 <= target < nlev:
                    raise SpecError(node.at("target"), f"target level {target} out of range 0..{nlev - 1}")
                level = nlev - 1 - target
            else:
                try:
                    level = arch.level_index(str(target))
                except KeyError:
                    raise SpecError(
                        node.at("target"), f"unknown target {target!r}; storage levels are {list(arch.level_names)}"
                    ) from None
            kind = node.str("type", default="temporal").lower()
            if kind == "bypass":
                kind = "datatype"
            if kind not in {"temporal", "spatial", "datatype"}:
                raise SpecError(node.at("type"), f"unknown directive type {kind!r}; use temporal, spatial, datatype or bypass")
            key = (level, kind)
            if key in seen and kind != "datatype":
                raise SpecError(dw, f"a second {kind} directive for {arch.storage[level].name}")
            seen.add(key)
            if kind == "datatype":
                for field_name, value in (("keep", True), ("bypass", False)):
                    for name in node.list(field_name, default=[]) or []:
                        if name not in ds_names:
                            errors.add(node.at(field_name), f"unknown data-space {name!r}; problem has {list(ds_names)}")
                            continue
                        keep[level][ds_names.index(name)] = value
                continue
            if kind == "spatial" and arch.fanout(level) == 1:
                raise SpecError(
                    dw,
                    f"spatial directive at {arch.storage[level].name}, which has no fan-out (its children have "
                    f"as many instances as it has); put spatial factors at a level with fan-out",
                )
            facs = parse_factors(node.raw("factors"), dims, node.at("factors"))
            perm = parse_permutation(node.raw("permutation"), dims, node.at("permutation"))
            resolved = {}
            for dim, (_, value, residual) in facs.items():
                if value == 0:
                    # Timeloop: 0 means "the whole dimension"
                    value = problem.bound(dim)
                if value < 1:
                    raise SpecError(node.at("factors"), f"factor of {dim} must be >= 1, got {value}")
                if residual is not None and not 1 <= residual <= value:
                    raise SpecError(node.at("factors"), f"residual of {dim} must be in 1..{value}, got {residual}")
                resolved[dim] = (value, residual)
            if kind == "temporal":
                temporal[level] = resolved
                t_order[level] = perm
            else:
                spatial[level] = resolved
                s_order[level] = perm
                if node.has("split"):
                    split[level] = to_int(node.data["split"], node.at("split"), minimum=0)
        except SpecError as err:
            errors.extend(err)
    errors.raise_if_any()

    levels = []
    for lv in range(nlev):
        t = tuple(temporal[lv].get(d, (1, None))[0] for d in dims)
        tr = tuple(temporal[lv].get(d, (1, None))[1] or temporal[lv].get(d, (1, None))[0] for d in dims)
        s = tuple(spatial[lv].get(d, (1, None))[0] for d in dims)
        sr = tuple(spatial[lv].get(d, (1, None))[1] or spatial[lv].get(d, (1, None))[0] for d in dims)
        to = t_order[lv] + tuple(d for d in dims if d not in t_order[lv])
        so = s_order[lv] + tuple(d for d in dims if d not in s_order[lv])
        sp = split[lv] if split[lv] is not None else len(dims)
        default_keep = not arch.storage[lv].is_dummy
        kp = tuple(default_keep if k is None else k for k in keep[lv])
        levels.append(LevelMapping(t, tr, to, s, sr, so, min(sp, len(dims)), kp))
    mapping = Mapping(tuple(levels), dims, ds_names)
    check_coverage(mapping, problem, where)
    return mapping


def loop_order(mapping: Mapping) -> list[tuple[int, str, str]]:
    """All loops outermost first as ``(level, kind, dim)``; kind is ``"temporal"`` or ``"spatial"``.

    At each level the temporal loops (outermost first) precede its spatial loops,
    matching Timeloop's nest: a level's spatial fan-out sits inside its temporal loops.
    """
    out = []
    for lv, level in enumerate(mapping.levels):
        for d in reversed(level.temporal_order):
            out.append((lv, "temporal", d))
        for d in reversed(level.spatial_order):
            out.append((lv, "spatial", d))
    return out


def check_coverage(mapping: Mapping, problem: Problem, where: Where) -> None:
    """Check that each dimension's loops cover its bound exactly (Timeloop's residual rule).

    From the outermost loop of a dimension inward, ``value = (value - 1) * end + residual``
    must end at the bound; for perfect factors this is the product of the factors.
    """
    index = {d: i for i, d in enumerate(problem.dimensions)}
    problems = []
    for d in problem.dimensions:
        j = index[d]
        value = None
        for lv, kind, dim in loop_order(mapping):
            if dim != d:
                continue
            level = mapping.levels[lv]
            end = level.temporal[j] if kind == "temporal" else level.spatial[j]
            res = level.temporal_residual[j] if kind == "temporal" else level.spatial_residual[j]
            value = res if value is None else (value - 1) * end + res
        value = 1 if value is None else value
        if value != problem.bound(d):
            prod_ = 1
            for level in mapping.levels:
                prod_ *= level.temporal[j] * level.spatial[j]
            detail = f"factors multiply to {prod_}" if not mapping.is_imperfect else f"factors and residuals cover {value}"
            problems.append(f"dimension {d}: {detail}, but its bound is {problem.bound(d)}")
    if problems:
        raise SpecError(where, "; ".join(problems) + "; fix the factors so that each dimension is covered exactly")


def mapping_to_list(mapping: Mapping, arch: Architecture, *, single_letter: bool | None = None) -> list[dict[str, Any]]:
    """Timeloop v3 mapping directives for ``mapping`` (round-trips through :func:`parse_mapping`).

    Permutations are written as strings of one-letter names when every dimension
    name is one letter (as ``timeloop-model`` needs), else as lists.
    """
    dims = mapping.dimensions
    if single_letter is None:
        single_letter = all(len(d) == 1 for d in dims)
    out: list[dict[str, Any]] = []

    def perm(order: tuple[str, ...]) -> Any:
        return "".join(order) if single_letter else list(order)

    def facs(values: tuple[int, ...], residual: tuple[int, ...]) -> str:
        parts = []
        for d, f, r in zip(dims, values, residual, strict=True):
            parts.append(f"{d}={f}" if f == r else f"{d}={f},{r}")
        return " ".join(parts)

    for lv, level in enumerate(mapping.levels):
        name = arch.storage[lv].name
        out.append({
            "target": name,
            "type": "datatype",
            "keep": [ds for ds, k in zip(mapping.dataspaces, level.keep, strict=True) if k],
            "bypass": [ds for ds, k in zip(mapping.dataspaces, level.keep, strict=True) if not k],
        })
    for lv, level in enumerate(mapping.levels):
        name = arch.storage[lv].name
        if arch.fanout(lv) > 1:
            out.append({
                "target": name,
                "type": "spatial",
                "factors": facs(level.spatial, level.spatial_residual),
                "permutation": perm(level.spatial_order),
                "split": level.split,
            })
        out.append({
            "target": name,
            "type": "temporal",
            "factors": facs(level.temporal, level.temporal_residual),
            "permutation": perm(level.temporal_order),
        })
    return out


__all__ += ["loop_order"]
