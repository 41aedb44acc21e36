"""Built-in energy and area tables: Accelergy-like estimates without running Accelergy.

Every figure comes from ``data/builtin_tables.yaml``, where each number states its source;
the points the formulas were fitted to are in ``data/reference_points.yaml``. At 45 nm the
estimates reproduce the oracle ERTs (Accelergy 0.4 with the Aladdin, table-based and CACTI
plug-ins) within 10 %. Energies are per *vector* access of the component's width, as in a
Timeloop ERT; leak and idle are per cycle.

Fitted formulas (45 nm; ``D`` depth in words, ``W`` width in bits)::

    SRAM read      = 2.09e-3 * W'^1.302 * D'^0.418 pJ, W' = max(W, 32), D' = max(D*W/W', 64)
    SRAM write     = read * 0.947 * n_ports^0.202
    regfile access = 9.21e-4 * D * ceil(log2 D) + 5.63e-4 * W pJ
    smartbuffer_*  = array + 2 * 6.56e-3 * ln(D) pJ (two address-generator adders)
    register       = 0.009 * W pJ
    int MAC        = 1.238e-2 * m^2 + 6.56e-3 * a pJ (m multiplier bits, a adder bits)
    DRAM           = pJ/bit of the type * W

Other technology nodes are reached with Stillmaker & Baas (2017) scaling factors, see
:func:`scale_energy`.
"""

from __future__ import annotations

import functools
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

import numpy as np
import yaml

from tnx_timeloop.errors import EnergyError

__all__ = [
    "ComponentEstimate",
    "estimate_component",
    "scale_energy",
    "scale_area",
    "parse_technology",
    "mac_energy_pj",
    "sram_energy_pj",
    "regfile_energy_pj",
    "dram_energy_pj_per_bit",
    "known_classes",
    "STORAGE_ACTIONS",
    "MAC_ACTIONS",
]

# Actions every estimate of that kind carries (leak and idle are per cycle).
STORAGE_ACTIONS: tuple[str, ...] = ("read", "write", "update", "leak", "idle")
MAC_ACTIONS: tuple[str, ...] = ("mac_random", "mac_reused", "mac_gated", "compute", "leak", "idle")

# Timeloop/Accelergy class names (lower case) -> the model that estimates them.
_CLASS_MODELS: dict[str, str] = {
    "dram": "dram",
    "sram": "sram",
    "storage": "sram",
    "smartbuffer_sram": "smartbuffer_sram",
    "regfile": "regfile",
    "smartbuffer_rf": "smartbuffer_rf",
    "reg_storage": "register",
    "register": "register",
    "reg": "register",
    "aladdin_register": "register",
    "intmac": "intmac",
    "mac": "intmac",
    "lmac": "intmac",
    "compute": "intmac",
    "fpmac": "fpmac",
}

# Widths Accelergy uses when an arch.yaml gives none: the defaults of the compound components
# shipped with the oracle cases (components/smartbuffer_*.yaml, reg_storage.yaml, lmac.yaml).
_ACCELERGY_DEFAULT_WIDTH_BITS: dict[str, int] = {
    "smartbuffer_sram": 16,
    "smartbuffer_rf": 16,
    "reg_storage": 16,
    "lmac": 16,
}
# Read-write ports when none are given: Accelergy's smartbuffer_SRAM defaults to 2.
_DEFAULT_PORTS: dict[str, int] = {"smartbuffer_sram": 2}

# Float formats as (exponent bits, stored mantissa bits); total bits = 1 + e + m.
_FP_FORMATS: dict[str, tuple[int, int]] = {
    "fp8": (4, 3),
    "fp16": (5, 10),
    "bf16": (8, 7),
    "fp32": (8, 23),
    "fp64": (11, 52),
}
_IEEE_BY_BITS: dict[int, str] = {8: "fp8", 16: "fp16", 32: "fp32", 64: "fp64"}
_MAC_KINDS: tuple[str, ...] = ("int", "fp", *_FP_FORMATS)

_TECH_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(nm|um|µm|m)?\s*$", re.IGNORECASE)
_TECH_UNIT_TO_NM: dict[str, float] = {"nm": 1.0, "um": 1e3, "µm": 1e3, "m": 1e9}

Format = tuple[int, int] | None  # (exponent, mantissa) of a float operand; None = integer


@dataclass(frozen=True, slots=True)
class ComponentEstimate:
    """Energy per action and area of one component, from the built-in tables.

    Parameters
    ----------
    class_name : str
        The class the estimate is for, as given (e.g. ``"smartbuffer_SRAM"``).
    actions_pj : Mapping[str, float]
        Energy per action in pJ, per *vector* access of the component's width (Timeloop's
        meaning); ``leak`` and ``idle`` are per cycle. Stored read-only.
    area_um2 : float
        Area in um^2 (0 for DRAM, as Accelergy).
    source : str
        Where the figures come from and what was assumed, e.g.
        ``"builtin:sram(cacti-fit)@45nm"``.
    """

    class_name: str
    actions_pj: Mapping[str, float] = field(hash=False)
    area_um2: float
    source: str

    def __post_init__(self) -> None:
        """Freeze ``actions_pj`` into a read-only copy."""
        object.__setattr__(self, "actions_pj", MappingProxyType(dict(self.actions_pj)))

    def energy_pj(self, action: str) -> float:
        """Energy of one action in pJ.

        Raises
        ------
        EnergyError
            If the component has no such action; the message lists the ones it has.
        """
        if action not in self.actions_pj:
            raise EnergyError(
                f"class {self.class_name!r} has no action {action!r}; it has {sorted(self.actions_pj)}"
            )
        return self.actions_pj[action]


# ------------------------------------------------------------------------------------------
# Tables
# ------------------------------------------------------------------------------------------


def _leaf_values(node: Any) -> Any:
    """Replace every ``{value: x, source: s}`` leaf by ``x``."""
    if isinstance(node, dict):
        if "value" in node and "source" in node:
            return node["value"]
        return {key: _leaf_values(item) for key, item in node.items()}
    if isinstance(node, list):
        return [_leaf_values(item) for item in node]
    return node


@functools.cache
def _tables() -> dict[str, Any]:
    """Read the built-in tables once, with the sources stripped."""
    text = resources.files("tnx_timeloop.energy").joinpath("data", "builtin_tables.yaml").read_text("utf-8")
    return _leaf_values(yaml.safe_load(text))


def known_classes() -> tuple[str, ...]:
    """Class names (lower case) that :func:`estimate_component` knows, sorted."""
    return tuple(sorted(_CLASS_MODELS))


# ------------------------------------------------------------------------------------------
# Technology
# ------------------------------------------------------------------------------------------


def parse_technology(value: object) -> float:
    """Technology node in nm from an Accelergy/Timeloop ``technology`` attribute.

    Parameters
    ----------
    value : str or int or float
        ``"45nm"``, ``"45 nm"``, ``45``, ``"0.045um"``, ``"45e-9m"``. A bare number is in nm.

    Returns
    -------
    float
        The node in nm.

    Raises
    ------
    EnergyError
        If the value is not a positive length, or is a bare number below 1 (ambiguous units).

    Examples
    --------
    >>> parse_technology("0.045um")
    45.0
    """
    if isinstance(value, bool):
        raise EnergyError(f"technology {value!r} is not a length; write e.g. '45nm'")
    if isinstance(value, numbers.Real):
        node_nm = float(value)
        unit = None
    elif isinstance(value, str) and (match := _TECH_PATTERN.match(value)):
        unit = match.group(2)
        node_nm = float(match.group(1)) * (_TECH_UNIT_TO_NM[unit.lower()] if unit else 1.0)
    else:
        raise EnergyError(f"technology {value!r} is not a length; write e.g. '45nm', '45 nm' or '0.045um'")
    if not math.isfinite(node_nm) or node_nm <= 0:
        raise EnergyError(f"technology {value!r} must be a positive length")
    if unit is None and node_nm < 1:
        raise EnergyError(f"technology {value!r} is ambiguous: a bare number is read as nm; give a unit")
    return round(node_nm, 9)


@functools.cache
def _scaling_curves() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log(node_nm) ascending, log(relative energy), log(relative area)."""
    tech = _tables()["technology"]
    vdd_v = tech["vdd_v"]
    rows = sorted(tech["nodes"], key=lambda row: row["node_nm"])
    log_nodes = np.log([row["node_nm"] for row in rows])
    energies = [a * vdd_v**2 + b * vdd_v + c for a, b, c in (row["energy_poly"] for row in rows)]
    areas = [row["area_rel_45nm"] for row in rows]
    return log_nodes, np.log(energies), np.log(areas)


def _node_factor(node_nm: float, which: int) -> float:
    """Relative energy (``which=1``) or area (``which=2``) of a node, log-log interpolated."""
    curves = _scaling_curves()
    lo_nm, hi_nm = math.exp(curves[0][0]), math.exp(curves[0][-1])
    if not lo_nm - 1e-9 <= node_nm <= hi_nm + 1e-9:
        raise EnergyError(
            f"technology {node_nm:g} nm is outside the built-in scaling table [{lo_nm:g}, {hi_nm:g}] nm"
        )
    return float(np.exp(np.interp(math.log(node_nm), curves[0], curves[which])))


def scale_energy(energy_pj: float, from_nm: float, to_nm: float) -> float:
    """Scale an energy from one technology node to another.

    Parameters
    ----------
    energy_pj : float
        Energy at ``from_nm``, in pJ.
    from_nm, to_nm : float
        Technology nodes in nm, within the table (7 to 130 nm).

    Returns
    -------
    float
        Energy at ``to_nm`` in pJ.

    Raises
    ------
    EnergyError
        If a node lies outside the table.

    Notes
    -----
    Stillmaker & Baas (2017) energy polynomials at Vdd = 0.8 V, as hwcomponents'
    ``tech_node_energy`` (45 -> 65 nm: x1.24; 45 -> 7 nm: x0.094). Between table nodes the
    factor is interpolated linearly in log(node)-log(energy), so it is monotone and
    ``scale_energy(scale_energy(e, a, b), b, a) == e`` up to rounding. CACTI itself scales
    SRAMs faster (x1.8 from 45 to 65 nm in hwcomponents); one table is used for every class.
    """
    return energy_pj * _node_factor(to_nm, 1) / _node_factor(from_nm, 1)


def scale_area(area_um2: float, from_nm: float, to_nm: float) -> float:
    """Scale an area in um^2 between technology nodes (Stillmaker & Baas via hwcomponents)."""
    return area_um2 * _node_factor(to_nm, 2) / _node_factor(from_nm, 2)


def _reference_nm() -> float:
    return float(_tables()["reference_node_nm"])


# ------------------------------------------------------------------------------------------
# MACs
# ------------------------------------------------------------------------------------------


def _multiplier_units(bits: int, fmt: Format) -> float:
    """Multiplier cost in int-multiplier bit^2 units (energy and area share it)."""
    if fmt is None:
        return float(bits * bits)
    mac = _tables()["mac"]
    exponent, mantissa = fmt
    return mac["fp_significand_weight"] * (mantissa + 1) ** 2 + mac["fp_per_bit_weight"] * (
        1 + exponent + mantissa
    )


def _adder_units(bits: int, fmt: Format) -> float:
    """Adder cost in int-adder bit units."""
    if fmt is None:
        return float(bits)
    exponent, mantissa = fmt
    return _tables()["mac"]["fp_adder_weight"] * (1 + exponent + mantissa)


def _operand_formats(multiplier_bits: int, adder_bits: int, kind: str) -> tuple[Format, Format]:
    """Float formats of the multiplier and adder operands for a MAC ``kind``."""
    key = kind.lower()
    if key == "int":
        return None, None
    if key == "fp":
        missing = [b for b in (multiplier_bits, adder_bits) if b not in _IEEE_BY_BITS]
        if missing:
            raise EnergyError(
                f"no IEEE float format of {missing[0]} bits; known widths {sorted(_IEEE_BY_BITS)}"
            )
        return _FP_FORMATS[_IEEE_BY_BITS[multiplier_bits]], _FP_FORMATS[_IEEE_BY_BITS[adder_bits]]
    if key not in _FP_FORMATS:
        raise EnergyError(f"unknown MAC kind {kind!r}; choose one of {list(_MAC_KINDS)}")
    exponent, mantissa = _FP_FORMATS[key]
    if multiplier_bits != 1 + exponent + mantissa:
        raise EnergyError(
            f"MAC kind {kind!r} has {1 + exponent + mantissa}-bit operands, not {multiplier_bits}"
        )
    if adder_bits == multiplier_bits:
        return (exponent, mantissa), (exponent, mantissa)
    if adder_bits not in _IEEE_BY_BITS:
        raise EnergyError(
            f"no IEEE float accumulator of {adder_bits} bits; known widths {sorted(_IEEE_BY_BITS)}"
        )
    return (exponent, mantissa), _FP_FORMATS[_IEEE_BY_BITS[adder_bits]]


def _mac_actions_pj(
    multiplier_bits: int, adder_bits: int, mult_fmt: Format, add_fmt: Format
) -> dict[str, float]:
    """MAC energy per action at the reference node, in pJ."""
    mac = _tables()["mac"]
    multiplier_pj = mac["multiplier_pj_per_bit2"] * _multiplier_units(multiplier_bits, mult_fmt)
    adder_pj = mac["adder_pj_per_bit"] * _adder_units(adder_bits, add_fmt)
    random_pj = multiplier_pj + adder_pj
    leak_pj = mac["leak_fraction_per_cycle"] * random_pj
    return {
        "mac_random": random_pj,
        "mac_reused": mac["multiplier_reused_fraction"] * multiplier_pj + adder_pj,
        "mac_gated": mac["multiplier_gated_fraction"] * multiplier_pj + adder_pj,
        "compute": random_pj,
        "leak": leak_pj,
        "idle": leak_pj,
    }


def _mac_area_um2(multiplier_bits: int, adder_bits: int, mult_fmt: Format, add_fmt: Format) -> float:
    mac = _tables()["mac"]
    return mac["multiplier_area_um2_per_bit2"] * _multiplier_units(multiplier_bits, mult_fmt) + mac[
        "adder_area_um2_per_bit"
    ] * _adder_units(adder_bits, add_fmt)


def mac_energy_pj(
    multiplier_bits: int, adder_bits: int | None = None, *, kind: str = "int", technology_nm: float = 45.0
) -> float:
    """Energy of one random-operand MAC (``mac_random``) in pJ.

    Parameters
    ----------
    multiplier_bits : int
        Width of each multiplier operand in bits.
    adder_bits : int, optional
        Width of the accumulator in bits; defaults to ``multiplier_bits`` (Accelergy's
        ``intmac`` with a single ``datawidth``).
    kind : str
        ``"int"``; ``"fp"`` (the IEEE format of that width: 8 -> e4m3, 16, 32, 64); or a
        named format ``"fp8"``, ``"fp16"``, ``"bf16"``, ``"fp32"``, ``"fp64"`` whose width must
        equal ``multiplier_bits`` (a wider ``adder_bits`` gives an IEEE accumulator).
    technology_nm : float
        Technology node in nm.

    Returns
    -------
    float
        Energy in pJ.

    Raises
    ------
    EnergyError
        For an unknown kind, a width that does not match the format, or a node outside the
        scaling table.

    Notes
    -----
    int: ``1.238e-2 * m^2 + 6.56e-3 * a`` pJ at 45 nm (Aladdin 32-bit multiplier 12.68 pJ
    scaled quadratically, adder 0.21 pJ linearly, as Accelergy). Float: the multiplier costs
    ``1.4835 (m+1)^2 + 11.49 n`` and the adder ``9 n`` of those units (n total bits, m stored
    mantissa bits), fitted to Horowitz (ISSCC 2014) fp/int ratios.

    Examples
    --------
    >>> round(mac_energy_pj(16), 4)
    3.275
    """
    adder = multiplier_bits if adder_bits is None else adder_bits
    mult_bits = _positive_int(multiplier_bits, "multiplier_bits", "MAC")
    adder = _positive_int(adder, "adder_bits", "MAC")
    mult_fmt, add_fmt = _operand_formats(mult_bits, adder, kind)
    random_pj = _mac_actions_pj(mult_bits, adder, mult_fmt, add_fmt)["mac_random"]
    return scale_energy(random_pj, _reference_nm(), technology_nm)


# ------------------------------------------------------------------------------------------
# Storage
# ------------------------------------------------------------------------------------------


def _sram_geometry(depth: int, width_bits: int) -> tuple[float, float]:
    """(depth, width) of the array CACTI would build: at least 32-bit words and 64 rows."""
    sram = _tables()["sram"]
    width = max(width_bits, sram["min_width_bits"])
    return max(depth * width_bits / width, sram["min_depth"]), width


def _sram_actions_pj(depth: int, width_bits: int, n_ports: int) -> dict[str, float]:
    sram = _tables()["sram"]
    rows, width = _sram_geometry(depth, width_bits)
    read_pj = sram["read_pj_coefficient"] * width ** sram["width_exponent"] * rows ** sram["depth_exponent"]
    write_pj = read_pj * sram["write_to_read_ratio"] * n_ports ** sram["write_port_exponent"]
    leak_pj = sram["leak_pj_per_bit_cycle"] * depth * width_bits
    return {"read": read_pj, "write": write_pj, "update": write_pj, "leak": leak_pj, "idle": leak_pj}


def _sram_area_um2(depth: int, width_bits: int, n_ports: int) -> float:
    sram = _tables()["sram"]
    rows, width = _sram_geometry(depth, width_bits)
    return sram["area_um2_per_bit"] * rows * width * n_ports ** sram["area_port_exponent"]


def _regfile_actions_pj(depth: int, width_bits: int) -> dict[str, float]:
    regfile = _tables()["regfile"]
    access_pj = (
        regfile["decode_pj_per_entry_bit"] * depth * _address_bits(depth) + regfile["bit_pj"] * width_bits
    )
    leak_pj = regfile["leak_pj_per_bit_cycle"] * depth * width_bits
    return {"read": access_pj, "write": access_pj, "update": access_pj, "leak": leak_pj, "idle": leak_pj}


def _regfile_area_um2(depth: int, width_bits: int) -> float:
    regfile = _tables()["regfile"]
    return (
        regfile["area_um2_per_entry_bit"] * depth * _address_bits(depth)
        + regfile["area_um2_per_bit"] * depth * width_bits
    )


def _register_actions_pj(width_bits: int) -> dict[str, float]:
    access_pj = _tables()["register"]["access_pj_per_bit"] * width_bits
    leak_pj = _tables()["regfile"]["leak_pj_per_bit_cycle"] * width_bits
    return {"read": access_pj, "write": access_pj, "update": access_pj, "leak": leak_pj, "idle": leak_pj}


def _address_generation(depth: int) -> tuple[float, float]:
    """(energy pJ, area um^2) of a smartbuffer's address generators: adders of ln(depth) bits."""
    tables = _tables()
    adders = tables["smartbuffer"]["address_adders"] * math.log(depth)
    return adders * tables["mac"]["adder_pj_per_bit"], adders * tables["mac"]["adder_area_um2_per_bit"]


def _address_bits(depth: int) -> int:
    return math.ceil(math.log2(depth)) if depth > 1 else 0


def _pick_action(actions_pj: Mapping[str, float], action: str, what: str) -> float:
    if action not in actions_pj:
        raise EnergyError(f"{what} has no action {action!r}; choose one of {list(actions_pj)}")
    return actions_pj[action]


def sram_energy_pj(
    depth: int, width_bits: int, action: str, *, technology_nm: float = 45.0, n_ports: int = 1
) -> float:
    """Energy of one SRAM action in pJ, per vector access of ``width_bits``.

    Parameters
    ----------
    depth : int
        Number of words.
    width_bits : int
        Bits per access.
    action : str
        ``read``, ``write``, ``update`` (= write), ``leak`` or ``idle`` (both per cycle).
    technology_nm : float
        Technology node in nm.
    n_ports : int
        Read-write ports; only the write energy depends on it.

    Returns
    -------
    float
        Energy in pJ.

    Raises
    ------
    EnergyError
        For an unknown action, a non-positive size, or a node outside the scaling table.

    Notes
    -----
    Power law fitted to the four CACTI SRAMs of the oracle ERTs (max error 5.2 %):
    ``read = 2.09e-3 W^1.302 D^0.418`` pJ at 45 nm, with CACTI's smallest array (32-bit
    words, 64 rows) imposed; ``write = 0.947 read n_ports^0.202``. Banks are ignored.
    O(1).
    """
    depth = _positive_int(depth, "depth", "SRAM")
    width_bits = _positive_int(width_bits, "width_bits", "SRAM")
    ports = _positive_int(n_ports, "n_ports", "SRAM")
    energy_pj = _pick_action(_sram_actions_pj(depth, width_bits, ports), action, "SRAM")
    return scale_energy(energy_pj, _reference_nm(), technology_nm)


def regfile_energy_pj(depth: int, width_bits: int, action: str, *, technology_nm: float = 45.0) -> float:
    """Energy of one register-file action in pJ, per vector access of ``width_bits``.

    Parameters
    ----------
    depth : int
        Number of words.
    width_bits : int
        Bits per access.
    action : str
        ``read``, ``write``, ``update``, ``leak`` or ``idle`` (the last two per cycle).
    technology_nm : float
        Technology node in nm.

    Returns
    -------
    float
        Energy in pJ.

    Raises
    ------
    EnergyError
        For an unknown action, a non-positive size, or a node outside the scaling table.

    Notes
    -----
    Aladdin's register-file model as Accelergy 0.4 runs it: one ``ceil(log2 D)``-bit address
    comparator per entry (0.02947 pJ per 32 bits) plus the word, here ``5.63e-4 W`` pJ
    (Accelergy charges 0.009 pJ per access whatever the width). Read = write. O(1).
    """
    depth = _positive_int(depth, "depth", "regfile")
    width_bits = _positive_int(width_bits, "width_bits", "regfile")
    energy_pj = _pick_action(_regfile_actions_pj(depth, width_bits), action, "regfile")
    return scale_energy(energy_pj, _reference_nm(), technology_nm)


def dram_energy_pj_per_bit(dram_type: str) -> float:
    """Energy of moving one bit to or from DRAM of a given type, in pJ/bit.

    Parameters
    ----------
    dram_type : str
        ``LPDDR4``, ``LPDDR``, ``DDR3``, ``DDR4``, ``GDDR5``, ``GDDR6``, ``HBM2``, ``HMC``
        (case-insensitive).

    Returns
    -------
    float
        Energy in pJ per bit, read or write alike (no technology scaling: it is the device's).

    Raises
    ------
    EnergyError
        For an unknown type; the message lists the known ones.
    """
    table = _tables()["dram_pj_per_bit"]
    by_key = {name.lower(): value for name, value in table.items()}
    key = str(dram_type).strip().lower()
    if key not in by_key:
        raise EnergyError(f"unknown DRAM type {dram_type!r}; known types {sorted(table)}")
    return float(by_key[key])


# ------------------------------------------------------------------------------------------
# Components
# ------------------------------------------------------------------------------------------


def _positive_int(value: object, name: str, what: str) -> int:
    """``value`` as a positive int (accepts 16, 16.0, "16"), else EnergyError."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not number.is_integer() or number <= 0:
        raise EnergyError(f"{what}: {name} must be a positive integer, got {value!r}")
    return int(number)


def _attribute(attributes: Mapping[str, object], *names: str) -> object | None:
    """Return the first of ``names`` present (and not None) in ``attributes``."""
    for name in names:
        if attributes.get(name) is not None:
            return attributes[name]
    return None


def _resolve_class(class_name: str, subclass: str | None) -> tuple[str, str, list[str]]:
    """(model, name used, notes) for a class/subclass pair; the subclass wins when known."""
    if subclass and subclass.lower() in _CLASS_MODELS:
        return _CLASS_MODELS[subclass.lower()], subclass, []
    if class_name.lower() in _CLASS_MODELS:
        notes = [f"subclass {subclass!r} unknown, estimated as class {class_name!r}"] if subclass else []
        return _CLASS_MODELS[class_name.lower()], class_name, notes
    wanted = f"class {class_name!r}" + (f" (subclass {subclass!r})" if subclass else "")
    raise EnergyError(f"no built-in energy table for {wanted}; known classes {list(known_classes())}")


def _storage_width(name: str, attributes: Mapping[str, object], notes: list[str]) -> int:
    value = _attribute(attributes, "width", "memory_width")
    if value is not None:
        return _positive_int(value, "width", name)
    default = _ACCELERGY_DEFAULT_WIDTH_BITS.get(name.lower())
    if default is not None:
        notes.append(f"width {default} b assumed (Accelergy {name} default)")
        return default
    word_bits = _attribute(attributes, "word-bits", "word_bits", "datawidth")
    if word_bits is None:
        raise EnergyError(f"{name}: give 'width' (bits per access) or 'word-bits'")
    block = _positive_int(_attribute(attributes, "block-size", "block_size") or 1, "block-size", name)
    width = _positive_int(word_bits, "word-bits", name) * block
    notes.append(f"width {width} b = word-bits x block-size")
    return width


def _depth(name: str, attributes: Mapping[str, object]) -> int:
    value = _attribute(attributes, "depth", "memory_depth")
    if value is None:
        raise EnergyError(f"{name}: give 'depth' (or 'memory_depth') in words")
    return _positive_int(value, "depth", name)


def _mac_formats(
    model: str, name: str, attributes: Mapping[str, object], notes: list[str]
) -> tuple[int, int, Format, Format]:
    """(multiplier bits, adder bits, multiplier format, adder format) of a MAC component."""
    value = _attribute(attributes, "multiplier_width", "datawidth", "word-bits", "word_bits")
    if value is None:
        value = _ACCELERGY_DEFAULT_WIDTH_BITS.get(name.lower())
        if value is None:
            raise EnergyError(f"{name}: give 'datawidth' or 'multiplier_width' in bits")
        notes.append(f"datawidth {value} b assumed (Accelergy {name} default)")
    mult_bits = _positive_int(value, "datawidth", name)
    adder_bits = _positive_int(_attribute(attributes, "adder_width") or mult_bits, "adder_width", name)
    if model == "intmac":
        return mult_bits, adder_bits, None, None
    exponent, mantissa = _attribute(attributes, "exponent"), _attribute(attributes, "mantissa")
    if exponent is not None and mantissa is not None:
        # Accelergy's fpmac: exponent + mantissa = total bits (fp32: 8 + 24).
        fmt = (_positive_int(exponent, "exponent", name), _positive_int(mantissa, "mantissa", name) - 1)
        return mult_bits, adder_bits, fmt, fmt
    mult_fmt, add_fmt = _operand_formats(mult_bits, adder_bits, "fp")
    return mult_bits, adder_bits, mult_fmt, add_fmt


def estimate_component(
    class_name: str, attributes: Mapping[str, object], *, subclass: str | None = None
) -> ComponentEstimate:
    """Estimate a component's energy per action and area from the built-in tables.

    Parameters
    ----------
    class_name : str
        Timeloop/Accelergy class (case-insensitive): ``DRAM``; ``SRAM``, ``smartbuffer_SRAM``,
        ``storage``; ``regfile``, ``smartbuffer_RF``; ``reg_storage``, ``register``;
        ``intmac``, ``mac``, ``lmac``, ``compute``, ``fpmac``.
    attributes : Mapping[str, object]
        The component's attributes with inherited ones merged in. Read: ``technology``
        (default 45 nm); storage ``depth``/``memory_depth``, ``width``/``memory_width``
        (bits per access), ``n_rdwr_ports``; DRAM ``type``, ``width``; MAC ``datawidth`` or
        ``multiplier_width``, ``adder_width``, fpmac ``exponent``/``mantissa``.
    subclass : str, optional
        Timeloop's ``subclass``; used instead of ``class_name`` when known.

    Returns
    -------
    ComponentEstimate
        Storage actions: read, write, update, leak, idle; MAC actions: mac_random,
        mac_reused, mac_gated, compute, leak, idle. ``source`` names the model, the node
        and every assumption made.

    Raises
    ------
    EnergyError
        For an unknown class (the message lists the known ones) or a missing/invalid attribute.

    Notes
    -----
    When a width is absent, Accelergy's compound-component defaults are used
    (smartbuffer_SRAM/smartbuffer_RF/reg_storage/lmac: 16 bits), as the oracle ERTs were made
    with them; otherwise word-bits x block-size. Registers (depth 1) cost 0.009 pJ/bit per
    access; a register class of depth > 1 is estimated as a regfile. DRAM is not scaled with
    technology and has zero area (Accelergy's convention).
    """
    model, name, notes = _resolve_class(class_name, subclass)
    if model == "dram":
        return _estimate_dram(name, attributes, notes)
    tech_value = _attribute(attributes, "technology")
    tech_nm = _reference_nm() if tech_value is None else parse_technology(tech_value)
    if model in ("intmac", "fpmac"):
        mult_bits, adder_bits, mult_fmt, add_fmt = _mac_formats(model, name, attributes, notes)
        actions_pj = _mac_actions_pj(mult_bits, adder_bits, mult_fmt, add_fmt)
        area_um2 = _mac_area_um2(mult_bits, adder_bits, mult_fmt, add_fmt)
        label = "intmac(aladdin)" if model == "intmac" else "fpmac(aladdin+horowitz)"
    else:
        actions_pj, area_um2, label = _storage_estimate(model, name, attributes, notes)
    reference_nm = _reference_nm()
    scaled_pj = {action: scale_energy(energy, reference_nm, tech_nm) for action, energy in actions_pj.items()}
    tech_text = f"@{tech_nm:g}nm" + ("(default)" if tech_value is None else "")
    source = f"builtin:{label}{tech_text}" + "".join(f"; {note}" for note in notes)
    return ComponentEstimate(name, scaled_pj, scale_area(area_um2, reference_nm, tech_nm), source)


def _storage_estimate(
    model: str, name: str, attributes: Mapping[str, object], notes: list[str]
) -> tuple[dict[str, float], float, str]:
    """(actions pJ, area um^2, label) of an on-chip storage component at the reference node."""
    width = _storage_width(name, attributes, notes)
    if model == "register" and _attribute(attributes, "depth", "memory_depth") is None:
        depth = 1
    else:
        depth = _depth(name, attributes)
    if model == "register" and depth > 1:
        notes.append(f"depth {depth} > 1: estimated as a regfile")
        model = "regfile"
    if model == "register":
        area_um2 = _tables()["register"]["area_um2_per_bit"] * width
        return _register_actions_pj(width), area_um2, "register(aladdin)"
    if model in ("sram", "smartbuffer_sram"):
        ports_value = _attribute(attributes, "n_rdwr_ports", "n_rw_ports", "nports")
        ports = _positive_int(ports_value or _DEFAULT_PORTS.get(model, 1), "n_rdwr_ports", name)
        actions_pj = _sram_actions_pj(depth, width, ports)
        area_um2 = _sram_area_um2(depth, width, ports)
        fit = "cacti-fit"
    else:
        actions_pj = _regfile_actions_pj(depth, width)
        area_um2 = _regfile_area_um2(depth, width)
        fit = "aladdin-fit"
    if not model.startswith("smartbuffer"):
        return actions_pj, area_um2, f"{model}({fit})"
    address_pj, address_um2 = _address_generation(depth)
    for action in ("read", "write", "update"):
        actions_pj[action] += address_pj
    return actions_pj, area_um2 + address_um2, f"{model}({fit}+addrgen)"


def _estimate_dram(name: str, attributes: Mapping[str, object], notes: list[str]) -> ComponentEstimate:
    dram_type = _attribute(attributes, "type")
    if dram_type is None:
        dram_type = "LPDDR4"
        notes.append("type LPDDR4 assumed")
    per_bit_pj = dram_energy_pj_per_bit(str(dram_type))
    width_value = _attribute(attributes, "width", "memory_width")
    if width_value is None:
        width = _storage_width(name, attributes, notes)
    else:
        width = _positive_int(width_value, "width", name)
    access_pj = per_bit_pj * width
    actions_pj = {"read": access_pj, "write": access_pj, "update": access_pj, "leak": 0.0, "idle": 0.0}
    source = f"builtin:dram({dram_type} {per_bit_pj:g} pJ/bit)" + "".join(f"; {note}" for note in notes)
    return ComponentEstimate(name, actions_pj, 0.0, source)
