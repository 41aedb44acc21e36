"""Multi-core architectures: per-core Timeloop archs plus the interconnect and the shared memory.

A multi-core file has one top-level key, ``multicore``::

    multicore:
      name: quad-core-edge-tpu
      clock_hz: 4.8e+8                      # optional; Hz
      cores:
        - name: tpu                         # a core type
          arch: ../single-core/edge-tpu-like.yaml   # path relative to this file ...
          # architecture: {version: 0.4, nodes: [...]}  # ... or the architecture inline
          count: 4
          variables: {}                     # Jinja variables for a templated arch file
      noc:
        topology: mesh2d                    # mesh2d | ring | crossbar | bus
        dims: [2, 2]                        # mesh2d: [X, Y]; others: [nodes] (optional)
        link_bandwidth_bits_per_cycle: 256
        hop_latency_cycles: 1
        energy_pj_per_bit_hop: 0.1
      memory:
        type: LPDDR4
        bandwidth_bits_per_cycle: 128
        energy_pj_per_bit: 8.0
        size_bytes: 8589934592              # optional
        latency_cycles: 100                 # optional

Cores occupy the NoC nodes in the order listed (all instances of the first core
type, then the next); node ``i`` of a ``mesh2d`` sits at ``(i % X, i // X)``.
Each core's own outermost level (its DRAM) stands for its port to the shared
memory; :func:`as_single_architecture` folds a homogeneous package into one
Timeloop hierarchy (shared memory -> cores' levels replicated over the mesh).

Parse (:func:`parse_multicore`), write (:func:`multicore_to_dict`) and the
package view are separate functions; the specs are frozen dataclasses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.spec._read import Collector, Node
from tnx_timeloop.spec.arch import Architecture, architecture_to_dict, parse_architecture
from tnx_timeloop.spec.yaml_io import load_yaml_file

__all__ = [
    "TOPOLOGIES",
    "CoreSpec",
    "NocSpec",
    "MemorySpec",
    "MultiCoreArchitecture",
    "parse_multicore",
    "load_multicore_file",
    "multicore_to_dict",
    "as_single_architecture",
]

TOPOLOGIES = ("mesh2d", "ring", "crossbar", "bus")

_TOP_KEYS = {"version", "name", "description", "clock_hz", "cores", "noc", "memory"}
_CORE_KEYS = {"name", "arch", "architecture", "count", "variables", "description"}
_NOC_KEYS = {"topology", "dims", "link_bandwidth_bits_per_cycle", "hop_latency_cycles", "energy_pj_per_bit_hop"}
_MEMORY_KEYS = {"type", "bandwidth_bits_per_cycle", "energy_pj_per_bit", "size_bytes", "latency_cycles"}


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreSpec:
    """One core type of a multi-core architecture.

    Attributes
    ----------
    name : str
        Core type name (unique in the file).
    count : int
        Number of cores of this type.
    arch : Architecture
        The core's Timeloop architecture (its outermost level is its memory port).
    source : str or None
        The ``arch`` path as written in the file (relative to it), or None when inline.
    variables : tuple of (str, value)
        Template variables the ``arch`` file was rendered with.
    """

    name: str
    count: int
    arch: Architecture
    source: str | None = None
    variables: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class NocSpec:
    """The on-chip (or on-package) network between the cores.

    Attributes
    ----------
    topology : str
        One of :data:`TOPOLOGIES`.
    dims : tuple of int
        ``mesh2d``: ``(X, Y)`` with ``X * Y`` = total cores; otherwise ``(nodes,)``.
    link_bandwidth_bits_per_cycle : float
        Bits one link carries per cycle (each direction).
    hop_latency_cycles : float
        Cycles per router/link hop.
    energy_pj_per_bit_hop : float
        Energy of moving one bit over one hop, in pJ.
    """

    topology: str
    dims: tuple[int, ...]
    link_bandwidth_bits_per_cycle: float
    hop_latency_cycles: float
    energy_pj_per_bit_hop: float

    @property
    def nodes(self) -> int:
        """Number of NoC nodes (one per core)."""
        n = 1
        for d in self.dims:
            n *= d
        return n

    def hops(self, src: int, dst: int) -> int:
        """Hops between nodes ``src`` and ``dst`` (0 for the same node).

        ``mesh2d``: Manhattan distance (XY routing); ``ring``: the shorter way
        round; ``crossbar`` and ``bus``: one hop between distinct nodes.
        """
        n = self.nodes
        if not (0 <= src < n and 0 <= dst < n):
            raise IndexError(f"nodes are 0..{n - 1}, got {src} and {dst}")
        if src == dst:
            return 0
        if self.topology == "mesh2d":
            x = self.dims[0]
            return abs(src % x - dst % x) + abs(src // x - dst // x)
        if self.topology == "ring":
            d = abs(src - dst)
            return min(d, n - d)
        return 1


@dataclass(frozen=True, slots=True, kw_only=True)
class MemorySpec:
    """The shared off-chip memory.

    Attributes
    ----------
    type : str
        Technology, e.g. ``LPDDR4``, ``DDR3``, ``HBM2`` (names the energy tables know).
    bandwidth_bits_per_cycle : float
        Total bits per cycle to or from the memory.
    energy_pj_per_bit : float
        Energy per bit read or written, in pJ.
    size_bytes : int or None
        Capacity in bytes; None if not given.
    latency_cycles : float
        Access latency in cycles (0 if not given).
    """

    type: str
    bandwidth_bits_per_cycle: float
    energy_pj_per_bit: float
    size_bytes: int | None = None
    latency_cycles: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class MultiCoreArchitecture:
    """Cores (by type, with counts), their interconnect and the shared memory.

    Attributes
    ----------
    name : str
        Architecture name.
    cores : tuple of CoreSpec
        Core types in node order.
    noc : NocSpec
        The interconnect.
    memory : MemorySpec
        The shared off-chip memory.
    clock_hz : float or None
        Clock of cores and NoC in Hz (None if not given).
    description : str
        Free text.
    """

    name: str
    cores: tuple[CoreSpec, ...]
    noc: NocSpec
    memory: MemorySpec
    clock_hz: float | None = None
    description: str = field(default="", compare=False)
    version: str = field(default="0.1", compare=False)

    @property
    def total_cores(self) -> int:
        """Number of cores over all types."""
        return sum(c.count for c in self.cores)

    @property
    def peak_macs_per_cycle(self) -> int:
        """MACs per cycle with every core busy."""
        return sum(c.count * c.arch.peak_macs_per_cycle for c in self.cores)

    @property
    def homogeneous(self) -> bool:
        """Whether every core has the same architecture."""
        return len({c.arch for c in self.cores}) == 1

    def core_of_node(self, node: int) -> CoreSpec:
        """The core type placed on NoC node ``node`` (cores fill nodes in listed order)."""
        if not 0 <= node < self.total_cores:
            raise IndexError(f"nodes are 0..{self.total_cores - 1}, got {node}")
        for core in self.cores:
            if node < core.count:
                return core
            node -= core.count
        raise AssertionError("unreachable")  # pragma: no cover


# ---------------------------------------------------------------------------
# parse
# ---------------------------------------------------------------------------


def _positive(node: Node, key: str, errors: Collector, *, default: Any = ..., allow_zero: bool = False) -> Any:
    try:
        value = node.float(key, default=default)
    except SpecError as err:
        errors.extend(err)
        return None
    if value is None or value is default:
        return value
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        errors.add(node.at(key), f"must be {bound}, got {value:g}")
        return None
    return value


def _parse_core(raw: Any, where: Where, base_dir: Path | None, errors: Collector) -> CoreSpec | None:
    node = Node(raw, where)
    node.check_keys(_CORE_KEYS)
    name = node.str("name")
    count = node.int("count", default=1, minimum=1)
    variables_raw = node.raw("variables", default={}) or {}
    if not isinstance(variables_raw, Mapping):
        raise SpecError(node.at("variables"), "variables must be a mapping like {rows: 32}")
    variables = tuple((str(k), variables_raw[k]) for k in variables_raw)
    has_path, has_inline = node.has("arch"), node.has("architecture")
    if has_path == has_inline:
        raise SpecError(
            node.where,
            f"core {name!r} needs exactly one of 'arch' (a file path relative to this file) "
            "or 'architecture' (the architecture section inline)",
        )
    if has_inline:
        if variables:
            errors.add(node.at("variables"), "variables apply to a templated 'arch' file, not to an inline architecture")
        arch = parse_architecture(node.data["architecture"], where=node.at("architecture"))
        return CoreSpec(name=name, count=count, arch=arch, source=None, variables=variables)
    source = node.str("arch")
    path = Path(source)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.exists():
        raise SpecError(
            node.at("arch"),
            f"architecture file {source!r} not found (resolved to {path}); paths are relative to the multi-core file",
        )
    doc = load_yaml_file(path, variables=dict(variables))
    if not isinstance(doc, Mapping) or "architecture" not in doc:
        raise SpecError(Where(path), "expected a top-level 'architecture' key (a single-core architecture)")
    arch = parse_architecture(doc["architecture"], where=Where(path, ("architecture",)))
    return CoreSpec(name=name, count=count, arch=arch, source=source, variables=variables)


def _parse_noc(node: Node, total: int, errors: Collector) -> NocSpec | None:
    node.check_keys(_NOC_KEYS)
    topology = node.str("topology").lower()
    if topology not in TOPOLOGIES:
        errors.add(node.at("topology"), f"unknown topology {topology!r}; choose one of {list(TOPOLOGIES)}")
        return None
    dims_raw = node.raw("dims", default=None)
    dims: tuple[int, ...]
    if dims_raw is None:
        if topology == "mesh2d":
            errors.add(node.where, "a mesh2d needs 'dims: [X, Y]'")
            return None
        dims = (total,)
    else:
        if isinstance(dims_raw, int) and not isinstance(dims_raw, bool):
            dims_raw = [dims_raw]
        if not isinstance(dims_raw, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in dims_raw):
            errors.add(node.at("dims"), f"dims must be a list of positive integers, got {dims_raw!r}")
            return None
        dims = tuple(dims_raw)
        want = 2 if topology == "mesh2d" else 1
        if len(dims) != want:
            shape = "[X, Y]" if want == 2 else "[nodes]"
            errors.add(node.at("dims"), f"a {topology} takes dims {shape}, got {list(dims)}")
            return None
    nodes = 1
    for d in dims:
        nodes *= d
    if nodes != total:
        errors.add(
            node.at("dims") if dims_raw is not None else node.where,
            f"the {topology} has {nodes} nodes ({' x '.join(map(str, dims))}) but the cores add up to {total}; "
            "give one node per core",
        )
    bw = _positive(node, "link_bandwidth_bits_per_cycle", errors)
    hop = _positive(node, "hop_latency_cycles", errors, default=1.0, allow_zero=True)
    epb = _positive(node, "energy_pj_per_bit_hop", errors, default=0.0, allow_zero=True)
    if bw is None or hop is None or epb is None:
        return None
    return NocSpec(
        topology=topology,
        dims=dims,
        link_bandwidth_bits_per_cycle=bw,
        hop_latency_cycles=hop,
        energy_pj_per_bit_hop=epb,
    )


def _parse_memory(node: Node, errors: Collector) -> MemorySpec | None:
    node.check_keys(_MEMORY_KEYS)
    mem_type = node.str("type")
    bw = _positive(node, "bandwidth_bits_per_cycle", errors)
    epb = _positive(node, "energy_pj_per_bit", errors, allow_zero=True)
    latency = _positive(node, "latency_cycles", errors, default=0.0, allow_zero=True)
    size = node.int("size_bytes", default=None, minimum=1)
    if bw is None or epb is None or latency is None:
        return None
    return MemorySpec(
        type=mem_type, bandwidth_bits_per_cycle=bw, energy_pj_per_bit=epb, size_bytes=size, latency_cycles=latency
    )


def parse_multicore(
    data: Mapping[str, Any], *, where: Where | None = None, base_dir: Path | str | None = None
) -> MultiCoreArchitecture:
    """Build a :class:`MultiCoreArchitecture` from the ``multicore`` section.

    Parameters
    ----------
    data : mapping
        The value of the top-level ``multicore`` key.
    where : Where, optional
        Its location, for error messages.
    base_dir : Path, optional
        Folder that core ``arch`` paths are relative to (the multi-core file's folder).

    Raises
    ------
    SpecError
        For every problem found (collected), each naming file, key path and fix:
        unknown keys (listing the allowed ones), a core without an architecture,
        a missing core file, a NoC whose node count differs from the core count,
        negative bandwidths or energies.
    """
    where = where or Where(None, ("multicore",))
    base = Path(base_dir) if base_dir is not None else None
    node = Node(data, where)
    node.check_keys(_TOP_KEYS)
    errors = Collector()
    name = node.str("name", default="multicore")
    clock = _positive(node, "clock_hz", errors, default=None)
    cores: list[CoreSpec] = []
    for i, raw in enumerate(node.list("cores")):
        try:
            core = _parse_core(raw, node.at("cores") / i, base, errors)
        except SpecError as err:
            errors.extend(err)
            continue
        if core is not None:
            cores.append(core)
    if not node.list("cores"):
        errors.add(node.at("cores"), "a multi-core architecture needs at least one core")
    names = [c.name for c in cores]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        errors.add(node.at("cores"), f"core names repeat: {dupes}; give each core type its own name")
    total = sum(c.count for c in cores)
    noc = memory = None
    try:
        noc = _parse_noc(node.child("noc"), total, errors)
    except SpecError as err:
        errors.extend(err)
    try:
        memory = _parse_memory(node.child("memory"), errors)
    except SpecError as err:
        errors.extend(err)
    errors.raise_if_any()
    assert noc is not None and memory is not None  # no errors collected means both parsed
    return MultiCoreArchitecture(
        name=name,
        cores=tuple(cores),
        noc=noc,
        memory=memory,
        clock_hz=clock,
        description=str(node.raw("description", default="") or ""),
        version=str(node.raw("version", default="0.1")),
    )


def load_multicore_file(path: Path | str, *, variables: Mapping[str, Any] | None = None) -> MultiCoreArchitecture:
    """Read a multi-core YAML file (a Jinja template is rendered with ``variables``)."""
    p = Path(path)
    doc = load_yaml_file(p, variables=variables)
    if not isinstance(doc, Mapping) or "multicore" not in doc:
        raise SpecError(Where(p), "expected a top-level 'multicore' key")
    return parse_multicore(doc["multicore"], where=Where(p, ("multicore",)), base_dir=p.parent)


# ---------------------------------------------------------------------------
# write
# ---------------------------------------------------------------------------


def multicore_to_dict(mc: MultiCoreArchitecture, *, inline: bool = False) -> dict[str, Any]:
    """The ``multicore`` section in canonical key order.

    Parameters
    ----------
    mc : MultiCoreArchitecture
        What to write.
    inline : bool
        Write every core's architecture inline (v0.4 form) instead of its file path.
        Cores parsed from an inline architecture are always written inline.

    Notes
    -----
    ``parse_multicore(multicore_to_dict(mc), base_dir=...) == mc`` when the core
    files are found from ``base_dir`` (or everything is inline).
    """
    cores: list[dict[str, Any]] = []
    for core in mc.cores:
        entry: dict[str, Any] = {"name": core.name, "count": core.count}
        if core.source is not None and not inline:
            entry["arch"] = core.source
            if core.variables:
                entry["variables"] = dict(core.variables)
        else:
            entry["architecture"] = architecture_to_dict(core.arch)
        cores.append(entry)
    out: dict[str, Any] = {"version": mc.version, "name": mc.name}
    if mc.description:
        out["description"] = mc.description
    if mc.clock_hz is not None:
        out["clock_hz"] = mc.clock_hz
    out["cores"] = cores
    out["noc"] = {
        "topology": mc.noc.topology,
        "dims": list(mc.noc.dims),
        "link_bandwidth_bits_per_cycle": mc.noc.link_bandwidth_bits_per_cycle,
        "hop_latency_cycles": mc.noc.hop_latency_cycles,
        "energy_pj_per_bit_hop": mc.noc.energy_pj_per_bit_hop,
    }
    memory: dict[str, Any] = {
        "type": mc.memory.type,
        "bandwidth_bits_per_cycle": mc.memory.bandwidth_bits_per_cycle,
        "energy_pj_per_bit": mc.memory.energy_pj_per_bit,
    }
    if mc.memory.size_bytes is not None:
        memory["size_bytes"] = mc.memory.size_bytes
    if mc.memory.latency_cycles:
        memory["latency_cycles"] = mc.memory.latency_cycles
    out["memory"] = memory
    return out


# ---------------------------------------------------------------------------
# package view
# ---------------------------------------------------------------------------


def _with_attribute(attrs: tuple[tuple[str, Any], ...], key: str, value: Any) -> tuple[tuple[str, Any], ...]:
    return tuple((k, v) for k, v in attrs if k != key) + ((key, value),)


def as_single_architecture(mc: MultiCoreArchitecture) -> Architecture:
    """Fold a homogeneous multi-core architecture into one Timeloop hierarchy.

    The shared memory becomes the outermost level (its bandwidth in words per
    cycle, read and write each, from ``memory.bandwidth_bits_per_cycle``); every
    other level of the core, and its compute level, is replicated over the NoC
    (``instances * cores``, mesh ``X * dims[0]`` by ``Y * dims[1]`` for a mesh2d,
    ``X * cores`` otherwise), so a mapping may split any dimension across cores at
    the new fan-out below the memory. Each core's outermost on-chip level is
    filled at most at one NoC link's bandwidth. The clock, if given, becomes the
    ``global_cycle_seconds`` attribute.

    Notes
    -----
    Approximations: no hop latency or NoC contention (every core is filled over
    its own link), NoC energy is not charged, and the memory's energy is the core
    DRAM level's (choose the energy source as for a single core).

    Raises
    ------
    SpecError
        For a heterogeneous package, or a core whose outermost level is not DRAM.
    """
    if not mc.homogeneous:
        raise SpecError(
            Where(None, ("multicore", "cores")),
            f"{mc.name}: only a homogeneous package folds into one hierarchy (core types: "
            f"{[c.name for c in mc.cores]})",
        )
    core = mc.cores[0].arch
    n = mc.total_cores
    dram = core.storage[0]
    if not dram.is_dram or dram.instances != 1 or len(core.storage) < 2:
        raise SpecError(
            Where(None, ("multicore", "cores", 0)),
            f"the core's outermost level must be one DRAM (its memory port), got {dram.name!r}",
        )
    nx, ny = (mc.noc.dims[0], mc.noc.dims[1]) if mc.noc.topology == "mesh2d" else (n, 1)
    mem_words = mc.memory.bandwidth_bits_per_cycle / dram.word_bits
    memory = replace(
        dram,
        read_bandwidth=mem_words,
        write_bandwidth=mem_words,
        attributes=_with_attribute(dram.attributes, "type", mc.memory.type),
    )
    levels = [memory]
    for i, level in enumerate(core.storage[1:]):
        scaled = replace(level, instances=level.instances * n, mesh_x=level.mesh_x * nx, mesh_y=level.mesh_y * ny)
        if i == 0:
            link_words = mc.noc.link_bandwidth_bits_per_cycle / level.word_bits
            wb = link_words if level.write_bandwidth is None else min(level.write_bandwidth, link_words)
            scaled = replace(scaled, write_bandwidth=wb)
        levels.append(scaled)
    c = core.compute
    compute = replace(c, instances=c.instances * n, mesh_x=c.mesh_x * nx, mesh_y=c.mesh_y * ny)
    if mc.clock_hz is not None:
        compute = replace(compute, attributes=_with_attribute(compute.attributes, "global_cycle_seconds", 1.0 / mc.clock_hz))
    return Architecture(storage=tuple(levels), compute=compute, name=mc.name, version=core.version,
                        constraints=core.constraints)
