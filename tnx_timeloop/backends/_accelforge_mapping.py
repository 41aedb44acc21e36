"""Timeloop-style mappings <-> AccelForge 1.0.467 mapping trees, and what a tree implies.

An AccelForge mapping is a flat list of nodes, outermost first (as the worker serialises it)::

    Storage(tensors=[A, B, Z], component=DRAM)
    Storage(tensors=[A], component=Buffer)
    Temporal(rank_variable=n, tile_shape=8)        # iterations = enclosing tile / tile_shape
    Spatial(rank_variable=m, tile_shape=1, name=MAC_Y, component=MAC)
    Compute(component=MAC, einsum=GEMM)

A Spatial node's ``component`` is the level whose instances the fan-out creates (the child in
Timeloop's terms) and ``name`` is that level's fan-out dimension (``<level>_X``/``_Y``, as
:func:`~tnx_timeloop.backends.accelforge_translate.translate_arch` declares them).

* :func:`mapping_to_tree`: one of our (perfect-factor) mappings as a tree. Each storage level
  is a Storage node of the tensors it keeps, then its temporal loops (outermost first), then
  its spatial loops; ``inter_*_spatial`` levels keep nothing and only contribute loops.
* :func:`tree_to_mapping`: the reverse, when the tree is a Timeloop mapping (AccelForge may
  place the tensors of one memory at different loop depths, which Timeloop cannot express).
* :func:`tree_facts`: tile sizes, partition sizes, utilized instances and spatial fan-outs
  implied by a tree, in the shapes of a :class:`~tnx_timeloop.model.report.Report`.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from typing import Any

import numpy as np

from tnx_timeloop.errors import BackendError, MappingError
from tnx_timeloop.spec.arch import Architecture
from tnx_timeloop.spec.mapping import LevelMapping, Mapping
from tnx_timeloop.spec.problem import Problem

__all__ = ["TreeFacts", "mapping_to_tree", "tree_to_mapping", "tree_facts", "fanout_child"]


def fanout_child(arch: Architecture, level: int) -> str:
    """The AccelForge component a fan-out from storage ``level`` creates: the next non-dummy level."""
    for s in arch.storage[level + 1 :]:
        if not s.is_dummy:
            return s.name
    return arch.compute.name


def _relevant_rank_variables(problem: Problem, rank_variables: MappingABC[str, str],
                             tensor_names: MappingABC[str, str]) -> dict[str, set[str]]:
    """AccelForge tensor -> the rank variables its projection depends on."""
    relevance = problem.relevance()
    return {
        tensor_names[ds]: {rank_variables[d] for d, used in zip(problem.dimensions, relevance[t], strict=True) if used}
        for t, ds in enumerate(problem.dataspace_names)
    }


def _hoist(nodes: list[dict[str, Any]], relevant: MappingABC[str, set[str]], order: list[str]) -> list[dict[str, Any]]:
    """Move each one-tensor Storage node above the temporal loops over it that do not index it.

    Timeloop keeps a tile across consecutive iterations of outer loops that do not change it,
    even when a spatial fan-out lies in between; AccelForge refills a tile on every iteration
    of the loops above its Storage node. Placing the node above those irrelevant loops (and
    above the fan-outs that create its memory's instances, which AccelForge then reads as
    each instance holding its share) gives AccelForge Timeloop's reuse: the per-instance tile
    is unchanged. A node never passes a loop that indexes its tensor, a fan-out into a deeper
    level, nor the Storage of the same tensor; it only moves if it passes a temporal loop.
    """
    out: list[dict[str, Any]] = []
    for node in nodes:
        out.append(node)
        if node["type"] != "Storage":
            continue
        (tensor,) = node["tensors"]
        level = order.index(node["component"])
        target = j = len(out) - 1
        while j > 0:
            above = out[j - 1]
            if above["type"] == "Temporal" and above["rank_variable"] not in relevant[tensor]:
                target = j - 1  # worth moving above this loop
            elif above["type"] == "Spatial" and order.index(above["component"]) <= level:
                pass
            elif not (above["type"] == "Storage" and tensor not in above["tensors"]):
                break
            j -= 1
        out.insert(target, out.pop())
    merged: list[dict[str, Any]] = []
    for node in out:  # adjacent nodes of one memory become one node
        if merged and node["type"] == "Storage" and merged[-1]["type"] == "Storage" \
                and merged[-1]["component"] == node["component"]:
            merged[-1] = {**merged[-1], "tensors": [*merged[-1]["tensors"], *node["tensors"]]}
        else:
            merged.append(node)
    return merged


def mapping_to_tree(
    mapping: Mapping,
    arch: Architecture,
    problem: Problem,
    *,
    rank_variables: MappingABC[str, str],
    tensor_names: MappingABC[str, str],
    einsum: str,
) -> dict[str, Any]:
    """Our mapping as an AccelForge mapping document body (``{"nodes": [...]}``).

    Each kept tensor's Storage node is then hoisted above the temporal loops directly above
    it that do not index the tensor (see :func:`_hoist`), so that AccelForge reuses tiles the
    way Timeloop does.

    Parameters
    ----------
    mapping : Mapping
        A perfect-factor mapping of ``problem`` onto ``arch``.
    arch, problem : Architecture, Problem
        The specs.
    rank_variables, tensor_names : mapping of str to str
        Dimension -> rank variable and data-space -> tensor, from the workload translation.
    einsum : str
        The einsum's name.

    Raises
    ------
    MappingError
        For imperfect factors (AccelForge's tile shapes are exact divisors here).
    """
    if mapping.is_imperfect:
        raise MappingError("AccelForge evaluates perfect factorizations only; this mapping has residual factors")
    index = {d: i for i, d in enumerate(problem.dimensions)}
    extents = dict(problem.instance)
    nodes: list[dict[str, Any]] = []
    for lv, level in enumerate(mapping.levels):
        storage = arch.storage[lv]
        if not storage.is_dummy:
            for ds, kept in zip(mapping.dataspaces, level.keep, strict=True):
                if kept or lv == 0:
                    nodes.append({"type": "Storage", "tensors": [tensor_names[ds]], "component": storage.name})
        for d in reversed(level.temporal_order):
            factor = level.temporal[index[d]]
            if factor > 1:
                extents[d] //= factor
                nodes.append({"type": "Temporal", "rank_variable": rank_variables[d], "tile_shape": extents[d]})
        child = fanout_child(arch, lv)
        for pos in reversed(range(len(level.spatial_order))):
            d = level.spatial_order[pos]
            factor = level.spatial[index[d]]
            if factor > 1:
                extents[d] //= factor
                axis = "X" if pos < level.split else "Y"
                nodes.append({
                    "type": "Spatial",
                    "rank_variable": rank_variables[d],
                    "tile_shape": extents[d],
                    "name": f"{child}_{axis}",
                    "component": child,
                })
    nodes.append({"type": "Compute", "component": arch.compute.name, "einsum": einsum})
    order = [s.name for s in arch.storage] + [arch.compute.name]
    return {"nodes": _hoist(nodes, _relevant_rank_variables(problem, rank_variables, tensor_names), order)}


@dataclass(frozen=True, slots=True)
class TreeFacts:
    """What an AccelForge mapping tree implies, in Report shapes (``L`` storage levels, ``T`` data-spaces).

    Attributes
    ----------
    tile_words, partition_words : int64 (L, T)
        Words of each kept tensor resident in one instance / served to one instance over
        the run (0 where not kept).
    utilized_instances : int64 (L,)
        Instances of each level in use.
    spatial_x, spatial_y : int64 (L,)
        Fan-out used from each level on each axis.
    compute_utilized : int
        MAC units in use.
    temporal_iterations : int
        Product of all temporal loop trip counts (cycles at full bandwidth).
    """

    tile_words: np.ndarray
    partition_words: np.ndarray
    utilized_instances: np.ndarray
    spatial_x: np.ndarray
    spatial_y: np.ndarray
    compute_utilized: int
    temporal_iterations: int


def _iterations(extent: int, tile: int, where: str) -> int:
    if tile < 1:
        raise BackendError(f"AccelForge mapping: {where} has tile_shape {tile}")
    return -(-extent // tile)


def _nodes(tree: MappingABC[str, Any]) -> list[MappingABC[str, Any]]:
    nodes = tree.get("nodes") if isinstance(tree, MappingABC) else None
    if not isinstance(nodes, list):
        raise BackendError(f"AccelForge mapping: expected {{'nodes': [...]}}, got {str(tree)[:200]}")
    return nodes


def tree_facts(
    tree: MappingABC[str, Any],
    arch: Architecture,
    problem: Problem,
    *,
    rank_variables: MappingABC[str, str],
    tensor_names: MappingABC[str, str],
) -> TreeFacts:
    """Tile sizes, partitions, utilized instances and fan-outs implied by a mapping tree.

    Raises
    ------
    BackendError
        When the tree names an unknown component, rank variable or tensor.
    """
    dims = {v: k for k, v in rank_variables.items()}
    tensors = {v: k for k, v in tensor_names.items()}
    order = [s.name for s in arch.storage] + [arch.compute.name]
    L, T = len(arch.storage), len(problem.dataspaces)
    ds_index = {d: t for t, d in enumerate(problem.dataspace_names)}
    projections = problem.projection_arrays()
    bounds = np.asarray(problem.bounds, dtype=np.int64)
    dim_index = {d: i for i, d in enumerate(problem.dimensions)}
    extents = bounds.copy()
    tile = np.zeros((L, T), dtype=np.int64)
    spatial_counts: list[tuple[int, str, int, int]] = []  # (child index, axis, dim index, count)
    temporal = 1

    def box(ext: np.ndarray, t: int) -> int:
        a = projections[t]
        high = ext - 1
        return int(np.prod(a.clip(min=0) @ high - (-a).clip(min=0) @ high + 1))

    nodes = _nodes(tree)
    for i, node in enumerate(nodes):
        kind = node.get("type")
        where = f"nodes[{i}] ({kind})"
        if kind in ("Temporal", "Spatial"):
            rv = node.get("rank_variable")
            if rv not in dims:
                raise BackendError(f"AccelForge mapping: {where} loops over unknown rank variable {rv!r}")
            d = dim_index[dims[rv]]
            count = _iterations(int(extents[d]), int(node.get("tile_shape", 0)), where)
            extents[d] = int(node["tile_shape"])
            if kind == "Temporal":
                temporal *= count
            else:
                comp = node.get("component")
                if comp not in order:
                    raise BackendError(f"AccelForge mapping: {where} fans out into unknown component {comp!r}")
                axis = "Y" if str(node.get("name", "")).endswith("_Y") else "X"
                spatial_counts.append((order.index(comp), axis, d, count))
        elif kind == "Storage":
            comp = node.get("component")
            if comp not in order[:L]:
                raise BackendError(f"AccelForge mapping: {where} stores in unknown memory {comp!r}")
            level = order.index(comp)
            # one instance's share: apply the fan-outs into this memory that sit below the node
            share = extents.copy()
            for later in nodes[i + 1:]:
                if later.get("type") == "Spatial" and later.get("component") in order \
                        and order.index(later["component"]) <= level and later.get("rank_variable") in dims:
                    share[dim_index[dims[later["rank_variable"]]]] = int(later.get("tile_shape", 1))
            for name in node.get("tensors", []):
                if name not in tensors:
                    raise BackendError(f"AccelForge mapping: {where} stores unknown tensor {name!r}")
                t = ds_index[tensors[name]]
                tile[level, t] = box(share, t)
    utilized = np.ones(L, dtype=np.int64)
    partition = np.zeros((L, T), dtype=np.int64)
    spatial_x = np.ones(L, dtype=np.int64)
    spatial_y = np.ones(L, dtype=np.int64)
    for lv in range(L):
        per_dim = np.ones(len(bounds), dtype=np.int64)
        for child, _axis, d, count in spatial_counts:
            if child <= lv:
                utilized[lv] *= count
                per_dim[d] *= count
        served = -(-bounds // per_dim)
        for t in range(T):
            if tile[lv, t]:
                partition[lv, t] = box(served, t)
    for child, axis, _d, count in spatial_counts:
        fanning = min(child, L) - 1
        if axis == "X":
            spatial_x[fanning] *= count
        else:
            spatial_y[fanning] *= count
    compute = int(np.prod([c for *_, c in spatial_counts], dtype=np.int64)) if spatial_counts else 1
    return TreeFacts(tile, partition, utilized, spatial_x, spatial_y, compute, temporal)


def tree_to_mapping(
    tree: MappingABC[str, Any],
    arch: Architecture,
    problem: Problem,
    *,
    rank_variables: MappingABC[str, str],
    tensor_names: MappingABC[str, str],
) -> tuple[Mapping | None, str]:
    """Our mapping for an AccelForge tree, or ``(None, reason)`` when Timeloop cannot express it.

    A tensor's Storage node may slide across temporal loops that do not index it without
    changing its tile or its reuse. The tree is a Timeloop mapping when, with such slides,
    every memory's tensors can sit at one position, the memories outermost first; each
    level's spatial loops follow its temporal loops; no dimension has two separate temporal
    loops in one level nor spatial loops on both mesh axes; and every tile shape divides its
    enclosing tile. Each memory is placed at its outermost possible position.
    """
    dims = {v: k for k, v in rank_variables.items()}
    tensors = {v: k for k, v in tensor_names.items()}
    relevant = _relevant_rank_variables(problem, rank_variables, tensor_names)
    order = [s.name for s in arch.storage] + [arch.compute.name]
    L, D = len(arch.storage), len(problem.dimensions)
    loops: list[MappingABC[str, Any]] = []
    entries: list[tuple[int, str, int]] = []  # (level, tensor, position = loops above it)
    for i, node in enumerate(_nodes(tree)):
        kind = node.get("type")
        if kind == "Storage":
            if node.get("component") not in order[:L]:
                return None, f"nodes[{i}]: unknown memory {node.get('component')!r}"
            for name in node.get("tensors", []):
                if name not in tensors:
                    return None, f"nodes[{i}]: unknown tensor {name!r}"
                entries.append((order.index(node["component"]), name, len(loops)))
        elif kind in ("Temporal", "Spatial"):
            if node.get("rank_variable") not in dims:
                return None, f"nodes[{i}]: unknown rank variable {node.get('rank_variable')!r}"
            loops.append(node)

    def level_of(loop: MappingABC[str, Any]) -> int:
        return order.index(loop["component"]) if loop.get("component") in order else len(order)

    def slides(pos: int, tensor: str, level: int, step: int) -> int:
        while 0 <= pos + min(step, 0) < len(loops):
            loop = loops[pos + min(step, 0)]
            temporal_ok = loop["type"] == "Temporal" and loop["rank_variable"] not in relevant[tensor]
            if not (temporal_ok or (loop["type"] == "Spatial" and level_of(loop) <= level)):
                break
            pos += step
        return pos

    position: dict[int, int] = {}
    previous = 0
    for lv in range(L):
        mine = [(slides(p, t, lv, -1), slides(p, t, lv, +1)) for level, t, p in entries if level == lv]
        if not mine:
            continue
        # below every fan-out into this memory or above it (Timeloop's tiles are per instance)
        after_fanouts = max((k + 1 for k, loop in enumerate(loops)
                             if loop["type"] == "Spatial" and level_of(loop) <= lv), default=0)
        low = max(max(a for a, _ in mine), previous, after_fanouts)
        high = min(b for _, b in mine)
        if low > high:
            return None, f"the tensors of {order[lv]} sit at different loop depths"
        position[lv] = previous = low

    extents = dict(problem.instance)
    dim_index = {d: i for i, d in enumerate(problem.dimensions)}
    temporal = [[1] * D for _ in range(L)]
    spatial = [[1] * D for _ in range(L)]
    t_order: list[list[str]] = [[] for _ in range(L)]
    x_dims: list[list[str]] = [[] for _ in range(L)]
    y_dims: list[list[str]] = [[] for _ in range(L)]
    spatial_seen = [False] * L
    cur, last = 0, None
    for i, loop in enumerate(loops):
        cur = max([cur, *(lv for lv, p in position.items() if p <= i)])
        d = dims[loop["rank_variable"]]
        shape = int(loop.get("tile_shape", 0))
        if shape < 1 or extents[d] % shape:
            return None, f"loop {i}: tile {shape} of {d} does not divide {extents[d]} (imperfect factor)"
        count, extents[d] = extents[d] // shape, shape
        j = dim_index[d]
        if loop["type"] == "Temporal":
            if spatial_seen[cur]:
                child = cur + 1
                if child >= L or child in position:
                    return None, f"loop {i}: a temporal loop over {d} below {order[cur]}'s spatial loops"
                cur = child
            if temporal[cur][j] > 1 and last != ("Temporal", d, cur):
                return None, f"loop {i}: two separate temporal loops over {d} at {order[cur]}"
            if temporal[cur][j] == 1:
                t_order[cur].append(d)
            temporal[cur][j] *= count
        else:
            child = order.index(loop["component"]) if loop.get("component") in order else -1
            fanning = child - 1
            if fanning < 0:
                return None, f"loop {i}: fan-out into {loop.get('component')!r} has no parent level"
            if fanning < cur:
                return None, f"loop {i}: fan-out of {order[fanning]} below the storage of {order[cur]}"
            cur = fanning
            spatial_seen[cur] = True
            axis_dims, other = (y_dims, x_dims) if str(loop.get("name", "")).endswith("_Y") else (x_dims, y_dims)
            if d in other[cur]:
                return None, f"loop {i}: {d} is spread over both mesh axes of {order[cur]}"
            if d not in axis_dims[cur]:
                axis_dims[cur].append(d)
            spatial[cur][j] *= count
        last = (loop["type"], d, cur)
    if any(v != 1 for v in extents.values()):
        return None, f"innermost tiles are not single points: {extents}"
    keep = [[False] * len(problem.dataspaces) for _ in range(L)]
    for lv, name, _ in entries:
        keep[lv][problem.dataspace_names.index(tensors[name])] = True
    keep[0] = [True] * len(problem.dataspaces)
    levels = []
    for lv in range(L):
        t_perm = tuple(reversed(t_order[lv])) + tuple(d for d in problem.dimensions if d not in t_order[lv])
        xs, ys = tuple(reversed(x_dims[lv])), tuple(reversed(y_dims[lv]))
        s_perm = xs + ys + tuple(d for d in problem.dimensions if d not in xs and d not in ys)
        levels.append(
            LevelMapping(
                temporal=tuple(temporal[lv]),
                temporal_residual=tuple(temporal[lv]),
                temporal_order=t_perm,
                spatial=tuple(spatial[lv]),
                spatial_residual=tuple(spatial[lv]),
                spatial_order=s_perm,
                split=len(xs),
                keep=tuple(keep[lv]),
            )
        )
    return Mapping(tuple(levels), problem.dimensions, problem.dataspace_names), ""
