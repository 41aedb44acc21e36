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
            kept = [tensor_names[ds] for ds, k in zip(mapping.dataspaces, level.keep, strict=True) if k]
            if kept:
                nodes.append({"type": "Storage", "tensors": kept, "component": storage.name})
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
    return {"nodes": nodes}


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

    for i, node in enumerate(_nodes(tree)):
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
            for name in node.get("tensors", []):
                if name not in tensors:
                    raise BackendError(f"AccelForge mapping: {where} stores unknown tensor {name!r}")
                t = ds_index[tensors[name]]
                tile[order.index(comp), t] = box(extents, t)
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

    A tree is a Timeloop mapping when every memory's Storage nodes are adjacent (no loop
    between them), memories appear outermost first, each level's spatial loops follow its
    temporal loops, no dimension has two temporal loops in one level (adjacent ones are
    merged) nor spatial loops on both axes, and every tile shape divides its enclosing tile.
    """
    dims = {v: k for k, v in rank_variables.items()}
    tensors = {v: k for k, v in tensor_names.items()}
    order = [s.name for s in arch.storage] + [arch.compute.name]
    L = len(arch.storage)
    D = len(problem.dimensions)
    dim_index = {d: i for i, d in enumerate(problem.dimensions)}
    extents = dict(problem.instance)
    temporal = [[1] * D for _ in range(L)]
    spatial = [[1] * D for _ in range(L)]
    t_order: list[list[str]] = [[] for _ in range(L)]
    x_dims: list[list[str]] = [[] for _ in range(L)]
    y_dims: list[list[str]] = [[] for _ in range(L)]
    keep = [[False] * len(problem.dataspaces) for _ in range(L)]
    loops_since_storage = [False] * L
    spatial_seen = [False] * L
    cur = 0
    previous: tuple[str, str, int] | None = None  # (kind, dim, level) of the last loop node
    for i, node in enumerate(_nodes(tree)):
        kind = node.get("type")
        if kind == "Storage":
            li = order.index(node["component"]) if node.get("component") in order[:L] else -1
            if li < 0:
                return None, f"nodes[{i}]: unknown memory {node.get('component')!r}"
            if li < cur or (li == cur and loops_since_storage[cur]):
                return None, f"nodes[{i}]: tensors of {node['component']} sit at different loop depths"
            cur = li
            for name in node.get("tensors", []):
                keep[li][problem.dataspace_names.index(tensors[name])] = True
            previous = None
            continue
        if kind not in ("Temporal", "Spatial"):
            continue
        d = dims.get(node.get("rank_variable"))
        if d is None:
            return None, f"nodes[{i}]: unknown rank variable {node.get('rank_variable')!r}"
        shape = int(node.get("tile_shape", 0))
        if shape < 1 or extents[d] % shape:
            return None, f"nodes[{i}]: tile {shape} of {d} does not divide {extents[d]} (imperfect factor)"
        count, extents[d] = extents[d] // shape, shape
        if kind == "Temporal":
            if spatial_seen[cur]:
                return None, f"nodes[{i}]: a temporal loop below {order[cur]}'s spatial loops"
            loops_since_storage[cur] = True
            j = dim_index[d]
            if temporal[cur][j] > 1 and previous != ("Temporal", d, cur):
                return None, f"nodes[{i}]: two separate temporal loops over {d} at {order[cur]}"
            if temporal[cur][j] == 1:
                t_order[cur].append(d)
            temporal[cur][j] *= count
        else:
            child = order.index(node["component"]) if node.get("component") in order else -1
            fanning = child - 1
            if fanning < 0:
                return None, f"nodes[{i}]: fan-out into {node.get('component')!r} has no parent level"
            if fanning < cur:
                return None, f"nodes[{i}]: fan-out of {order[fanning]} below the storage of {order[cur]}"
            cur = fanning
            loops_since_storage[cur] = True
            spatial_seen[cur] = True
            axis_dims, other = (y_dims, x_dims) if str(node.get("name", "")).endswith("_Y") else (x_dims, y_dims)
            if d in other[cur]:
                return None, f"nodes[{i}]: {d} is spread over both mesh axes of {order[cur]}"
            if d not in axis_dims[cur]:
                axis_dims[cur].append(d)
            spatial[cur][dim_index[d]] *= count
        previous = (kind, d, cur)
    if any(v != 1 for v in extents.values()):
        return None, f"innermost tiles are not single points: {extents}"
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
