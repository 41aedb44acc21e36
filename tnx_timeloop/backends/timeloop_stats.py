"""Parsers for the text reports of the real Timeloop: ``*.stats.txt`` and ``*.map.txt``.

``timeloop-model`` and ``timeloop-mapper`` write the same two human-readable files:

- ``<prefix>.stats.txt``: per level (arithmetic first, then storage levels innermost first)
  the specs, the loop nest and per data-space statistics; then the networks, the
  operational-intensity table and the summary with the ``fJ/Compute`` breakdown.
- ``<prefix>.map.txt``: the loop nest, outermost level first, each storage level headed by
  the tile it keeps of every data-space.

:func:`parse_stats` turns the first into a :class:`TimeloopStats`, :func:`parse_map_txt`
turns the second into a list of :class:`MapLevel`. Both accept Timeloop v3.0.x output and
read v4 output (dense and Sparseloop) as well: version-specific keys are mapped onto the
same fields (see Notes of :func:`parse_stats`) and keys with no field are kept, as printed,
in the ``extra`` mappings. Any line that cannot be read raises
:class:`~tnx_timeloop.errors.BackendError` naming the file, the line number and the text.

Units are in the field names. Timeloop prints energies in pJ (fJ for the per-hop network
energy and the ``fJ/Compute`` table) with two decimals, so every parsed energy is rounded
to 0.01 of its printed unit; counts are exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, TypeVar

from tnx_timeloop.errors import BackendError, Where

__all__ = [
    "DataspaceStats",
    "LevelStats",
    "NetworkDataspaceStats",
    "NetworkStats",
    "TimeloopStats",
    "Loop",
    "MapLevel",
    "parse_stats",
    "parse_stats_file",
    "parse_map_txt",
    "parse_map_file",
]

SpecValue = str | float
"""A printed value: a number (``int`` when printed as one, unit dropped) or the raw text."""

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)"
_SPEC_NUMBER_RE = re.compile(rf"({_NUMBER})(?:\s+[A-Za-z][\w/^]*)?")
_INT_RE = re.compile(r"[-+]?\d+")
_INSTANCES_RE = re.compile(r"(\d+)(?:\s*\((\d+)\s*\*\s*(\d+)\))?")
_LOOP_RE = re.compile(
    r"for\s+(?P<dim>\w+)\s+in\s+\[\s*(?P<start>\d+)\s*:\s*(?P<end>\d+)\s*(?:,\s*(?P<residual>\d+)\s*)?\)"
    r"(?:\s*\(Spatial-(?P<axis>[XY])\))?"
)
_INGRESS_RE = re.compile(r"@multicast\s+(\d+)\s+@scatter\s+(\d+)")
_MAP_HEADER_RE = re.compile(r"(?P<name>\S.*?)\s*\[(?P<tiles>.*)\]")
_MAP_TILE_RE = re.compile(r"\s*(?P<ds>[^\s:\[\]]+)\s*:\s*(?P<tile>\d+)\s*\(\s*(?P<used>\d+)\s*\)\s*")


def _frozen(mapping: Mapping) -> Mapping:
    return MappingProxyType(dict(mapping))


def _empty() -> Mapping:
    return MappingProxyType({})


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True, slots=True)
class Loop:
    """One loop of a mapping's loop nest, as ``for P in [0:16)`` prints it.

    Attributes
    ----------
    dim : str
        Problem dimension, e.g. ``"P"``.
    bound : int
        Trip count (``end - start`` of ``[start:end)``).
    spatial : {"X", "Y"} or None
        Mesh axis of a spatial loop (``(Spatial-X)``); ``None`` for a temporal loop.
    residual_bound : int
        Trip count in the last iteration of the enclosing loops; differs from ``bound``
        only for an imperfect factor, printed ``[0:5,1)``.
    """

    dim: str
    bound: int
    spatial: Literal["X", "Y"] | None
    residual_bound: int

    @property
    def is_spatial(self) -> bool:
        """Whether the loop is spread over instances rather than over time."""
        return self.spatial is not None


@dataclass(frozen=True, slots=True)
class MapLevel:
    """One storage level of a ``map.txt`` loop nest.

    Attributes
    ----------
    name : str
        Level name, e.g. ``"Buffer"``.
    tile_words : Mapping[str, int]
        Tile size in words of each data-space kept at the level (the first number of
        ``Weights:3 (3)``). Bypassed data-spaces are absent.
    utilized_words : Mapping[str, int]
        The parenthesised number: words actually held. Equal to ``tile_words`` for dense
        workloads; smaller when Sparseloop (v4) compresses the tile.
    loops : tuple of Loop
        Loops directly below the level header, outermost first.
    """

    name: str
    tile_words: Mapping[str, int]
    utilized_words: Mapping[str, int]
    loops: tuple[Loop, ...]


@dataclass(frozen=True, slots=True)
class DataspaceStats:
    """One data-space at one storage level, as the level's ``STATS`` block prints it.

    Counts are per instance (one instance of the level) unless the name says otherwise;
    energies are in pJ and rounded to 0.01 pJ; bandwidths are in words per cycle and rounded
    to 0.01. Bypassed data-spaces are not printed, so they have no ``DataspaceStats``.

    Attributes
    ----------
    name : str
        Data-space name, e.g. ``"Weights"``.
    partition_size : int
        Words of the data-space served by one instance over the run (``Partition size``).
    utilized_capacity : int
        Words resident at once in one instance (the tile).
    utilized_instances : float
        Instances holding the data-space (``Utilized instances (max)``).
    utilized_clusters : int
        Clusters holding the data-space.
    reads_per_instance, fills_per_instance, updates_per_instance : int
        Scalar reads, fills and updates per instance.
    temporal_reductions_per_instance : int
        Read-modify-write accumulations per instance.
    address_generations_per_cluster : int
        Address computations per cluster.
    energy_per_scalar_access_pj : float or None
        Mean energy of one scalar access; ``None`` when printed as ``nan`` or ``-``.
    energy_per_instance_pj, energy_total_pj : float
        Access energy of one instance and of all utilized instances.
    temporal_reduction_energy_per_instance_pj, temporal_reduction_energy_total_pj : float
        Energy of the temporal reductions (0 when not printed).
    address_generation_energy_per_cluster_pj, address_generation_energy_total_pj : float
        Energy of the address generation (0 when not printed).
    shared_bandwidth_per_instance_words_per_cycle, shared_bandwidth_total_words_per_cycle : float or None
        Reads plus writes per cycle.
    read_bandwidth_per_instance_words_per_cycle, read_bandwidth_total_words_per_cycle : float or None
        Reads per cycle.
    write_bandwidth_per_instance_words_per_cycle, write_bandwidth_total_words_per_cycle : float or None
        Fills plus updates per cycle.
    extra : Mapping[str, str | float]
        Every other printed entry, by its printed key (v4 adds ``Bandwidth Consumption
        Scale``; Sparseloop adds algorithmic/gated/skipped counts, format accesses, ...).
    extra_details : Mapping[str, Mapping[str, str | float]]
        Indented sub-lines of any entry, by the entry's key (Sparseloop's per-rank format
        counts and ``Breakdown (Data, Format)`` of the bandwidths); empty for dense runs.
    """

    name: str
    partition_size: int
    utilized_capacity: int
    utilized_instances: float
    utilized_clusters: int
    reads_per_instance: int
    fills_per_instance: int
    updates_per_instance: int
    temporal_reductions_per_instance: int
    address_generations_per_cluster: int
    energy_per_scalar_access_pj: float | None
    energy_per_instance_pj: float
    energy_total_pj: float
    temporal_reduction_energy_per_instance_pj: float = 0.0
    temporal_reduction_energy_total_pj: float = 0.0
    address_generation_energy_per_cluster_pj: float = 0.0
    address_generation_energy_total_pj: float = 0.0
    shared_bandwidth_per_instance_words_per_cycle: float | None = None
    shared_bandwidth_total_words_per_cycle: float | None = None
    read_bandwidth_per_instance_words_per_cycle: float | None = None
    read_bandwidth_total_words_per_cycle: float | None = None
    write_bandwidth_per_instance_words_per_cycle: float | None = None
    write_bandwidth_total_words_per_cycle: float | None = None
    extra: Mapping[str, SpecValue] = field(default_factory=_empty)
    extra_details: Mapping[str, Mapping[str, SpecValue]] = field(default_factory=_empty)

    @property
    def energy_pj(self) -> float:
        """All energy charged to the data-space at this level, in pJ.

        Storage plus temporal-reduction plus address-generation energy, as Timeloop's
        ``BufferLevel::Energy`` adds them.
        """
        return (
            self.energy_total_pj
            + self.temporal_reduction_energy_total_pj
            + self.address_generation_energy_total_pj
        )


@dataclass(frozen=True, slots=True)
class LevelStats:
    """A storage level or the arithmetic level of ``stats.txt``.

    Attributes
    ----------
    index : int
        The printed ``Level N`` (0 = arithmetic). v4 skips the numbers of levels that are
        only spatial fan-outs.
    name : str
        Level name, e.g. ``"Buffer"``.
    kind : {"storage", "arithmetic"}
        Which kind of level.
    instances : int
        Instances of the level (``Instances : 168 (14*12)`` gives 168).
    mesh_x, mesh_y : int
        The mesh printed in parentheses (14 and 12 above); ``instances, 1`` if absent.
    cycles : int or None
        Cycles the level needs (``Cycles``).
    specs : Mapping[str, str | float]
        The ``SPECS`` block by printed key; numbers without their unit (pJ, um^2).
    loop_nest : tuple of Loop
        The ``MAPPING`` block's loops, outermost first (empty for arithmetic).
    dataspaces : tuple of DataspaceStats
        The kept data-spaces in printed order (empty for arithmetic).
    bandwidth_throttling : float or None
        Storage only: the slowdown factor from bandwidth limits (1.00 = none).
    utilized_instances : float or None
        Arithmetic only: instances doing work.
    computes : int or None
        Arithmetic only: MACs performed (``Computes (total)``).
    leakage_energy_pj : float
        v4 only: ``Leakage energy (total)`` from the SPECS block, in pJ (0 when absent).
    energy_pj : float
        Energy of the level in pJ: ``Energy (total)`` for arithmetic; for storage the sum
        over data-spaces of :attr:`DataspaceStats.energy_pj`; plus the leakage energy (which
        v4 counts in the level's ``fJ/Compute`` row).
    extra : Mapping[str, str | float]
        Other entries of the ``STATS`` block (e.g. ``Area (total)``).
    """

    index: int
    name: str
    kind: Literal["storage", "arithmetic"]
    instances: int
    mesh_x: int
    mesh_y: int
    cycles: int | None
    specs: Mapping[str, SpecValue]
    loop_nest: tuple[Loop, ...]
    dataspaces: tuple[DataspaceStats, ...]
    bandwidth_throttling: float | None
    utilized_instances: float | None
    computes: int | None
    leakage_energy_pj: float
    energy_pj: float
    extra: Mapping[str, SpecValue] = field(default_factory=_empty)

    def dataspace(self, name: str) -> DataspaceStats:
        """Return the data-space called ``name``.

        Raises
        ------
        KeyError
            If the level does not keep it; the message lists the kept data-spaces.
        """
        return _by_name(self.dataspaces, name, f"level {self.name!r} keeps")


@dataclass(frozen=True, slots=True)
class NetworkDataspaceStats:
    """One data-space on one network (``Network N`` block).

    Attributes
    ----------
    name : str
        Data-space name.
    fanout : int
        Child instances one parent instance feeds.
    multicast_factor : int
        Children receiving each word sent.
    ingresses : float
        Words entering the network per instance.
    ingresses_by_multicast_scatter : Mapping[tuple[int, int], float]
        The ``@multicast m @scatter s`` sub-lines, keyed ``(m, s)``.
    link_transfers, spatial_reductions : int
        Neighbour-to-neighbour transfers and spatial reductions.
    average_hops : float
        ``Average number of hops``.
    energy_per_hop_fj : float
        Energy of one hop, in fJ.
    energy_per_instance_pj, energy_total_pj : float
        Transfer energy.
    link_transfer_energy_per_instance_pj, link_transfer_energy_total_pj : float
        Link transfer energy (0 when not printed).
    spatial_reduction_energy_per_instance_pj, spatial_reduction_energy_total_pj : float
        Spatial reduction energy (0 when not printed).
    extra : Mapping[str, str | float]
        Other printed entries.
    """

    name: str
    fanout: int
    multicast_factor: int
    ingresses: float
    ingresses_by_multicast_scatter: Mapping[tuple[int, int], float]
    link_transfers: int
    spatial_reductions: int
    average_hops: float
    energy_per_hop_fj: float
    energy_per_instance_pj: float
    energy_total_pj: float
    link_transfer_energy_per_instance_pj: float = 0.0
    link_transfer_energy_total_pj: float = 0.0
    spatial_reduction_energy_per_instance_pj: float = 0.0
    spatial_reduction_energy_total_pj: float = 0.0
    extra: Mapping[str, SpecValue] = field(default_factory=_empty)

    @property
    def energy_pj(self) -> float:
        """Transfer plus link-transfer plus spatial-reduction energy, in pJ.

        As Timeloop's ``LegacyNetwork::Energy`` adds them.
        """
        return (
            self.energy_total_pj + self.link_transfer_energy_total_pj + self.spatial_reduction_energy_total_pj
        )


@dataclass(frozen=True, slots=True)
class NetworkStats:
    """One network between two levels (``Buffer <==> MACC``).

    Attributes
    ----------
    index : int
        The printed ``Network N``.
    name : str
        ``"<outer level> <==> <inner level>"`` as printed.
    specs : Mapping[str, str | float]
        The ``SPECS`` block.
    dataspaces : tuple of NetworkDataspaceStats
        Per data-space statistics, in printed order.
    energy_pj : float
        Sum of :attr:`NetworkDataspaceStats.energy_pj`, in pJ.
    """

    index: int
    name: str
    specs: Mapping[str, SpecValue]
    dataspaces: tuple[NetworkDataspaceStats, ...]
    energy_pj: float

    def dataspace(self, name: str) -> NetworkDataspaceStats:
        """Return the data-space called ``name``.

        Raises
        ------
        KeyError
            If the network does not carry it; the message lists those it carries.
        """
        return _by_name(self.dataspaces, name, f"network {self.name!r} carries")


@dataclass(frozen=True, slots=True)
class TimeloopStats:
    """Everything a Timeloop ``stats.txt`` reports.

    Attributes
    ----------
    cycles : int
        Run time in cycles (``Summary Stats``).
    utilization : float
        Fraction of MAC instances busy, as printed (two decimals; v4's ``6.25%`` is 0.0625).
    macs : int
        Computes performed (``Computes = N``).
    energy_pj : float
        Total energy in pJ. ``stats.txt`` prints it only in uJ with two decimals, so it is
        rebuilt from whichever printed route is more precise: the sum of the level and
        network energies (each rounded to 0.01 pJ) or the ``fJ/Compute`` total times the
        computes (rounded to 0.01 fJ per compute).
    energy_rounding_bound_pj : float
        Bound on ``|energy_pj - Timeloop's exact total|`` from that rounding, in pJ.
    levels : tuple of LevelStats
        Innermost first, as printed: the arithmetic level, then the storage levels.
    networks : tuple of NetworkStats
        As printed (v3 prints one per pair of adjacent levels; v4 often none).
    energy_breakdown_fj_per_compute : Mapping[str, float]
        The ``fJ/Compute`` table by printed row name, including ``Total``.
    energy_breakdown_fj_per_algorithmic_compute : Mapping[str, float]
        Sparseloop's ``fJ/Algorithmic-Compute`` table; empty for dense runs.
    summary : Mapping[str, str | float]
        The other ``Summary Stats`` lines by printed key, units dropped (``Energy`` in uJ,
        ``Area`` in mm^2, ``GFLOPs (@1GHz)``, ``EDP(J*cycle)``, Sparseloop's
        ``Algorithmic Computes``).
    source : str
        The file (or label) the text came from.
    """

    cycles: int
    utilization: float
    macs: int
    energy_pj: float
    energy_rounding_bound_pj: float
    levels: tuple[LevelStats, ...]
    networks: tuple[NetworkStats, ...]
    energy_breakdown_fj_per_compute: Mapping[str, float]
    energy_breakdown_fj_per_algorithmic_compute: Mapping[str, float] = field(default_factory=_empty)
    summary: Mapping[str, SpecValue] = field(default_factory=_empty)
    source: str = "<stats.txt>"

    def level(self, name: str) -> LevelStats:
        """Return the level called ``name``.

        Raises
        ------
        KeyError
            If there is none; the message lists the level names.
        """
        return _by_name(self.levels, name, "levels are")

    def energy_by_component_pj(self) -> dict[str, float]:
        """Energy of every level and network by name, in pJ, in printed order."""
        return {c.name: c.energy_pj for c in (*self.levels, *self.networks)}


_Named = TypeVar("_Named", LevelStats, NetworkStats, DataspaceStats, NetworkDataspaceStats)


def _by_name(items: tuple[_Named, ...], name: str, what: str) -> _Named:
    for item in items:
        if item.name == name:
            return item
    raise KeyError(f"no {name!r}; {what} {[item.name for item in items]}")


# --------------------------------------------------------------------------- line handling


@dataclass(frozen=True, slots=True)
class _Line:
    number: int  # 1-based
    text: str

    @property
    def indent(self) -> int:
        return len(self.text) - len(self.text.lstrip(" "))

    @property
    def body(self) -> str:
        return self.text.strip()


@dataclass(slots=True)
class _Node:
    """One ``key : value`` line with the more-indented lines below it."""

    key: str
    value: str | None  # None when the line has no separator
    line: _Line
    children: list[_Node] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Section:
    title: str
    line: _Line
    body: tuple[_Line, ...]


def _lines(text: str) -> list[_Line]:
    return [_Line(n, raw.expandtabs(8).rstrip()) for n, raw in enumerate(text.splitlines(), start=1)]


def _error(where: Where, line: _Line | None, message: str) -> BackendError:
    if line is None:
        return BackendError(f"{where}: {message}")
    return BackendError(f"{where.at_line(line.number)}: {message}: {line.body!r}")


def _is_rule(line: _Line) -> bool:
    return bool(line.body) and set(line.body) == {"-"}


def _sections(lines: list[_Line], *, top_level: bool) -> tuple[tuple[_Line, ...], list[_Section]]:
    """Split at underlined headings (a line followed by a line of dashes).

    With ``top_level`` only headings starting in column 0 count. Returns the lines before
    the first heading and the sections.
    """
    starts = [
        i
        for i in range(len(lines) - 1)
        if lines[i].body
        and not _is_rule(lines[i])
        and _is_rule(lines[i + 1])
        and (lines[i].indent == 0 or not top_level)
    ]
    head = tuple(lines[: starts[0]] if starts else lines)
    sections = []
    for k, i in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        sections.append(_Section(lines[i].body, lines[i], tuple(lines[i + 2 : end])))
    return head, sections


def _split(body: str, equals: bool) -> tuple[str, str | None]:
    if ":" in body:
        key, _, value = body.partition(":")
        return key.strip(), value.strip()
    if equals and "=" in body:
        key, _, value = body.rpartition("=")  # names may hold "<==>"
        return key.strip(), value.strip()
    return body, None


def _tree(lines: Iterable[_Line], *, equals: bool = False) -> list[_Node]:
    """Nest ``key : value`` lines by indentation."""
    roots: list[_Node] = []
    stack: list[tuple[int, _Node]] = []
    for line in lines:
        if not line.body:
            continue
        key, value = _split(line.body, equals)
        node = _Node(key, value, line)
        while stack and stack[-1][0] >= line.indent:
            stack.pop()
        (stack[-1][1].children if stack else roots).append(node)
        stack.append((line.indent, node))
    return roots


class _Block:
    """The entries of one block by key, handing each out once; the rest become ``extra``."""

    def __init__(self, nodes: list[_Node], where: Where) -> None:
        self.where = where
        self.details = {n.key: n.children for n in nodes if n.children}
        self.nodes: dict[str, _Node] = {}
        for node in nodes:
            if node.key in self.nodes:
                raise _error(where, node.line, f"duplicate entry {node.key!r}")
            self.nodes[node.key] = node

    def take(self, *keys: str) -> _Node | None:
        for key in keys:
            if key in self.nodes:
                return self.nodes.pop(key)
        return None

    def need(self, *keys: str, anchor: _Line | None = None) -> _Node:
        node = self.take(*keys)
        if node is None:
            raise _error(self.where, anchor, f"missing {' or '.join(map(repr, keys))} (truncated file?)")
        return node

    def need_int(self, *keys: str, anchor: _Line | None = None) -> int:
        return _to_int(self.need(*keys, anchor=anchor), self.where)

    def need_float(self, *keys: str, unit: str | None = None, anchor: _Line | None = None) -> float:
        return _to_float(self.need(*keys, anchor=anchor), self.where, unit)

    def opt_float(self, *keys: str, unit: str | None = None) -> float | None:
        node = self.take(*keys)
        return None if node is None else _to_float(node, self.where, unit)

    def pj_or_zero(self, key: str) -> float:
        """Return an optional energy in pJ, 0 when the Timeloop version does not print it."""
        return self.opt_float(key, unit="pJ") or 0.0

    def extra(self) -> dict[str, SpecValue]:
        return {key: _spec_value(node.value or "") for key, node in self.nodes.items()}

    def extra_details(self) -> dict[str, Mapping[str, SpecValue]]:
        return {
            key: _frozen({c.key: _spec_value(c.value or "") for c in children})
            for key, children in self.details.items()
        }


# --------------------------------------------------------------------------- value parsing


def _to_float(node: _Node, where: Where, unit: str | None = None) -> float:
    pattern = rf"({_NUMBER})" + (rf"(?:\s*{re.escape(unit)})?" if unit else "")
    match = re.fullmatch(pattern, node.value or "", flags=re.IGNORECASE)
    if match is None:
        expected = f"a number in {unit}" if unit else "a number"
        raise _error(where / node.key, node.line, f"expected {expected}")
    return float(match.group(1))


def _to_int(node: _Node, where: Where) -> int:
    value = node.value or ""
    if _INT_RE.fullmatch(value):
        return int(value)
    if re.fullmatch(_NUMBER, value) and float(value).is_integer():  # "48.00"
        return int(float(value))
    raise _error(where / node.key, node.line, "expected an integer")


def _spec_value(text: str) -> SpecValue:
    match = _SPEC_NUMBER_RE.fullmatch(text)
    if match is None:
        return text
    number = match.group(1)
    return int(number) if _INT_RE.fullmatch(number) else float(number)


def _specs(section: _Section) -> Mapping[str, SpecValue]:
    return _frozen({node.key: _spec_value(node.value or "") for node in _tree(section.body)})


def _instances(section: _Section, where: Where) -> tuple[int, int, int]:
    """Read ``Instances : 168 (14*12)`` of a SPECS block as (168, 14, 12)."""
    node = _Block(_tree(section.body), where).need("Instances", anchor=section.line)
    match = _INSTANCES_RE.fullmatch(node.value or "")
    if match is None:
        raise _error(where / "Instances", node.line, "expected 'Instances : N (X*Y)'")
    total = int(match.group(1))
    if match.group(2) is None:
        return total, total, 1
    return total, int(match.group(2)), int(match.group(3))


def _parse_loop(body: str) -> Loop | None:
    match = _LOOP_RE.fullmatch(body)
    if match is None:
        return None
    start, end = int(match["start"]), int(match["end"])
    residual = int(match["residual"]) if match["residual"] is not None else end
    return Loop(match["dim"], end - start, match["axis"], residual - start)


# --------------------------------------------------------------------------- stats.txt


def _subsections(section: _Section, where: Where) -> tuple[str, dict[str, _Section]]:
    """Split a ``Level N``/``Network N`` body into its name line and SPECS/MAPPING/STATS."""
    head, subs = _sections(list(section.body), top_level=False)
    named = [line for line in head if line.body]
    if not named:
        raise _error(where, section.line, "expected the level or network name after")
    if len(named) > 1:
        raise _error(where, named[1], "unexpected text before SPECS")
    blocks = {}
    for sub in subs:
        if sub.title in blocks:
            raise _error(where, sub.line, "duplicate block")
        blocks[sub.title] = sub
    return named[0].body, blocks


def _parse_dataspace(node: _Node, where: Where) -> DataspaceStats:
    block = _Block(node.children, where / node.key)
    at = node.line

    def reads(kind: str) -> int:
        return block.need_int(
            f"Scalar {kind} (per-instance)", f"Actual scalar {kind} (per-instance)", anchor=at
        )

    def bandwidth(kind: str, per: str) -> float | None:
        keys = (f"{kind} Bandwidth ({per})", f"Average {kind} Bandwidth ({per})")
        return block.opt_float(*keys, unit="words/cycle")

    per_access = block.need("Energy (per-scalar-access)", anchor=at)
    per_access_pj = None if per_access.value == "-" else _to_float(per_access, block.where, "pJ")
    return DataspaceStats(
        name=node.key,
        partition_size=block.need_int("Partition size", anchor=at),
        utilized_capacity=block.need_int(
            "Utilized capacity", "Max utilized data storage capacity", anchor=at
        ),
        utilized_instances=block.need_float("Utilized instances (max)", "Utilized instances", anchor=at),
        utilized_clusters=block.need_int("Utilized clusters (max)", "Utilized clusters", anchor=at),
        reads_per_instance=reads("reads"),
        fills_per_instance=reads("fills"),
        updates_per_instance=reads("updates"),
        temporal_reductions_per_instance=block.need_int("Temporal reductions (per-instance)", anchor=at),
        address_generations_per_cluster=block.need_int("Address generations (per-cluster)", anchor=at),
        energy_per_scalar_access_pj=None if per_access_pj != per_access_pj else per_access_pj,  # nan
        energy_per_instance_pj=block.need_float("Energy (per-instance)", unit="pJ", anchor=at),
        energy_total_pj=block.need_float("Energy (total)", unit="pJ", anchor=at),
        temporal_reduction_energy_per_instance_pj=block.pj_or_zero(
            "Temporal Reduction Energy (per-instance)"
        ),
        temporal_reduction_energy_total_pj=block.pj_or_zero("Temporal Reduction Energy (total)"),
        address_generation_energy_per_cluster_pj=block.pj_or_zero("Address Generation Energy (per-cluster)"),
        address_generation_energy_total_pj=block.pj_or_zero("Address Generation Energy (total)"),
        shared_bandwidth_per_instance_words_per_cycle=bandwidth("Shared", "per-instance"),
        shared_bandwidth_total_words_per_cycle=bandwidth("Shared", "total"),
        read_bandwidth_per_instance_words_per_cycle=bandwidth("Read", "per-instance"),
        read_bandwidth_total_words_per_cycle=bandwidth("Read", "total"),
        write_bandwidth_per_instance_words_per_cycle=bandwidth("Write", "per-instance"),
        write_bandwidth_total_words_per_cycle=bandwidth("Write", "total"),
        extra=_frozen(block.extra()),
        extra_details=_frozen(block.extra_details()),
    )


def _parse_loop_nest(section: _Section | None, where: Where) -> tuple[Loop, ...]:
    if section is None:
        return ()
    loops = []
    for line in section.body:
        if not line.body or line.body == "Loop nest:":
            continue
        loop = _parse_loop(line.body)
        if loop is None:
            raise _error(where / "MAPPING", line, "expected a loop 'for D in [0:N)'")
        loops.append(loop)
    return tuple(loops)


def _parse_level(section: _Section, index: int, where: Where) -> LevelStats:
    name, blocks = _subsections(section, where)
    match = re.fullmatch(r"===\s*(.+?)\s*===", name)
    if match is None:
        raise _error(where, section.body[0] if section.body else section.line, "expected '=== name ==='")
    name = match.group(1)
    where = where / name
    if "SPECS" not in blocks or "STATS" not in blocks:
        missing = [b for b in ("SPECS", "STATS") if b not in blocks]
        raise _error(where, section.line, f"missing block(s) {missing} (truncated file?)")
    specs = _specs(blocks["SPECS"])
    instances, mesh_x, mesh_y = _instances(blocks["SPECS"], where / "SPECS")
    leakage = specs.get("Leakage energy (total)", 0.0)
    if not isinstance(leakage, int | float):
        raise _error(
            where / "SPECS", blocks["SPECS"].line, f"'Leakage energy (total)' is not a number: {leakage!r}"
        )
    at = blocks["STATS"].line
    nodes = _tree(blocks["STATS"].body)
    block = _Block(nodes, where / "STATS")
    common = {
        "index": index,
        "name": name,
        "instances": instances,
        "mesh_x": mesh_x,
        "mesh_y": mesh_y,
        "specs": specs,
        "leakage_energy_pj": float(leakage),
    }
    if any(key in block.nodes for key in ("Computes (total)", "Actual Computes (total)")):
        return LevelStats(
            kind="arithmetic",
            cycles=block.need_int("Cycles", anchor=at),
            loop_nest=(),
            dataspaces=(),
            bandwidth_throttling=None,
            utilized_instances=block.need_float("Utilized instances", "Utilized instances (max)", anchor=at),
            computes=block.need_int("Computes (total)", "Actual Computes (total)", anchor=at),
            energy_pj=block.need_float("Energy (total)", unit="pJ", anchor=at) + leakage,
            extra=_frozen(block.extra()),
            **common,
        )
    # A data-space is a "Weights:" line with its entries indented below it.
    headers = [n for n in nodes if n.value == "" or (n.value is None and n.children)]
    dataspaces = tuple(_parse_dataspace(block.nodes.pop(n.key), where) for n in headers)
    return LevelStats(
        kind="storage",
        cycles=block.need_int("Cycles", anchor=at),
        loop_nest=_parse_loop_nest(blocks.get("MAPPING"), where),
        dataspaces=dataspaces,
        bandwidth_throttling=block.opt_float("Bandwidth throttling"),
        utilized_instances=None,
        computes=None,
        energy_pj=leakage + sum(ds.energy_pj for ds in dataspaces),
        extra=_frozen(block.extra()),
        **common,
    )


def _parse_network_dataspace(node: _Node, where: Where) -> NetworkDataspaceStats:
    block = _Block(node.children, where / node.key)
    at = node.line
    ingress_node = block.need("Ingresses", anchor=at)
    by_multicast: dict[tuple[int, int], float] = {}
    for child in ingress_node.children:
        match = _INGRESS_RE.fullmatch(child.key)
        if match is None:
            raise _error(where / node.key / "Ingresses", child.line, "expected '@multicast M @scatter S: N'")
        by_multicast[(int(match.group(1)), int(match.group(2)))] = _to_float(child, where / node.key)
    return NetworkDataspaceStats(
        name=node.key,
        fanout=block.need_int("Fanout", anchor=at),
        multicast_factor=block.need_int("Multicast factor", anchor=at),
        ingresses=_to_float(ingress_node, block.where),
        ingresses_by_multicast_scatter=_frozen(by_multicast),
        link_transfers=block.need_int("Link transfers", anchor=at),
        spatial_reductions=block.need_int("Spatial reductions", anchor=at),
        average_hops=block.need_float("Average number of hops", anchor=at),
        energy_per_hop_fj=block.need_float("Energy (per-hop)", unit="fJ", anchor=at),
        energy_per_instance_pj=block.need_float("Energy (per-instance)", unit="pJ", anchor=at),
        energy_total_pj=block.need_float("Energy (total)", unit="pJ", anchor=at),
        link_transfer_energy_per_instance_pj=block.pj_or_zero("Link transfer energy (per-instance)"),
        link_transfer_energy_total_pj=block.pj_or_zero("Link transfer energy (total)"),
        spatial_reduction_energy_per_instance_pj=block.pj_or_zero("Spatial Reduction Energy (per-instance)"),
        spatial_reduction_energy_total_pj=block.pj_or_zero("Spatial Reduction Energy (total)"),
        extra=_frozen(block.extra()),
    )


def _parse_network(section: _Section, index: int, where: Where) -> NetworkStats:
    name, blocks = _subsections(section, where)
    where = where / name
    if "STATS" not in blocks:
        raise _error(where, section.line, "missing block 'STATS' (truncated file?)")
    specs = _specs(blocks["SPECS"]) if "SPECS" in blocks else _empty()
    block = _Block(_tree(blocks["STATS"].body), where / "STATS")
    for node in block.nodes.values():
        if node.value:
            raise _error(block.where, node.line, "expected a data-space name followed by ':'")
    dataspaces = tuple(_parse_network_dataspace(n, where) for n in block.nodes.values())
    return NetworkStats(index, name, specs, dataspaces, sum(ds.energy_pj for ds in dataspaces))


@dataclass(frozen=True, slots=True)
class _Summary:
    cycles: int
    utilization: float
    macs: int
    tables_fj: Mapping[str, Mapping[str, float]]  # "fJ/Compute" -> row -> fJ
    other: Mapping[str, SpecValue]


def _parse_summary(section: _Section, where: Where, last: _Line) -> _Summary:
    block = _Block(_tree(section.body, equals=True), where)
    cycles = block.need_int("Cycles", anchor=last)
    macs = block.need_int("Computes", "Actual Computes", anchor=last)
    node = block.need("Utilization", anchor=last)
    text = node.value or ""
    utilization = _to_float(_Node(node.key, text.removesuffix("%").strip(), node.line), where)
    if text.endswith("%"):
        utilization /= 100
    tables = {}
    for key in [key for key in block.nodes if key.startswith("fJ/")]:
        table = block.need(key)
        tables[key] = _frozen({row.key: _to_float(row, where / key) for row in table.children})
    if "Total" not in tables.get("fJ/Compute", {}):  # the last line Timeloop prints
        raise _error(
            where / "fJ/Compute", last, "no 'fJ/Compute' table ending in 'Total' (truncated file?); last line"
        )
    return _Summary(cycles, utilization, macs, _frozen(tables), _frozen(block.extra()))


def _total_energy(
    levels: list[LevelStats], networks: list[NetworkStats], summary: _Summary
) -> tuple[float, float]:
    """Total energy in pJ and its rounding bound, from the more precise printed route.

    Summing the printed components errs by up to 0.005 pJ per term; the ``fJ/Compute``
    total times the computes errs by up to 0.005 fJ per compute.
    """
    terms = sum(1 + 3 * len(level.dataspaces) for level in levels)
    terms += sum(3 * len(net.dataspaces) for net in networks)
    by_sum = (sum(c.energy_pj for c in (*levels, *networks)), 0.005 * terms)
    by_fj = (summary.tables_fj["fJ/Compute"]["Total"] * summary.macs / 1000, 0.005 * summary.macs / 1000)
    return min(by_sum, by_fj, key=lambda route: route[1])


def parse_stats(text: str, *, source: str = "<stats.txt>") -> TimeloopStats:
    """Parse the text of a Timeloop ``*.stats.txt``.

    Parameters
    ----------
    text : str
        The whole file.
    source : str, optional
        File name used in error messages and kept as :attr:`TimeloopStats.source`.

    Returns
    -------
    TimeloopStats
        Levels innermost first, networks, summary figures and the ``fJ/Compute`` table.

    Raises
    ------
    BackendError
        If a section, block or entry that must be there is missing (e.g. a truncated file),
        or a value cannot be read; the message names the file, the line and its text.

    Notes
    -----
    The file is cut at underlined headings (a line followed by a line of dashes) into
    ``Level N``, ``Network N`` and ``Summary Stats`` sections; unknown sections (e.g.
    ``Operational Intensity Stats``) are skipped. Inside a section, ``key : value`` lines
    nest by indentation, so extra spaces and reordered entries are harmless. Work is
    linear in the number of lines.

    Version differences handled (v3.0.3 is the reference, as printed by Timeloop's
    ``src/model/topology.cpp``, ``buffer.cpp`` and ``network-legacy.cpp``):

    - v4 adds ``Bandwidth Consumption Scale`` per data-space (kept in ``extra``) and
      leakage/power-gating specs; the SPECS ``Leakage energy (total)`` is part of the
      level's ``fJ/Compute`` row, so it is added to :attr:`LevelStats.energy_pj`. v4 prints
      ``Utilization`` as a percentage, often no network at all, and skips the level
      numbers of spatial-only levels.
    - Sparseloop (v4 sparse) prints ``Actual scalar reads`` (used as reads) next to
      algorithmic/gated/skipped counts, ``Max utilized data storage capacity`` for the
      utilized capacity, ``Actual Computes (total)`` for computes, ``Average ... Bandwidth``
      with a breakdown sub-line, and in the summary ``Actual Computes = N`` plus a second
      ``fJ/Algorithmic-Compute`` table.

    The file is complete only if the ``fJ/Compute`` table ends with its ``Total`` row,
    the last line Timeloop writes; anything shorter is reported as truncated.
    """
    where = Where(source)
    lines = _lines(text)
    if not any(line.body for line in lines):
        raise BackendError(f"{where}: empty stats file")
    head, sections = _sections(lines, top_level=True)
    for line in head:
        if line.body:
            raise _error(where, line, "unexpected text before the first section")
    last = next(line for line in reversed(lines) if line.body)
    levels: list[LevelStats] = []
    networks: list[NetworkStats] = []
    summary: _Summary | None = None
    for section in sections:
        kind, _, number = section.title.partition(" ")
        if kind in ("Level", "Network") and not number.isdigit():
            raise _error(where, section.line, f"expected '{kind} N'")
        if kind == "Level":
            levels.append(_parse_level(section, int(number), where / section.title))
        elif kind == "Network":
            networks.append(_parse_network(section, int(number), where / section.title))
        elif section.title == "Summary Stats":
            summary = _parse_summary(section, where / section.title, last)
    if not levels:
        raise _error(where, last, "no 'Level N' section found")
    if summary is None:
        raise _error(where, last, "no 'Summary Stats' section (truncated file?); last line")
    energy_pj, bound_pj = _total_energy(levels, networks, summary)
    return TimeloopStats(
        cycles=summary.cycles,
        utilization=summary.utilization,
        macs=summary.macs,
        energy_pj=energy_pj,
        energy_rounding_bound_pj=bound_pj,
        levels=tuple(levels),
        networks=tuple(networks),
        energy_breakdown_fj_per_compute=summary.tables_fj["fJ/Compute"],
        energy_breakdown_fj_per_algorithmic_compute=summary.tables_fj.get("fJ/Algorithmic-Compute", _empty()),
        summary=summary.other,
        source=source,
    )


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BackendError(f"{path}: cannot read Timeloop output: {err}") from err


def parse_stats_file(path: str | Path) -> TimeloopStats:
    """Read and parse a Timeloop ``*.stats.txt`` file.

    Parameters
    ----------
    path : str or Path
        The file, e.g. ``out/timeloop-model.stats.txt``.

    Returns
    -------
    TimeloopStats
        See :func:`parse_stats`.

    Raises
    ------
    BackendError
        If the file cannot be read or parsed.
    """
    return parse_stats(_read(path), source=str(path))


# --------------------------------------------------------------------------- map.txt


def _map_levels(lines: list[_Line], where: Where) -> Iterator[MapLevel]:
    name: str | None = None
    tiles: dict[str, int] = {}
    used: dict[str, int] = {}
    loops: list[Loop] = []
    for line in lines:
        body = line.body
        if not body or _is_rule(line):
            continue
        if body.startswith("|"):
            inner = body[1:].strip()
            if inner == "<< Compute >>":
                continue
            loop = _parse_loop(inner)
            if loop is None:
                raise _error(where, line, "expected a loop '| for D in [0:N)'")
            if name is None:
                raise _error(where, line, "loop before the first level header")
            loops.append(loop)
            continue
        header = _MAP_HEADER_RE.fullmatch(body)
        if header is None:
            raise _error(where, line, "expected a level header 'Name [ Tensor:N (N) ... ]' or a loop")
        if name is not None:
            yield MapLevel(name, _frozen(tiles), _frozen(used), tuple(loops))
        name, tiles, used, loops = header["name"], {}, {}, []
        inner = header["tiles"]
        position = 0
        for match in _MAP_TILE_RE.finditer(inner):
            if match.start() != position:
                break
            tiles[match["ds"]], used[match["ds"]] = int(match["tile"]), int(match["used"])
            position = match.end()
        if inner[position:].strip():
            raise _error(where / name, line, f"cannot read tile sizes {inner[position:].strip()!r}")
    if name is not None:
        yield MapLevel(name, _frozen(tiles), _frozen(used), tuple(loops))


def parse_map_txt(text: str, *, source: str = "<map.txt>") -> list[MapLevel]:
    r"""Parse the text of a Timeloop ``*.map.txt`` loop nest.

    Parameters
    ----------
    text : str
        The whole file.
    source : str, optional
        File name used in error messages.

    Returns
    -------
    list of MapLevel
        Storage levels outermost first (the order ``map.txt`` prints them, the reverse of
        ``stats.txt``), each with its kept tiles and its loops outermost first.

    Raises
    ------
    BackendError
        If a line is neither a level header, a rule, a loop nor ``<< Compute >>``; the
        message names the file, the line and its text.

    Notes
    -----
    Level headers without loops stand directly above the next header in v4 output
    (no dashed rule); v4 also prints pure spatial fan-out levels (``inter_PE_spatial [ ]``)
    that have no ``Level`` in ``stats.txt``, and ends with ``<< Compute >>``.

    Examples
    --------
    >>> levels = parse_map_txt("Buffer [ Weights:3 (3) ]\n---\n| for R in [0:3)\n")
    >>> levels[0].loops
    (Loop(dim='R', bound=3, spatial=None, residual_bound=3),)
    """
    levels = list(_map_levels(_lines(text), Where(source)))
    if not levels:
        raise BackendError(f"{source}: no level header found in map.txt")
    return levels


def parse_map_file(path: str | Path) -> list[MapLevel]:
    """Read and parse a Timeloop ``*.map.txt`` file.

    Parameters
    ----------
    path : str or Path
        The file, e.g. ``out/timeloop-mapper.map.txt``.

    Returns
    -------
    list of MapLevel
        See :func:`parse_map_txt`.

    Raises
    ------
    BackendError
        If the file cannot be read or parsed.
    """
    return parse_map_txt(_read(path), source=str(path))
