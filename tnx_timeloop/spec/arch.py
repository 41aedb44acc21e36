"""Architecture: storage levels (outermost first), their fan-outs, and the compute level.

Two input forms become the same frozen :class:`Architecture`:

* the classic Timeloop tree (``version: 0.3``): ``subtree``/``local`` nodes,
  instance arrays ``name[0..N-1]``, ``meshX``/``meshY`` attributes;
* the v0.4 form: a flat ``nodes`` list of ``!Container``, ``!Component``,
  ``!Parallel`` and ``!Nothing``; containers carry ``spatial: {meshX, meshY}``
  and inline ``constraints``. As in Timeloop's v0.4 front-end, every container
  with a spatial fan-out becomes a zero-cost ``inter_<name>_spatial`` level that
  keeps no data and carries the container's spatial constraints.

Timeloop semantics reproduced here (``BufferLevel::ParseSpecs``): size in words is
``depth * block_size`` (or ``entries``, or ``sizeKB``); the v0.3 ``cluster-size``
defaults to ``width / (word_bits * block_size)``; in v0.4, ``block_size`` defaults
to ``width / (datawidth * cluster_size)``; a class containing ``DRAM`` is unbounded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from math import floor
from typing import Any

from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.spec._read import Collector, Node
from tnx_timeloop.spec.yaml_io import TaggedDict, line_of

__all__ = [
    "StorageLevel",
    "ComputeLevel",
    "Architecture",
    "parse_architecture",
    "architecture_to_dict",
    "is_buffer_class",
    "is_compute_class",
]

# Timeloop's class-name rules (model/topology.cpp): a substring match decides.
_BUFFER_CLASSES = ("DRAM", "SRAM", "regfile", "smartbuffer", "storage", "buffer", "register")
_COMPUTE_CLASSES = ("mac", "intmac", "fpmac", "compute", "multiplier", "adder", "alu", "pe_compute")
_NETWORK_CLASSES = ("XY_NoC", "Legacy", "ReductionTree", "SimpleMulticast")

Attributes = tuple[tuple[str, Any], ...]


def is_buffer_class(class_name: str) -> bool:
    """Whether Timeloop treats a component class as a storage level."""
    lowered = class_name.lower()
    return any(s.lower() in lowered for s in _BUFFER_CLASSES) and not is_network_class(class_name)


def is_compute_class(class_name: str) -> bool:
    """Whether Timeloop treats a component class as the arithmetic level."""
    lowered = class_name.lower()
    return any(s in lowered for s in _COMPUTE_CLASSES)


def is_network_class(class_name: str) -> bool:
    return any(s in class_name for s in _NETWORK_CLASSES)


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        # sorted: two files listing the same attributes in another order give equal specs
        return tuple(sorted(((str(k), _freeze(v)) for k, v in value.items()), key=lambda kv: kv[0]))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageLevel:
    """One storage level (all its instances).

    Attributes
    ----------
    name : str
        Level name as mappings target it.
    class_name : str
        Accelergy/Timeloop class (``DRAM``, ``smartbuffer_SRAM``, ``regfile``...).
    instances : int
        Number of instances (``mesh_x * mesh_y``).
    size_words : int or None
        Capacity in words per instance; ``None`` means unbounded (DRAM).
    word_bits : int
        Bits per word.
    block_size : int
        Words per vector access (energy is charged per block).
    cluster_size : int
        Instances sharing one physical access (energy is amortised over it).
    read_bandwidth, write_bandwidth : float or None
        Words per cycle per instance; ``None`` means unconstrained.
    multiple_buffering : float
        Capacity is divided by this (2.0 = double buffering).
    """

    name: str
    class_name: str
    subclass: str | None = None
    instances: int = 1
    mesh_x: int = 1
    mesh_y: int = 1
    size_words: int | None = None
    depth: int | None = None
    width_bits: int | None = None
    word_bits: int = 16
    block_size: int = 1
    cluster_size: int = 1
    read_bandwidth: float | None = None
    write_bandwidth: float | None = None
    multiple_buffering: float = 1.0
    min_utilization: float = 0.0
    is_dram: bool = False
    is_dummy: bool = False
    vector_access_energy_pj: float | None = None
    attributes: Attributes = ()

    @property
    def technology_attr(self) -> Any:
        """The component's own ``technology`` attribute (after inheritance), if any."""
        return dict(self.attributes).get("technology")

    @property
    def effective_size_words(self) -> int | None:
        """Capacity available to tiles: ``floor(size / multiple_buffering)``."""
        if self.size_words is None:
            return None
        return int(floor(self.size_words / self.multiple_buffering))

    @property
    def bits(self) -> int | None:
        """Capacity in bits per instance (None if unbounded)."""
        return None if self.size_words is None else self.size_words * self.word_bits

    def attribute(self, key: str, default: Any = None) -> Any:
        return dict(self.attributes).get(key, default)


@dataclass(frozen=True, slots=True, kw_only=True)
class ComputeLevel:
    """The arithmetic units (MACs)."""

    name: str
    class_name: str
    subclass: str | None = None
    instances: int = 1
    mesh_x: int = 1
    mesh_y: int = 1
    word_bits: int = 16
    energy_pj: float | None = None
    attributes: Attributes = ()

    def attribute(self, key: str, default: Any = None) -> Any:
        return dict(self.attributes).get(key, default)


@dataclass(frozen=True, slots=True, kw_only=True)
class Architecture:
    """A single-core accelerator: storage levels outermost first, then the compute level.

    ``constraints`` holds the inline v0.4 constraints as plain frozen data
    (``(target, kind, value)``), interpreted by the mapper.
    """

    storage: tuple[StorageLevel, ...]
    compute: ComputeLevel
    name: str = "architecture"
    version: str = field(default="0.3", compare=False)
    constraints: tuple[tuple[str, str, Any], ...] = field(default=())

    @property
    def technology(self) -> str | None:
        """The technology node named by the first component that gives one (e.g. ``"45nm"``)."""
        for level in (*self.storage, self.compute):
            tech = level.attribute("technology")
            if tech is not None:
                return str(tech)
        return None

    def __post_init__(self) -> None:
        if not self.storage:
            raise ValueError("an architecture needs at least one storage level")

    @property
    def level_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.storage)

    def level_index(self, name: str) -> int:
        """Index (outermost = 0) of the storage level called ``name``."""
        for i, s in enumerate(self.storage):
            if s.name == name:
                return i
        raise KeyError(name)

    def child_instances(self, i: int) -> tuple[int, int, int]:
        """(instances, mesh_x, mesh_y) of what level ``i`` feeds (next level or compute)."""
        if i + 1 < len(self.storage):
            c = self.storage[i + 1]
            return c.instances, c.mesh_x, c.mesh_y
        return self.compute.instances, self.compute.mesh_x, self.compute.mesh_y

    def fanout(self, i: int) -> int:
        """Spatial fan-out from storage level ``i`` to its children."""
        return self.child_instances(i)[0] // self.storage[i].instances

    def fanout_xy(self, i: int) -> tuple[int, int]:
        """(X, Y) fan-out from storage level ``i`` to its children."""
        _, cx, cy = self.child_instances(i)
        s = self.storage[i]
        return max(1, cx // max(1, s.mesh_x)), max(1, cy // max(1, s.mesh_y))

    @property
    def peak_macs_per_cycle(self) -> int:
        return self.compute.instances


# ---------------------------------------------------------------------------
# attribute interpretation shared by both forms
# ---------------------------------------------------------------------------

_NAME_RE = re.compile(r"^\s*([^\[\]]+?)\s*(?:\[\s*(\d+)\s*\.\.\s*(\d+)\s*\])?\s*$")


def _split_name(raw: str, where: Where) -> tuple[str, int]:
    m = _NAME_RE.match(raw)
    if not m:
        raise SpecError(where, f"cannot read component name {raw!r}; write e.g. PE[0..15]")
    name, lo, hi = m.groups()
    if lo is None:
        return name, 1
    count = int(hi) - int(lo) + 1
    if count < 1:
        raise SpecError(where, f"empty instance range in {raw!r}")
    return name, count


# Attributes consumed into typed fields; the rest stay in ``attributes`` for energy estimators.
_STORAGE_ATTRS = {
    "depth", "memory_depth", "entries", "sizeKB", "width", "memory_width", "block-size", "block_size",
    "n_words", "word-bits", "word_bits", "word_width", "datawidth", "cluster-size", "cluster_size",
    "read_bandwidth", "write_bandwidth", "bandwidth", "multiple-buffering", "multiple_buffering",
    "min-utilization", "min_utilization", "meshX", "meshY", "instances", "vector-access-energy",
}
_COMPUTE_ATTRS = {"meshX", "meshY", "instances", "word-bits", "word_bits", "datawidth", "energy"}


def _storage_from_attrs(
    name: str,
    class_name: str,
    subclass: str | None,
    attrs: Mapping[str, Any],
    where: Where,
    *,
    instances: int,
    mesh_x: int | None,
    mesh_y: int | None,
    v04: bool,
    inherited: Mapping[str, Any],
) -> StorageLevel:
    """Build a StorageLevel from its attributes with Timeloop's defaults and aliases."""
    node = Node(attrs, where)
    if class_name == "dummy_storage":
        mesh_x, mesh_y = _resolve_mesh(
            node.int("instances", default=instances, minimum=1), node.int("meshX", default=mesh_x),
            node.int("meshY", default=mesh_y), where, name,
        )
        return StorageLevel(name=name, class_name=class_name, instances=mesh_x * mesh_y, mesh_x=mesh_x,
                            mesh_y=mesh_y, size_words=0, word_bits=1, is_dummy=True)
    word_bits = node.int("word-bits", "word_bits", "word_width", "datawidth", default=None, minimum=1)
    if word_bits is None and v04:
        word_bits = Node(inherited, where).int("datawidth", "word-bits", default=None, minimum=1)
    word_bits = word_bits or 16
    width = node.int("width", "memory_width", default=None, minimum=1)
    cluster = node.int("cluster-size", "cluster_size", default=None, minimum=1)
    block = node.int("block-size", "block_size", "n_words", default=None, minimum=1)
    if v04:
        cluster = cluster or 1
        if block is None:
            if width is not None:
                if width % (word_bits * cluster) != 0:
                    raise SpecError(
                        where / "width",
                        f"width {width} bits is not a multiple of datawidth x cluster_size = "
                        f"{word_bits} x {cluster}; fix width or datawidth",
                    )
                block = max(1, width // (word_bits * cluster))
            else:
                block = 1
    else:
        block = block or 1
        if cluster is None:
            if width is not None:
                if width % (word_bits * block) != 0:
                    raise SpecError(
                        where / "width",
                        f"width {width} bits is not a multiple of word-bits x block-size = "
                        f"{word_bits} x {block}; set block-size or cluster-size so that they divide it",
                    )
                cluster = max(1, width // (word_bits * block))
            else:
                cluster = 1
    depth = node.int("depth", "memory_depth", default=None, minimum=0)
    entries = node.int("entries", default=None, minimum=0)
    size_kb = node.float("sizeKB", default=None)
    is_dram = "DRAM" in class_name.upper() or str(attrs.get("technology", "")).upper() == "DRAM"
    size: int | None
    if entries is not None:
        size = entries
    elif depth is not None:
        size = depth * block
    elif size_kb is not None:
        size = int(size_kb * 1024 * 8 // word_bits)
    else:
        size = None
    if is_dram:
        size = None if depth is None and entries is None else size
    elif size is None:
        raise SpecError(where, f"storage level {name!r} has no capacity: give 'depth' (and 'width') or 'entries'")
    read_bw = node.float("read_bandwidth", default=None)
    write_bw = node.float("write_bandwidth", default=None)
    bw = node.float("bandwidth", default=None)
    if bw is not None:
        read_bw = read_bw if read_bw is not None else bw / 2
        write_bw = write_bw if write_bw is not None else bw / 2
    mb = node.float("multiple-buffering", "multiple_buffering", default=1.0)
    if mb <= 0:
        raise SpecError(where / "multiple-buffering", f"must be > 0, got {mb}")
    mx = node.int("meshX", default=None, minimum=1)
    my = node.int("meshY", default=None, minimum=1)
    mesh_x = mx if mx is not None else mesh_x
    mesh_y = my if my is not None else mesh_y
    explicit = node.int("instances", default=None, minimum=1)
    if explicit is not None:
        instances = explicit
    mesh_x, mesh_y = _resolve_mesh(instances, mesh_x, mesh_y, where, name)
    vae = node.float("vector-access-energy", default=None)
    merged = {k: v for k, v in {**inherited, **attrs}.items() if k not in _STORAGE_ATTRS}
    return StorageLevel(
        name=name,
        class_name=class_name,
        subclass=subclass,
        instances=instances,
        mesh_x=mesh_x,
        mesh_y=mesh_y,
        size_words=size,
        depth=depth,
        width_bits=width,
        word_bits=word_bits,
        block_size=block,
        cluster_size=cluster,
        read_bandwidth=read_bw,
        write_bandwidth=write_bw,
        multiple_buffering=mb,
        min_utilization=node.float("min-utilization", "min_utilization", default=0.0),
        is_dram=is_dram,
        vector_access_energy_pj=vae,
        attributes=_freeze(merged),
    )


def _resolve_mesh(instances: int, mesh_x: int | None, mesh_y: int | None, where: Where, name: str) -> tuple[int, int]:
    """Timeloop's ValidateTopology: derive the missing one of meshX/meshY."""
    if mesh_x is not None and mesh_y is not None:
        if mesh_x * mesh_y != instances:
            raise SpecError(where, f"{name}: meshX x meshY = {mesh_x} x {mesh_y} != {instances} instances")
        return mesh_x, mesh_y
    if mesh_x is not None:
        if instances % mesh_x:
            raise SpecError(where, f"{name}: {instances} instances are not divisible by meshX = {mesh_x}")
        return mesh_x, instances // mesh_x
    if mesh_y is not None:
        if instances % mesh_y:
            raise SpecError(where, f"{name}: {instances} instances are not divisible by meshY = {mesh_y}")
        return instances // mesh_y, mesh_y
    return instances, 1


def _compute_from_attrs(
    name: str,
    class_name: str,
    subclass: str | None,
    attrs: Mapping[str, Any],
    where: Where,
    *,
    instances: int,
    mesh_x: int | None,
    mesh_y: int | None,
    inherited: Mapping[str, Any],
    v04: bool,
) -> ComputeLevel:
    node = Node(attrs, where)
    word_bits = node.int("word-bits", "word_bits", "datawidth", "multiplier_width", default=None, minimum=1)
    if word_bits is None and v04:
        word_bits = Node(inherited, where).int("datawidth", "word-bits", default=None, minimum=1)
    word_bits = word_bits or 16
    explicit = node.int("instances", default=None, minimum=1)
    if explicit is not None:
        instances = explicit
    mx = node.int("meshX", default=None, minimum=1)
    my = node.int("meshY", default=None, minimum=1)
    mesh_x, mesh_y = _resolve_mesh(
        instances, mx if mx is not None else mesh_x, my if my is not None else mesh_y, where, name
    )
    merged = {k: v for k, v in {**inherited, **attrs}.items() if k not in _COMPUTE_ATTRS}
    return ComputeLevel(
        name=name,
        class_name=class_name,
        subclass=subclass,
        instances=instances,
        mesh_x=mesh_x,
        mesh_y=mesh_y,
        word_bits=word_bits,
        energy_pj=node.float("energy", default=None),
        attributes=_freeze(merged),
    )


# ---------------------------------------------------------------------------
# v0.3 tree form
# ---------------------------------------------------------------------------


def _parse_tree(arch: Node, errors: Collector) -> tuple[list[StorageLevel], ComputeLevel | None, str | None]:
    storages: list[StorageLevel] = []  # outermost first
    compute: ComputeLevel | None = None
    technology: str | None = None
    multiplication = 1
    inherited: dict[str, Any] = {}
    cur = arch
    depth = 0
    while cur.has("subtree"):
        subtrees = cur.list("subtree")
        if len(subtrees) != 1:
            raise SpecError(cur.at("subtree"), f"Timeloop supports exactly one subtree per level, got {len(subtrees)}")
        cur = Node(subtrees[0], cur.at("subtree") / 0)
        cur.check_keys({"name", "attributes", "local", "subtree", "description"})
        raw_name = cur.str("name", default=f"level{depth}")
        _, count = _split_name(raw_name, cur.at("name"))
        multiplication *= count
        if cur.has("attributes"):
            attrs = Node(cur.data["attributes"], cur.at("attributes"))
            inherited = {**inherited, **{k: v for k, v in attrs.data.items() if k in {"technology", "global_cycle_seconds", "latency"}}}
            technology = str(inherited.get("technology", technology)) if "technology" in inherited else technology
        local_nodes = cur.list("local", default=[])
        local_storages: list[StorageLevel] = []
        for j, comp in enumerate(local_nodes):
            cw = cur.at("local") / j
            try:
                cnode = Node(comp, cw)
                cnode.check_keys({"name", "class", "subclass", "attributes", "required_actions", "description"})
                cname, ccount = _split_name(cnode.str("name"), cnode.at("name"))
                cls = cnode.str("class", default="")
                sub = cnode.str("subclass", default=None)
                attrs = cnode.data.get("attributes") or {}
                if not isinstance(attrs, Mapping):
                    raise SpecError(cnode.at("attributes"), "attributes must be a mapping")
                n = multiplication * ccount
                probe = f"{cls} {sub or ''}"
                if is_network_class(cls):
                    continue
                if is_buffer_class(probe):
                    local_storages.append(
                        _storage_from_attrs(
                            cname, cls, sub, attrs, cnode.at("attributes"), instances=n,
                            mesh_x=None, mesh_y=None, v04=False, inherited=inherited,
                        )
                    )
                elif is_compute_class(probe):
                    if compute is not None:
                        raise SpecError(cw, f"a second compute level {cname!r}; Timeloop allows one (already {compute.name!r})")
                    compute = _compute_from_attrs(
                        cname, cls, sub, attrs, cnode.at("attributes"), instances=n,
                        mesh_x=None, mesh_y=None, inherited=inherited, v04=False,
                    )
                else:
                    errors.add(
                        cnode.at("class"),
                        f"component class {cls!r} is neither storage (a class containing one of "
                        f"{list(_BUFFER_CLASSES)}) nor compute (one of {list(_COMPUTE_CLASSES)})",
                    )
            except SpecError as err:
                errors.extend(err)
        storages.extend(local_storages)
        depth += 1
    return storages, compute, technology


# ---------------------------------------------------------------------------
# v0.4 nodes form
# ---------------------------------------------------------------------------


def _parse_v04(arch: Node, errors: Collector) -> tuple[list[StorageLevel], ComputeLevel | None, list, str | None]:
    storages: list[StorageLevel] = []
    compute: ComputeLevel | None = None
    constraints: list[tuple[str, str, Any]] = []
    state = {"mesh_x": 1, "mesh_y": 1, "inherited": {}, "technology": None}

    def walk(nodes: list, where: Where) -> None:
        nonlocal compute
        for i, raw in enumerate(nodes):
            nw = (where / i).at_line(line_of(raw))
            if not isinstance(raw, Mapping):
                errors.add(nw, f"expected a !Container, !Component, !Parallel or !Nothing node, got {raw!r}")
                continue
            tag = raw.tag if isinstance(raw, TaggedDict) else _guess_tag(raw)
            node = Node(raw, nw)
            try:
                if tag == "Nothing":
                    continue
                if tag in ("Parallel", "Hierarchical"):
                    walk(node.list("nodes", default=[]), node.at("nodes"))
                    continue
                if tag == "Container":
                    node.check_keys({"name", "attributes", "spatial", "constraints", "description", "max_utilization"})
                    cname = node.str("name")
                    attrs = node.data.get("attributes") or {}
                    state["inherited"] = {**state["inherited"], **attrs}
                    if "technology" in attrs:
                        state["technology"] = str(attrs["technology"])
                    sx, sy = _spatial(node)
                    cons = node.data.get("constraints") or {}
                    if sx * sy > 1:
                        dummy = StorageLevel(
                            name=f"inter_{cname}_spatial",
                            class_name="dummy_storage",
                            instances=state["mesh_x"] * state["mesh_y"],
                            mesh_x=state["mesh_x"],
                            mesh_y=state["mesh_y"],
                            size_words=0,
                            word_bits=1,
                            is_dummy=True,
                        )
                        storages.append(dummy)
                        for kind, value in _constraint_items(cons, node.at("constraints")):
                            constraints.append((dummy.name, kind, value))
                        state["mesh_x"] *= sx
                        state["mesh_y"] *= sy
                    elif cons:
                        for kind, _value in _constraint_items(cons, node.at("constraints")):
                            if kind == "spatial":
                                errors.add(node.at("constraints"), f"container {cname!r} has spatial constraints but no spatial fan-out")
                    continue
                if tag == "Component":
                    node.check_keys({"name", "class", "subclass", "attributes", "spatial", "constraints",
                                     "required_actions", "description", "enabled", "area_scale", "energy_scale"})
                    cname = node.str("name")
                    cls = node.str("class", default="")
                    sub = node.str("subclass", default=None)
                    attrs = node.data.get("attributes") or {}
                    if not isinstance(attrs, Mapping):
                        raise SpecError(node.at("attributes"), "attributes must be a mapping")
                    # a component's spatial fan-out replicates it and everything below it
                    sx, sy = _spatial(node)
                    state["mesh_x"] *= sx
                    state["mesh_y"] *= sy
                    mx, my = state["mesh_x"], state["mesh_y"]
                    probe = f"{cls} {sub or ''}"
                    if is_compute_class(probe) and not is_buffer_class(probe):
                        if compute is not None:
                            raise SpecError(nw, f"a second compute level {cname!r}; one is allowed (already {compute.name!r})")
                        compute = _compute_from_attrs(
                            cname, cls, sub, attrs, node.at("attributes"), instances=mx * my,
                            mesh_x=mx, mesh_y=my, inherited=state["inherited"], v04=True,
                        )
                    elif is_buffer_class(probe):
                        if compute is not None:
                            raise SpecError(nw, f"storage {cname!r} comes after the compute level {compute.name!r}; compute must be innermost")
                        storages.append(
                            _storage_from_attrs(
                                cname, cls, sub, attrs, node.at("attributes"), instances=mx * my,
                                mesh_x=mx, mesh_y=my, v04=True, inherited=state["inherited"],
                            )
                        )
                        for kind, value in _constraint_items(node.data.get("constraints") or {}, node.at("constraints")):
                            constraints.append((cname, kind, value))
                    else:
                        errors.add(
                            node.at("class"),
                            f"component class {cls!r} is neither storage (a class containing one of "
                            f"{list(_BUFFER_CLASSES)}) nor compute (one of {list(_COMPUTE_CLASSES)})",
                        )
                    continue
                errors.add(nw, f"unknown node tag !{tag}; use !Container, !Component, !Parallel or !Nothing")
            except SpecError as err:
                errors.extend(err)

    walk(arch.list("nodes"), arch.at("nodes"))
    return storages, compute, constraints, state["technology"]


def _guess_tag(raw: Mapping) -> str:
    if "nodes" in raw and "class" not in raw:
        return "Parallel"
    if "class" in raw:
        return "Component"
    return "Container"


def _spatial(node: Node) -> tuple[int, int]:
    sp = node.data.get("spatial")
    if not sp:
        return 1, 1
    sn = Node(sp, node.at("spatial"))
    sn.check_keys({"meshX", "meshY"})
    return sn.int("meshX", default=1, minimum=1), sn.int("meshY", default=1, minimum=1)


def _constraint_items(cons: Any, where: Where) -> list[tuple[str, Any]]:
    """Inline v0.4 constraints: ``{dataspace: ..., temporal: ..., spatial: ...}`` or a list."""
    if not cons:
        return []
    if isinstance(cons, list):
        items = []
        for i, c in enumerate(cons):
            if not isinstance(c, Mapping) or "type" not in c:
                raise SpecError(where / i, "a constraint list entry needs a 'type'")
            items.append((str(c["type"]), _freeze(c)))
        return items
    if not isinstance(cons, Mapping):
        raise SpecError(where, "constraints must be a mapping like {dataspace: ..., temporal: ..., spatial: ...}")
    allowed = {"dataspace", "temporal", "spatial", "bypass", "datatype", "utilization", "parallelism", "max_overbooked_proportion"}
    out = []
    for key, value in cons.items():
        if key not in allowed:
            raise SpecError(where / str(key), f"unknown constraint kind {key!r}; allowed: {sorted(allowed)}")
        out.append((str(key), _freeze(value)))
    return out


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------


def parse_architecture(data: Mapping[str, Any], *, where: Where | None = None) -> Architecture:
    """Build an :class:`Architecture` from the ``architecture`` section (v0.3 tree or v0.4 nodes).

    Raises
    ------
    SpecError
        Naming the file, key path and fix for every problem found.
    """
    where = where or Where(None, ("architecture",))
    node = Node(data, where)
    node.check_keys({"version", "subtree", "local", "nodes", "name", "attributes"})
    errors = Collector()
    version = str(node.raw("version", default="0.3" if node.has("subtree") else "0.4"))
    constraints: list = []
    if node.has("nodes"):
        storages, compute, constraints, technology = _parse_v04(node, errors)
        version = "0.4"
    elif node.has("subtree"):
        storages, compute, technology = _parse_tree(node, errors)
    elif node.has("local"):
        # a flat local list (no hierarchy): treat as a one-level tree
        storages, compute, technology = _parse_tree(Node({"subtree": [{"name": "system", "local": node.data["local"]}]}, where), errors)
    else:
        raise SpecError(where, "architecture needs 'nodes' (v0.4) or 'subtree' (v0.3 tree form)")
    errors.raise_if_any()
    if compute is None:
        raise SpecError(where, "no compute level found: add a component of class intmac, fpmac, mac or compute")
    if not storages:
        raise SpecError(where, "no storage level found: add e.g. a DRAM component")
    names = [s.name for s in storages]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SpecError(where, f"storage level names repeat: {dupes}; names must be unique")
    # instances must not grow going outward, and must divide going inward
    chain = [(s.name, s.instances) for s in storages] + [(compute.name, compute.instances)]
    for (outer, n_out), (inner, n_in) in zip(chain, chain[1:], strict=False):
        if n_in % n_out:
            raise SpecError(
                where,
                f"{inner} has {n_in} instances, not a multiple of the {n_out} instances of {outer} above it",
            )
    return Architecture(
        storage=tuple(storages),
        compute=compute,
        name=str(node.raw("name", default="architecture")),
        version=version,
        constraints=tuple(constraints),
    )


def architecture_to_dict(arch: Architecture) -> dict[str, Any]:
    """The ``architecture`` section in v0.4 form (round-trips through :func:`parse_architecture`).

    Every component states its ``instances``/``meshX``/``meshY`` explicitly, so no
    container fan-outs are needed; ``inter_*_spatial`` levels are written as
    ``dummy_storage`` components.
    """
    nodes: list[Any] = []
    nodes.append(TaggedDict("Container", {"name": arch.name}))
    by_target: dict[str, dict[str, Any]] = {}
    for target, kind, value in arch.constraints:
        by_target.setdefault(target, {})[kind] = _thaw(value)
    for s in arch.storage:
        attrs: dict[str, Any] = {k: _thaw(v) for k, v in s.attributes}
        attrs.update({"instances": s.instances, "meshX": s.mesh_x, "meshY": s.mesh_y, "datawidth": s.word_bits})
        if s.size_words is not None:
            attrs["entries"] = s.size_words
        attrs["block_size"] = s.block_size
        attrs["cluster_size"] = s.cluster_size
        for k, v in (("read_bandwidth", s.read_bandwidth), ("write_bandwidth", s.write_bandwidth),
                     ("vector-access-energy", s.vector_access_energy_pj)):
            if v is not None:
                attrs[k] = v
        if s.multiple_buffering != 1.0:
            attrs["multiple_buffering"] = s.multiple_buffering
        if s.min_utilization:
            attrs["min_utilization"] = s.min_utilization
        if s.depth is not None:
            attrs["depth"] = s.depth
        if s.width_bits is not None:
            attrs["width"] = s.width_bits
        comp: dict[str, Any] = {"name": s.name, "class": "dummy_storage" if s.is_dummy else s.class_name}
        if s.subclass:
            comp["subclass"] = s.subclass
        comp["attributes"] = attrs
        if s.name in by_target:
            comp["constraints"] = by_target[s.name]
        nodes.append(TaggedDict("Component", comp))
    c = arch.compute
    cattrs = {k: _thaw(v) for k, v in c.attributes}
    cattrs.update({"instances": c.instances, "meshX": c.mesh_x, "meshY": c.mesh_y, "datawidth": c.word_bits})
    if c.energy_pj is not None:
        cattrs["energy"] = c.energy_pj
    comp = {"name": c.name, "class": c.class_name, "attributes": cattrs}
    if c.subclass:
        comp["subclass"] = c.subclass
    nodes.append(TaggedDict("Component", comp))
    return {"version": 0.4, "name": arch.name, "nodes": nodes}


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        if value and all(isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str) for x in value):
            return {k: _thaw(v) for k, v in value}
        return [_thaw(v) for v in value]
    return value


