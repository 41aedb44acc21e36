"""SCALE-Sim arrays as architectures of this project, and layers as Timeloop problems.

A SCALE-Sim run is a systolic array of ``rows x cols`` PEs with an output-, weight- or
input-stationary dataflow, three double-buffered SRAMs (ifmap, filter, ofmap) and DRAM bandwidth
either estimated (``CALC``) or given (``USER``). Here that array is an ordinary
:class:`~tnx_timeloop.spec.arch.Architecture` -- usable by the model, the mapper and the
single-core simulator -- and a layer is an ordinary :class:`~tnx_timeloop.spec.problem.Problem`.
The adapter turns the pair back into the inputs of the cycle-exact SCALE-Sim engine
(:func:`tnx_timeloop.sim.systolic.simulate_systolic`).

The systolic architecture (v0.4 form; what :func:`systolic_architecture` builds)::

    DRAM                      datawidth 8
    ofmap_sram   SRAM         entries = OfmapSramSzkB * 1024, keeps Outputs, multiple_buffering 2,
                              read_bandwidth = ofmap SRAM->DRAM words/cycle (USER mode only)
    filter_sram  SRAM         keeps Weights, write_bandwidth = filter DRAM->SRAM words/cycle (USER)
    ifmap_sram   SRAM         keeps Inputs, write_bandwidth = ifmap DRAM->SRAM words/cycle (USER)
    mac          intmac       spatial meshX = cols, meshY = rows; attribute dataflow: os | ws | is

Each SRAM carries the attribute ``operand: ifmap | filter | ofmap``. No bandwidth attribute on
the three SRAMs means SCALE-Sim's ``CALC`` mode; all three means ``USER`` mode. One word is one
byte, as in SCALE-Sim.

The same array in the compact YAML form :func:`load_systolic_arch_file` reads::

    systolic:
      name: os_8x8
      rows: 8                      # ArrayHeight
      cols: 8                      # ArrayWidth
      dataflow: os                 # os | ws | is
      sram_kb: {ifmap: 64, filter: 64, ofmap: 64}
      bandwidth: calc              # or {ifmap: 8, filter: 8, ofmap: 8} in words/cycle (USER)

Layers: a CNN-layer problem (dimensions ``C M R S N P Q``, strides ``Wstride``/``Hstride``) is a
SCALE-Sim convolution with ifmap width ``(P - 1) * Wstride + R`` and height ``(Q - 1) * Hstride +
S`` (``R``/``P`` run along the width, ``S``/``Q`` along the height); a problem with
``P = Q = R = S = 1`` is a GEMM ``M = N * P * Q``, ``N = M`` (filters), ``K = C``; a three-dimension
matrix product (outputs indexed by two dimensions, one reduction dimension) is a GEMM too.
SCALE-Sim sizes its ofmap as ``ceil((H - R + s) / s)``, one more than the usual rule when
``(H - R) % s != 0``; such layers keep SCALE-Sim's ofmap size as ``P``/``Q`` and their real ifmap
size in the optional problem coefficients ``Wifmap``/``Hifmap`` (pixels), so that the same words
are read.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from pathlib import Path
from typing import Any

from tnx_timeloop.errors import SpecError, Where
from tnx_timeloop.sim.systolic import (
    DATAFLOWS,
    ScaleSimCase,
    SystolicArrayConfig,
    SystolicLayer,
    SystolicResult,
    simulate_systolic,
)
from tnx_timeloop.spec.arch import Architecture, StorageLevel, parse_architecture
from tnx_timeloop.spec.mapping import Mapping, parse_mapping
from tnx_timeloop.spec.problem import Problem, parse_problem
from tnx_timeloop.spec.yaml_io import TaggedDict, load_yaml_file

__all__ = [
    "OPERANDS",
    "systolic_architecture",
    "architecture_from_config",
    "systolic_arch_to_dict",
    "load_systolic_arch_file",
    "parse_systolic_arch",
    "systolic_config",
    "systolic_layer",
    "problem_from_layer",
    "cnn_layer_problem",
    "case_architecture",
    "case_problems",
    "simulate_arch",
    "scalesim_mapping",
]

OPERANDS: tuple[str, ...] = ("ifmap", "filter", "ofmap")
"""SCALE-Sim's three operands (SRAMs), in the order of its reports."""

_DATASPACE = {"ifmap": "Inputs", "filter": "Weights", "ofmap": "Outputs"}
_WORD_BITS = 8  # SCALE-Sim counts in words of one byte


# ---------------------------------------------------------------------------------------------
# architecture <-> array configuration
# ---------------------------------------------------------------------------------------------


def systolic_architecture(
    *,
    rows: int,
    cols: int,
    dataflow: str,
    ifmap_sram_words: int,
    filter_sram_words: int,
    ofmap_sram_words: int,
    bandwidth_mode: str = "calc",
    ifmap_dram_words_per_cycle: int | None = None,
    filter_dram_words_per_cycle: int | None = None,
    ofmap_dram_words_per_cycle: int | None = None,
    name: str = "systolic",
    technology: str = "45nm",
) -> Architecture:
    """A SCALE-Sim array as a Timeloop v0.4 architecture (see the module docstring).

    Parameters
    ----------
    rows, cols : int
        Array height and width in PEs.
    dataflow : {"os", "ws", "is"}
        Output, weight or input stationary.
    ifmap_sram_words, filter_sram_words, ofmap_sram_words : int
        SRAM sizes in words (bytes), each double buffered.
    bandwidth_mode : {"calc", "user"}
        SCALE-Sim's ``InterfaceBandwidth``.
    ifmap_dram_words_per_cycle, filter_dram_words_per_cycle, ofmap_dram_words_per_cycle : int, optional
        DRAM bandwidths in words/cycle, required in ``user`` mode.
    name : str
        Architecture name.
    technology : str
        Technology attribute for energy estimation.

    Returns
    -------
    Architecture

    Raises
    ------
    SpecError
        For an unknown dataflow or bandwidth mode, or missing USER-mode bandwidths.
    """
    where = Where(None, ("systolic",))
    if dataflow not in DATAFLOWS:
        raise SpecError(where / "dataflow", f"unknown dataflow {dataflow!r}; choose one of {list(DATAFLOWS)}")
    if bandwidth_mode not in ("calc", "user"):
        raise SpecError(where / "bandwidth", f"unknown bandwidth mode {bandwidth_mode!r}; use 'calc' or 'user'")
    bws = {"ifmap": ifmap_dram_words_per_cycle, "filter": filter_dram_words_per_cycle,
           "ofmap": ofmap_dram_words_per_cycle}
    if bandwidth_mode == "user":
        missing = [k for k, v in bws.items() if v is None]
        if missing:
            raise SpecError(where / "bandwidth", f"USER mode needs the {missing} bandwidths (words/cycle)")
    sizes = {"ifmap": ifmap_sram_words, "filter": filter_sram_words, "ofmap": ofmap_sram_words}

    def sram(operand: str) -> TaggedDict:
        attrs: dict[str, Any] = {"entries": int(sizes[operand]), "datawidth": _WORD_BITS, "width": _WORD_BITS,
                                 "multiple_buffering": 2, "operand": operand}
        if bandwidth_mode == "user":
            key = "read_bandwidth" if operand == "ofmap" else "write_bandwidth"
            attrs[key] = int(bws[operand] or 0)
        keep = _DATASPACE[operand]
        bypass = [d for d in _DATASPACE.values() if d != keep]
        return TaggedDict("Component", {
            "name": f"{operand}_sram", "class": "SRAM", "attributes": attrs,
            "constraints": {"dataspace": {"keep": [keep], "bypass": bypass}},
        })

    nodes = [
        TaggedDict("Container", {"name": name, "attributes": {"technology": technology}}),
        TaggedDict("Component", {"name": "DRAM", "class": "DRAM",
                                 "attributes": {"type": "LPDDR4", "width": 64, "datawidth": _WORD_BITS}}),
        sram("ofmap"),
        sram("filter"),
        sram("ifmap"),
        TaggedDict("Component", {"name": "mac", "class": "intmac", "spatial": {"meshX": int(cols), "meshY": int(rows)},
                                 "attributes": {"datawidth": _WORD_BITS, "dataflow": dataflow}}),
    ]
    return parse_architecture({"version": 0.4, "name": name, "nodes": nodes}, where=where)


def architecture_from_config(config: SystolicArrayConfig, *, name: str = "systolic") -> Architecture:
    """The architecture of a SCALE-Sim array configuration (inverse of :func:`systolic_config`)."""
    return systolic_architecture(
        rows=config.rows, cols=config.cols, dataflow=config.dataflow,
        ifmap_sram_words=config.ifmap_sram_words, filter_sram_words=config.filter_sram_words,
        ofmap_sram_words=config.ofmap_sram_words, bandwidth_mode=config.bandwidth_mode,
        ifmap_dram_words_per_cycle=config.ifmap_dram_words_per_cycle,
        filter_dram_words_per_cycle=config.filter_dram_words_per_cycle,
        ofmap_dram_words_per_cycle=config.ofmap_dram_words_per_cycle, name=name,
    )


def _sram_levels(arch: Architecture) -> dict[str, StorageLevel]:
    """The three SRAM levels by operand (``operand`` attribute, else the name)."""
    found: dict[str, StorageLevel] = {}
    for level in arch.storage:
        operand = level.attribute("operand")
        if operand is None:
            operand = next((o for o in OPERANDS if level.name.lower().startswith(o)), None)
        if operand in OPERANDS:
            if operand in found:
                raise SpecError(Where(None, ("architecture", level.name)),
                                f"two {operand} SRAMs ({found[operand].name!r} and {level.name!r})")
            found[str(operand)] = level
    return found


def systolic_config(arch: Architecture) -> SystolicArrayConfig:
    """The SCALE-Sim array configuration an architecture describes.

    Parameters
    ----------
    arch : Architecture
        A systolic architecture: a compute level with a ``dataflow`` attribute and three SRAM
        levels marked ``operand: ifmap|filter|ofmap`` (or named ``ifmap*``, ``filter*``,
        ``ofmap*``).

    Returns
    -------
    SystolicArrayConfig
        Rows and columns from the compute level (``rows``/``cols`` attributes, else its meshY and
        meshX), SRAM sizes in words, ``calc`` mode when no SRAM has a DRAM-side bandwidth, ``user``
        mode when all three have one (ifmap/filter ``write_bandwidth``, ofmap ``read_bandwidth``).

    Raises
    ------
    SpecError
        If the compute level declares no dataflow, an SRAM is missing or unbounded, or only some
        bandwidths are given.
    """
    where = Where(None, ("architecture",))
    c = arch.compute
    dataflow = c.attribute("dataflow")
    if dataflow is None:
        raise SpecError(where / c.name, "the compute level declares no 'dataflow' attribute (os, ws or is)")
    srams = _sram_levels(arch)
    missing = [o for o in OPERANDS if o not in srams]
    if missing:
        raise SpecError(where, f"no {missing} SRAM level; mark the SRAMs with 'operand: ifmap|filter|ofmap'")
    sizes = {}
    for operand, level in srams.items():
        if level.size_words is None:
            raise SpecError(where / level.name, "the SRAM has no size; give 'entries' or 'depth'")
        sizes[operand] = level.size_words
    bws = {
        "ifmap": srams["ifmap"].write_bandwidth,
        "filter": srams["filter"].write_bandwidth,
        "ofmap": srams["ofmap"].read_bandwidth,
    }
    given = [k for k, v in bws.items() if v is not None]
    if given and len(given) != 3:
        raise SpecError(
            where,
            f"DRAM bandwidths given for {given} only; give all three (USER mode: ifmap/filter SRAM "
            "write_bandwidth and ofmap SRAM read_bandwidth) or none (CALC mode)",
        )
    for k, v in bws.items():
        if v is not None and (v != int(v) or v < 1):
            raise SpecError(where / srams[k].name, f"SCALE-Sim bandwidths are whole words/cycle >= 1, got {v}")
    user = len(given) == 3
    return SystolicArrayConfig(
        rows=int(c.attribute("rows", c.mesh_y)),
        cols=int(c.attribute("cols", c.mesh_x)),
        dataflow=str(dataflow),
        ifmap_sram_words=int(sizes["ifmap"]),
        filter_sram_words=int(sizes["filter"]),
        ofmap_sram_words=int(sizes["ofmap"]),
        bandwidth_mode="user" if user else "calc",
        ifmap_dram_words_per_cycle=int(bws["ifmap"]) if user else None,
        filter_dram_words_per_cycle=int(bws["filter"]) if user else None,
        ofmap_dram_words_per_cycle=int(bws["ofmap"]) if user else None,
    )


# ---------------------------------------------------------------------------------------------
# compact YAML form
# ---------------------------------------------------------------------------------------------


def parse_systolic_arch(data: MappingABC[str, Any], *, where: Where | None = None) -> Architecture:
    """Build the architecture from the compact ``systolic`` section (see the module docstring).

    Raises
    ------
    SpecError
        For unknown keys (listing the allowed ones), missing keys or bad values.
    """
    where = where or Where(None, ("systolic",))
    if not isinstance(data, MappingABC):
        raise SpecError(where, "the systolic section must be a mapping")
    allowed = {"name", "rows", "cols", "dataflow", "sram_kb", "sram_words", "bandwidth", "technology", "description"}
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise SpecError(where / unknown[0], f"unknown key {unknown[0]!r}; allowed: {sorted(allowed)}")
    for key in ("rows", "cols", "dataflow"):
        if key not in data:
            raise SpecError(where, f"missing key {key!r}")
    if ("sram_kb" in data) == ("sram_words" in data):
        raise SpecError(where, "give exactly one of 'sram_kb' (KiB, as SCALE-Sim) or 'sram_words'")
    size_key = "sram_kb" if "sram_kb" in data else "sram_words"
    sizes_raw = data[size_key]
    if not isinstance(sizes_raw, MappingABC) or set(map(str, sizes_raw)) != set(OPERANDS):
        raise SpecError(where / size_key, f"expected a mapping with keys {list(OPERANDS)}")
    scale = 1024 if size_key == "sram_kb" else 1
    sizes = {}
    for operand in OPERANDS:
        value = sizes_raw[operand]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SpecError(where / size_key / operand, f"must be a positive integer, got {value!r}")
        sizes[operand] = value * scale
    bandwidth = data.get("bandwidth", "calc")
    bws: dict[str, int | None] = {o: None for o in OPERANDS}
    if isinstance(bandwidth, str):
        if bandwidth.lower() != "calc":
            raise SpecError(where / "bandwidth", f"expected 'calc' or a mapping {{ifmap, filter, ofmap}}, got {bandwidth!r}")
        mode = "calc"
    elif isinstance(bandwidth, MappingABC) and set(map(str, bandwidth)) == set(OPERANDS):
        mode = "user"
        for operand in OPERANDS:
            value = bandwidth[operand]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpecError(where / "bandwidth" / operand, f"must be a positive integer (words/cycle), got {value!r}")
            bws[operand] = value
    else:
        raise SpecError(where / "bandwidth", f"expected 'calc' or a mapping with keys {list(OPERANDS)}")
    for key in ("rows", "cols"):
        value = data[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SpecError(where / key, f"must be a positive integer, got {value!r}")
    return systolic_architecture(
        rows=int(data["rows"]), cols=int(data["cols"]), dataflow=str(data["dataflow"]),
        ifmap_sram_words=sizes["ifmap"], filter_sram_words=sizes["filter"], ofmap_sram_words=sizes["ofmap"],
        bandwidth_mode=mode, ifmap_dram_words_per_cycle=bws["ifmap"], filter_dram_words_per_cycle=bws["filter"],
        ofmap_dram_words_per_cycle=bws["ofmap"], name=str(data.get("name", "systolic")),
        technology=str(data.get("technology", "45nm")),
    )


def systolic_arch_to_dict(arch: Architecture) -> dict[str, Any]:
    """The compact ``systolic`` section of a systolic architecture (round-trips through :func:`parse_systolic_arch`)."""
    config = systolic_config(arch)
    sizes = {"ifmap": config.ifmap_sram_words, "filter": config.filter_sram_words, "ofmap": config.ofmap_sram_words}
    kib = all(v % 1024 == 0 for v in sizes.values())
    out: dict[str, Any] = {
        "name": arch.name,
        "rows": config.rows,
        "cols": config.cols,
        "dataflow": config.dataflow,
        "sram_kb" if kib else "sram_words": {k: (v // 1024 if kib else v) for k, v in sizes.items()},
    }
    if config.bandwidth_mode == "user":
        out["bandwidth"] = {"ifmap": config.ifmap_dram_words_per_cycle, "filter": config.filter_dram_words_per_cycle,
                            "ofmap": config.ofmap_dram_words_per_cycle}
    else:
        out["bandwidth"] = "calc"
    return {"systolic": out}


def load_systolic_arch_file(path: str | Path) -> Architecture:
    """Read a systolic architecture: the compact ``systolic`` form or a full ``architecture`` section.

    Raises
    ------
    SpecError
        If the file holds neither key, or the content is invalid.
    """
    p = Path(path)
    doc = load_yaml_file(p)
    if isinstance(doc, MappingABC) and "systolic" in doc:
        return parse_systolic_arch(doc["systolic"], where=Where(p, ("systolic",)))
    if isinstance(doc, MappingABC) and "architecture" in doc:
        return parse_architecture(doc["architecture"], where=Where(p, ("architecture",)))
    raise SpecError(Where(p), "expected a top-level 'systolic' (compact form) or 'architecture' key")


# ---------------------------------------------------------------------------------------------
# problem <-> layer
# ---------------------------------------------------------------------------------------------


def cnn_layer_problem(
    *, C: int, M: int, R: int, S: int, N: int, P: int, Q: int, Wstride: int = 1, Hstride: int = 1,
    extra: MappingABC[str, int] | None = None, name: str = "CNN-Layer",
) -> Problem:
    """A Timeloop CNN-layer problem (Weights, Inputs, Outputs), optionally with extra coefficients."""
    coefficients = [{"name": c, "default": 1} for c in ("Wstride", "Hstride", "Wdilation", "Hdilation")]
    for key in (extra or {}):
        coefficients.append({"name": key, "default": 1})
    shape = {
        "name": name,
        "dimensions": ["C", "M", "R", "S", "N", "P", "Q"],
        "coefficients": coefficients,
        "data-spaces": [
            {"name": "Weights", "projection": [[["C"]], [["M"]], [["R"]], [["S"]]]},
            {"name": "Inputs", "projection": [[["N"]], [["C"]], [["R", "Wdilation"], ["P", "Wstride"]],
                                              [["S", "Hdilation"], ["Q", "Hstride"]]]},
            {"name": "Outputs", "projection": [[["N"]], [["M"]], [["Q"]], [["P"]]], "read-write": True},
        ],
    }
    instance = {"C": C, "M": M, "R": R, "S": S, "N": N, "P": P, "Q": Q, "Wstride": Wstride, "Hstride": Hstride,
                **dict(extra or {})}
    return parse_problem({"shape": shape, "instance": instance})


def problem_from_layer(layer: SystolicLayer) -> Problem:
    """The Timeloop problem of a SCALE-Sim layer (inverse of :func:`systolic_layer`).

    A GEMM layer becomes a CNN-layer problem with ``P = Q = R = S = 1``, ``N`` = GEMM rows, ``M`` =
    GEMM columns and ``C`` = reduction length. A convolution keeps SCALE-Sim's ofmap size as
    ``P``/``Q``; when its ifmap is not ``(P - 1) * stride + R`` pixels wide/high, the real size is
    kept in the coefficients ``Wifmap``/``Hifmap``.
    """
    if layer.source_format == "gemm":
        m, n, k = layer.gemm_mnk
        return cnn_layer_problem(C=k, M=n, R=1, S=1, N=m, P=1, Q=1, name="CNN-Layer")
    s = layer.stride
    P, Q = layer.ofmap_w, layer.ofmap_h
    extra = {}
    if (P - 1) * s + layer.filter_w != layer.ifmap_w:
        extra["Wifmap"] = layer.ifmap_w
    if (Q - 1) * s + layer.filter_h != layer.ifmap_h:
        extra["Hifmap"] = layer.ifmap_h
    return cnn_layer_problem(C=layer.channels, M=layer.num_filters, R=layer.filter_w, S=layer.filter_h, N=1, P=P,
                             Q=Q, Wstride=s, Hstride=s, extra=extra)


def _gemm_roles(problem: Problem) -> tuple[int, int, int] | None:
    """``(M, N, K)`` of a three-dimension matrix product, or None."""
    if len(problem.dimensions) != 3 or len(problem.dataspaces) != 3:
        return None
    outs = [ds for ds in problem.dataspaces if ds.read_write]
    ins = [ds for ds in problem.dataspaces if not ds.read_write]
    if len(outs) != 1 or len(ins) != 2:
        return None
    out_dims = set(outs[0].dimensions)
    reduction = [d for d in problem.dimensions if d not in out_dims]
    if len(out_dims) != 2 or len(reduction) != 1:
        return None
    k = reduction[0]
    weights = next((ds for ds in ins if "weight" in ds.name.lower() or "filter" in ds.name.lower()), ins[1])
    inputs = ins[0] if weights is ins[1] else ins[1]
    n_dims = [d for d in weights.dimensions if d != k]
    m_dims = [d for d in inputs.dimensions if d != k]
    if len(n_dims) != 1 or len(m_dims) != 1 or set(n_dims + m_dims) != out_dims:
        return None
    return problem.bound(m_dims[0]), problem.bound(n_dims[0]), problem.bound(k)


def systolic_layer(problem: Problem, *, name: str | None = None) -> SystolicLayer:
    """The SCALE-Sim layer of a problem.

    Parameters
    ----------
    problem : Problem
        A CNN-layer problem (dimensions ``C M R S N P Q``) or a three-dimension matrix product.
    name : str, optional
        Layer name (default: the problem's shape name).

    Returns
    -------
    SystolicLayer
        A GEMM when ``P = Q = R = S = 1`` (or a matrix product), else a convolution.

    Raises
    ------
    SpecError
        For shapes SCALE-Sim cannot run: dilation, different strides along the two axes, a
        batch ``N > 1`` convolution, or other dimension sets.
    """
    where = Where(None, ("problem",))
    label = name or problem.name
    dims = set(problem.dimensions)
    if dims == {"C", "M", "R", "S", "N", "P", "Q"}:
        b = problem.instance
        coef = dict(problem.coefficients)
        if coef.get("Wdilation", 1) != 1 or coef.get("Hdilation", 1) != 1:
            raise SpecError(where, "SCALE-Sim has no dilation; use Wdilation = Hdilation = 1")
        if b["P"] == b["Q"] == b["R"] == b["S"] == 1 and "Wifmap" not in coef and "Hifmap" not in coef:
            return SystolicLayer.gemm(b["N"], b["M"], b["C"], name=label)
        if b["N"] != 1:
            raise SpecError(where / "instance" / "N", f"SCALE-Sim convolutions have batch 1, got N = {b['N']}")
        ws, hs = coef.get("Wstride", 1), coef.get("Hstride", 1)
        if ws != hs and b["P"] > 1 and b["Q"] > 1:
            raise SpecError(where, f"SCALE-Sim has one stride; Wstride = {ws} and Hstride = {hs} differ")
        stride = ws if b["P"] > 1 else hs
        width = coef.get("Wifmap", (b["P"] - 1) * stride + b["R"])
        height = coef.get("Hifmap", (b["Q"] - 1) * stride + b["S"])
        return SystolicLayer.conv(ifmap_h=height, ifmap_w=width, filter_h=b["S"], filter_w=b["R"],
                                  channels=b["C"], num_filters=b["M"], stride=stride, name=label)
    mnk = _gemm_roles(problem)
    if mnk is None:
        raise SpecError(
            where,
            f"cannot run problem {problem.name!r} with dimensions {list(problem.dimensions)} on SCALE-Sim's "
            "engine: use a CNN-layer problem (C M R S N P Q) or a three-dimension matrix product",
        )
    return SystolicLayer.gemm(*mnk, name=label)


# ---------------------------------------------------------------------------------------------
# the route
# ---------------------------------------------------------------------------------------------


def case_architecture(case: ScaleSimCase) -> Architecture:
    """The architecture of a SCALE-Sim case folder's configuration."""
    return architecture_from_config(case.config, name=case.name)


def case_problems(case: ScaleSimCase) -> tuple[Problem, ...]:
    """The problems of a SCALE-Sim case folder's topology, one per layer."""
    return tuple(problem_from_layer(layer) for layer in case.layers)


def simulate_arch(arch: Architecture, problem: Problem, *, name: str | None = None) -> SystolicResult:
    """Simulate ``problem`` on the systolic ``arch`` exactly as SCALE-Sim 3.0.0 would.

    Returns
    -------
    SystolicResult
        SCALE-Sim's report figures (cycles, stalls, utilisations, access counts).

    Raises
    ------
    SpecError
        If ``arch`` is not a systolic architecture or ``problem`` has no SCALE-Sim form.
    """
    return simulate_systolic(systolic_config(arch), systolic_layer(problem, name=name))


def scalesim_mapping(arch: Architecture, problem: Problem) -> Mapping:
    """The mapping SCALE-Sim uses for a GEMM-form problem on a systolic architecture.

    SCALE-Sim maps ``Sr`` on the array rows and ``Sc`` on the columns and streams ``T`` (os:
    ``Sr, Sc, T = M, N, K``; ws: ``K, N, M``; is: ``K, M, N``), running ``ceil(Sr / rows) *
    ceil(Sc / cols)`` folds back to back, column folds outer. As a Timeloop mapping: the fold
    loops at DRAM (row folds inner), the spatial ``Sr``/``Sc`` at the innermost SRAM (padded with
    imperfect factors when they do not divide), and ``T`` as the temporal loop of that SRAM. With
    the single-core simulator this gives SCALE-Sim's per-fold timing: ``T`` cycles plus the
    dataflow's fill/drain per fold.

    Parameters
    ----------
    arch : Architecture
        A systolic architecture (see :func:`systolic_architecture`).
    problem : Problem
        A CNN-layer problem with ``P = Q = R = S = 1`` (a GEMM).

    Returns
    -------
    Mapping

    Raises
    ------
    SpecError
        If the problem is not in GEMM form or the architecture is not systolic.
    """
    config = systolic_config(arch)
    where = Where(None, ("problem",))
    if set(problem.dimensions) != {"C", "M", "R", "S", "N", "P", "Q"}:
        raise SpecError(where, "scalesim_mapping needs a CNN-layer problem (C M R S N P Q) in GEMM form")
    b = problem.instance
    if not b["P"] == b["Q"] == b["R"] == b["S"] == 1:
        raise SpecError(where, "scalesim_mapping needs a GEMM-form problem (P = Q = R = S = 1)")
    # GEMM M rows = N, GEMM N columns = M, K = C in the CNN-layer form
    sr, sc, t = {"os": ("N", "M", "C"), "ws": ("C", "M", "N"), "is": ("C", "N", "M")}[config.dataflow]
    rows, cols = config.rows, config.cols

    def split(bound: int, width: int) -> tuple[int, str]:
        used = min(bound, width)
        folds = -(-bound // used)
        residual = bound - (folds - 1) * used
        return folds, f"{used},{residual}" if residual != used else str(used)

    row_folds, row_spatial = split(b[sr], rows)
    col_folds, col_spatial = split(b[sc], cols)
    srams = _sram_levels(arch)
    innermost = max(srams.values(), key=lambda lv: arch.level_index(lv.name))
    names = [lv.name for lv in arch.storage]
    others = [d for d in problem.dimensions if d not in (sr, sc, t)]
    directives: list[dict[str, Any]] = []
    for level in arch.storage:
        operand = next((o for o, lv in srams.items() if lv.name == level.name), None)
        if level.is_dram:
            directives.append({"target": level.name, "type": "datatype", "keep": list(_DATASPACE.values()), "bypass": []})
        elif operand is not None:
            keep = _DATASPACE[operand]
            directives.append({"target": level.name, "type": "datatype", "keep": [keep],
                               "bypass": [d for d in _DATASPACE.values() if d != keep]})
    directives.append({"target": names[0], "type": "temporal", "factors": f"{sr}={row_folds} {sc}={col_folds}",
                       "permutation": [sr, sc, t, *others]})
    directives.append({"target": innermost.name, "type": "spatial",
                       "factors": f"{sc}={col_spatial} {sr}={row_spatial}", "permutation": [sc, sr, t, *others],
                       "split": 1})
    directives.append({"target": innermost.name, "type": "temporal", "factors": f"{t}={b[t]}",
                       "permutation": [t, sr, sc, *others]})
    return parse_mapping(directives, arch, problem, where=Where(None, ("scalesim_mapping",)))
