"""Numeric precisions and the architecture re-derived at a precision.

A :class:`Precision` names the word widths of one layer: weights, activations
(inputs and outputs) and accumulators, and whether the arithmetic is integer or
floating point (``"int8"``, ``"int4"``, ``"fp32"``, or mixed ``"w4a8"``).
:func:`arch_for_bits` rebuilds an :class:`~tnx_timeloop.spec.arch.Architecture`
at such widths so that the model and the bit-width aware energy tables
(``select_energy(arch, "tables")``) see the quantized machine:

* **memories** (SRAM, register files, DRAM, anything holding more than one
  word per instance) keep their physical geometry: depth x width in bits is
  fixed, so the capacity in words, the block size (words per vector access)
  and the bandwidths in words per cycle scale by ``old_bits / new_bits``;
* **datapath registers** (one word per instance, e.g. a PE's stationary weight)
  keep their word count and are widened or narrowed to the new word;
* the **compute level** becomes an ``intmac`` (or ``fpmac``) whose multiplier is
  ``max(weight_bits, act_bits)`` wide and whose adder is ``acc_bits`` wide.

A storage level holds one word width (Timeloop v3 has a single ``word-bits`` per
level): a level that keeps only ``Outputs`` (an accumulator) gets ``acc_bits``;
one that keeps only ``Weights`` gets ``weight_bits``; one that keeps only
``Inputs`` gets ``act_bits``; a level keeping several data-spaces gets the widest
of ``weight_bits`` and ``act_bits`` (outputs leave it requantized to activations,
as in the architecture files, which give such levels the activation width).
Which data-spaces a level keeps is read from the architecture's inline
``dataspace`` (keep/bypass) constraints; without one, all three.

Assumptions (documented, not measured): the array performs the same number of
MACs per cycle at every precision (no sub-word packing of INT4 operands, no
slower FP32 datapath); only energies, capacities and bandwidths in words change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.spec.arch import Architecture, ComputeLevel, StorageLevel

__all__ = [
    "Precision",
    "parse_precision",
    "KNOWN_FLOAT_FORMATS",
    "DEFAULT_PRECISIONS",
    "arch_for_bits",
    "arch_for_precision",
    "supported_precisions",
    "check_precision",
    "kept_dataspaces",
]

# Float formats: total bits -> (exponent bits, mantissa bits incl. the implicit one), Accelergy's fpmac form.
KNOWN_FLOAT_FORMATS: dict[str, tuple[int, int, int]] = {
    "fp32": (32, 8, 24),
    "fp16": (16, 5, 11),
    "bf16": (16, 8, 8),
}
_INT_BITS = (2, 4, 8, 16, 32)
DEFAULT_PRECISIONS: tuple[str, ...] = ("fp32", "int8", "int4")
_DATASPACES = ("Weights", "Inputs", "Outputs")
_REGISTER_CLASSES = ("reg_storage", "register", "reg", "aladdin_register")


@dataclass(frozen=True, slots=True)
class Precision:
    """Word widths of one layer's tensors.

    Attributes
    ----------
    name : str
        Canonical name (``"int8"``, ``"fp32"``, ``"w4a8"``).
    kind : str
        ``"int"`` or a float format name (``"fp32"``, ``"fp16"``, ``"bf16"``).
    weight_bits, act_bits, acc_bits : int
        Bits per weight, per activation (inputs and outputs) and per accumulator.
    """

    name: str
    kind: str
    weight_bits: int
    act_bits: int
    acc_bits: int

    @property
    def is_float(self) -> bool:
        """Whether the arithmetic is floating point."""
        return self.kind != "int"

    @property
    def operand_bits(self) -> int:
        """Width of the multiplier operands: the wider of weights and activations, in bits."""
        return max(self.weight_bits, self.act_bits)


_MIXED_RE = re.compile(r"^w(\d+)a(\d+)(?:acc(\d+))?$")


def parse_precision(value: str | Precision, where: Where | None = None) -> Precision:
    """Read a precision name.

    Parameters
    ----------
    value : str or Precision
        ``"int2"``, ``"int4"``, ``"int8"``, ``"int16"``, ``"int32"``, ``"fp16"``,
        ``"bf16"``, ``"fp32"``, or a mixed integer form ``"w4a8"`` (4-bit weights,
        8-bit activations) optionally with ``"acc16"``. Integer accumulators are
        32 bits unless given; float accumulators have the operand's width (fp32)
        or are fp32 (fp16, bf16).
    where : Where, optional
        Location for error messages.

    Returns
    -------
    Precision

    Raises
    ------
    SpecError
        For an unknown name (the message lists the known ones).

    Examples
    --------
    >>> parse_precision("int4").weight_bits
    4
    >>> parse_precision("w4a8").act_bits
    8
    """
    if isinstance(value, Precision):
        return value
    where = where or Where()
    key = str(value).strip().lower()
    if key in KNOWN_FLOAT_FORMATS:
        bits = KNOWN_FLOAT_FORMATS[key][0]
        return Precision(key, key, bits, bits, 32)
    m = re.fullmatch(r"int(\d+)", key)
    if m and int(m.group(1)) in _INT_BITS:
        bits = int(m.group(1))
        return Precision(key, "int", bits, bits, 32)
    m = _MIXED_RE.match(key)
    if m:
        w, a = int(m.group(1)), int(m.group(2))
        acc = int(m.group(3)) if m.group(3) else 32
        if w in _INT_BITS and a in _INT_BITS and acc in _INT_BITS:
            return Precision(key, "int", w, a, acc)
    known = [f"int{b}" for b in _INT_BITS] + list(KNOWN_FLOAT_FORMATS) + ["w<bits>a<bits>"]
    raise SpecError(where, f"unknown precision {value!r}; choose one of {known}")


def kept_dataspaces(arch: Architecture, level: str) -> tuple[str, ...]:
    """Data-spaces a storage level keeps according to the inline ``dataspace`` constraints.

    Returns
    -------
    tuple of str
        A subset of ``("Weights", "Inputs", "Outputs")`` in that order (all three
        when the architecture does not constrain the level).
    """
    keep: set[str] | None = None
    bypass: set[str] = set()
    for target, kind, value in arch.constraints:
        if target != level or kind not in ("dataspace", "bypass"):
            continue
        entries = dict(value) if isinstance(value, tuple) else {}
        if "keep" in entries:
            keep = set(_names(entries["keep"]))
        if "bypass" in entries:
            bypass |= set(_names(entries["bypass"]))
    kept = set(_DATASPACES) if keep is None else keep
    return tuple(d for d in _DATASPACES if d in kept and d not in bypass)


def _names(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _level_bits(arch: Architecture, level: StorageLevel, precision: Precision) -> int:
    kept = kept_dataspaces(arch, level.name)
    if kept == ("Outputs",):
        return precision.acc_bits
    if kept == ("Weights",):
        return precision.weight_bits
    if kept == ("Inputs",):
        return precision.act_bits
    return precision.operand_bits


def _is_register(level: StorageLevel) -> bool:
    if level.class_name.lower() in _REGISTER_CLASSES or (level.subclass or "").lower() in _REGISTER_CLASSES:
        return True
    return level.size_words is not None and level.size_words <= level.block_size


def _requantize_level(level: StorageLevel, bits: int, where: Where) -> StorageLevel:
    old = level.word_bits
    if level.is_dummy or bits == old:
        return level
    if _is_register(level):
        width = bits * level.block_size * level.cluster_size
        return replace(level, word_bits=bits, width_bits=width if level.width_bits is not None else None)
    width = level.width_bits if level.width_bits is not None else old * level.block_size * level.cluster_size
    per_block = bits * level.cluster_size
    if width % per_block:
        raise SpecError(
            where / level.name,
            f"unsupported bit-width: {bits}-bit words do not pack into the {width}-bit accesses of level "
            f"{level.name!r} (cluster size {level.cluster_size}); the core cannot run this precision",
        )
    block = width // per_block
    if level.size_words is None:
        size = None
    elif level.depth is not None:
        size = level.depth * block
    else:
        total_bits = level.size_words * old
        if total_bits % bits:
            raise SpecError(where / level.name, f"a capacity of {total_bits} bits is not a whole number of {bits}-bit words")
        size = total_bits // bits
    scale = old / bits

    def bw(x: float | None) -> float | None:
        return None if x is None else x * scale

    return replace(
        level,
        word_bits=bits,
        block_size=block,
        size_words=size,
        width_bits=level.width_bits,
        read_bandwidth=bw(level.read_bandwidth),
        write_bandwidth=bw(level.write_bandwidth),
    )


def _requantize_compute(compute: ComputeLevel, precision: Precision) -> ComputeLevel:
    attrs = {k: v for k, v in compute.attributes if k not in ("multiplier_width", "adder_width", "datawidth",
                                                                 "exponent", "mantissa")}
    attrs["multiplier_width"] = precision.operand_bits
    attrs["adder_width"] = precision.acc_bits
    class_name = compute.class_name
    if precision.is_float:
        _, exponent, mantissa = KNOWN_FLOAT_FORMATS[precision.kind]
        attrs["exponent"] = exponent
        attrs["mantissa"] = mantissa
        attrs["adder_width"] = max(precision.acc_bits, precision.operand_bits)
        class_name = "fpmac"
    elif "fp" in class_name.lower():
        class_name = "intmac"
    return replace(
        compute,
        class_name=class_name,
        subclass=None if precision.is_float or compute.subclass is None else compute.subclass,
        word_bits=precision.operand_bits,
        energy_pj=None,
        attributes=tuple(attrs.items()),
    )


def supported_precisions(arch: Architecture) -> tuple[str, ...] | None:
    """Precisions the core declares in its compute level's ``precisions`` attribute (None: any).

    A core that declares nothing accepts every precision :func:`arch_for_bits`
    can derive (its memories' access widths must still hold whole words).
    """
    declared = arch.compute.attribute("precisions")
    if declared is None:
        return None
    return tuple(str(p).lower() for p in _names(declared))


def check_precision(arch: Architecture, precision: str | Precision, where: Where | None = None) -> Precision:
    """Parse ``precision`` and check that ``arch`` supports it.

    Raises
    ------
    SpecError
        For an unknown precision, one the core's ``precisions`` attribute does not
        list, or words that do not pack into a memory's access width.
    """
    where = where or Where(None, ("architecture",))
    p = parse_precision(precision, where)
    allowed = supported_precisions(arch)
    if allowed is not None and p.name not in allowed:
        raise SpecError(
            where / arch.compute.name / "precisions",
            f"unsupported bit-width {p.name!r} for core {arch.name!r}; it supports {list(allowed)}",
        )
    arch_for_precision(arch, p, where=where)
    return p


def arch_for_bits(
    arch: Architecture,
    weight_bits: int,
    act_bits: int,
    acc_bits: int = 32,
    *,
    kind: str = "int",
    where: Where | None = None,
) -> Architecture:
    """The architecture re-derived at the given word widths.

    Parameters
    ----------
    arch : Architecture
        The architecture as specified (at its own word widths).
    weight_bits, act_bits, acc_bits : int
        Bits per weight, per activation and per accumulator.
    kind : str
        ``"int"`` or a float format (``"fp32"``, ``"fp16"``, ``"bf16"``).
    where : Where, optional
        Location for error messages.

    Returns
    -------
    Architecture
        Same levels, fan-outs and constraints; word widths, capacities in words,
        block sizes, bandwidths in words per cycle and the MAC re-derived (see the
        module notes). Capacities in bits are unchanged for memories.

    Raises
    ------
    SpecError
        If a memory's access width is not a whole number of the new words.

    Examples
    --------
    An 8 MiB SRAM of 512-bit rows holds 8 Mi 8-bit words, or 16 Mi 4-bit words
    read 128 at a time.
    """
    for name, bits in (("weight_bits", weight_bits), ("act_bits", act_bits), ("acc_bits", acc_bits)):
        if int(bits) < 1:
            raise SpecError(where or Where(), f"{name} must be >= 1, got {bits}")
    if kind != "int" and kind not in KNOWN_FLOAT_FORMATS:
        raise SpecError(where or Where(), f"unknown arithmetic kind {kind!r}; choose 'int' or one of {list(KNOWN_FLOAT_FORMATS)}")
    name = kind if kind != "int" else (f"int{weight_bits}" if weight_bits == act_bits else f"w{weight_bits}a{act_bits}")
    return arch_for_precision(arch, Precision(name, kind, int(weight_bits), int(act_bits), int(acc_bits)), where=where)


def arch_for_precision(arch: Architecture, precision: str | Precision, *, where: Where | None = None) -> Architecture:
    """:func:`arch_for_bits` for a :class:`Precision` (or its name)."""
    where = where or Where(None, ("architecture",))
    p = parse_precision(precision, where)
    storage = tuple(_requantize_level(level, _level_bits(arch, level, p), where) for level in arch.storage)
    return replace(arch, storage=storage, compute=_requantize_compute(arch.compute, p))
