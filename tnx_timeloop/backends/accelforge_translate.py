"""Translate between Timeloop-style inputs and AccelForge 1.0.467 specs, and back.

Pure functions over plain data (``dict``/``list``/numbers): this module imports only
the standard library, PyYAML and :mod:`tnx_timeloop.errors`, so it runs on Python 3.11
without AccelForge. AccelForge itself (Python >= 3.12) runs in its own environment
through :mod:`tnx_timeloop.backends._accelforge_worker`.

Three translations:

* :func:`translate_problem` -- a Timeloop v3 problem (``shape`` + ``instance``) into one
  AccelForge einsum (``workload:`` document). Dimensions become lower-case *rank
  variables*, every data-space projection becomes a ``{rank: ISL expression}`` map
  (``Inputs[..., W = R*Wdilation + P*Wstride]`` becomes ``{R_P: "r + p"}``), and the
  read-write data-space becomes the einsum's output.
* :func:`translate_arch` -- an ordered list of levels (outermost first; storage levels
  then one compute level) into an AccelForge ``arch:`` document with ``Memory`` and
  ``Compute`` nodes, explicit per-action energies (J), throughputs (actions/s), areas
  (m^2) and zero leakage, so that no AccelForge component model (CACTI, ...) is called
  and both tools use the same numbers.
* :func:`figures_from_result` -- the worker's raw AccelForge figures (J, s, actions)
  into Timeloop-style figures: cycles, pJ, per-component per-tensor accesses in words.

Units, AccelForge side: memory ``size`` in bits; action ``energy`` in J; ``throughput``
in actions per second; ``area`` in m^2; ``leak_power`` in W; latency in seconds.
Timeloop side: sizes in words, energies in pJ per word access (or per MAC), bandwidths
in words per cycle, areas in um^2.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tnx_timeloop.errors import SpecError, SpecErrors, Where

__all__ = [
    "ACCELFORGE_VERSION",
    "RESERVED_NAMES",
    "STORAGE_CLASS_WORDS",
    "COMPUTE_CLASS_WORDS",
    "WorkloadTranslation",
    "ArchTranslation",
    "AccelForgeFigures",
    "translate_problem",
    "translate_arch",
    "figures_from_result",
    "ert_energies_pj",
    "to_accelforge_yaml",
]

ACCELFORGE_VERSION = "1.0.467"
"""The AccelForge release these translations were written and tested against."""

RESERVED_NAMES = frozenset(
    {
        # set-expression names AccelForge defines in every einsum's symbol table
        "All",
        "Tensors",
        "Nothing",
        "Inputs",
        "Outputs",
        "Intermediates",
        "Shared",
        "Persistent",
        "Other",
        "Above",
        # names of the spec's own sections, visible in expressions
        "spec",
        "arch",
        "workload",
        "variables",
        "renames",
        "mapping",
        "config",
        # functions available inside AccelForge expressions
        "min",
        "max",
        "sum",
        "len",
        "abs",
        "round",
        "int",
        "float",
    }
)
"""Names a tensor, rank or rank variable must not take in an AccelForge spec.

A Timeloop data-space with one of these names (notably ``Inputs`` and ``Outputs`` of
the CNN-layer shape) is renamed with a ``_t`` suffix; the renaming is reported in
:attr:`WorkloadTranslation.tensor_names`.
"""

_ISL_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "not",
        "xor",
        "implies",
        "mod",
        "floor",
        "ceil",
        "min",
        "max",
        "exists",
        "true",
        "false",
        "infty",
        "nan",
        "domain",
        "range",
        "params",
    }
)

STORAGE_CLASS_WORDS = ("dram", "sram", "regfile", "smartbuffer", "storage", "buffer", "memory")
"""A level whose ``class`` contains one of these (case-insensitive) is a storage level.

Checked before :data:`COMPUTE_CLASS_WORDS`, so ``SRAM_macro`` is storage.
"""

COMPUTE_CLASS_WORDS = ("mac", "compute")
"""A level whose ``class`` contains one of these (intmac, fpmac, ...) is the compute level."""

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_LEVEL_KEYS = {
    "name": "level name (unique, an identifier)",
    "class": "Timeloop class, e.g. DRAM, SRAM, regfile, intmac",
    "size_words": "capacity in words (storage; omit or null = unbounded)",
    "depth": "Timeloop depth (rows of `width` bits; words when no width)",
    "width": "Timeloop width in bits (used with depth)",
    "word_bits": "bits per word",
    "word-bits": "alias of word_bits",
    "datawidth": "alias of word_bits (compute levels)",
    "instances": "number of instances of this level (total, not per parent)",
    "meshX": "X extent of the instances (default: instances)",
    "read_bandwidth": "words per cycle per instance (storage; omit = unlimited)",
    "write_bandwidth": "words per cycle per instance (storage; omit = unlimited)",
    "shared_bandwidth": "words per cycle per instance shared by reads and writes",
    "energy_pj": "per-action energy in pJ: {read, write} per word, or {compute} per MAC",
    "area_um2": "area of one instance in um^2 (default 0)",
    "keep": "data-spaces that must be kept at this level (storage)",
    "bypass": "data-spaces that must bypass this level (storage)",
}


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class WorkloadTranslation:
    """One Timeloop problem as an AccelForge einsum.

    Attributes
    ----------
    workload : dict
        The body of AccelForge's ``workload:`` document (``bits_per_value`` and one
        einsum). Render it with :func:`to_accelforge_yaml` ``({"workload": workload})``.
    einsum_name : str
        Name of the einsum (the shape name made an identifier).
    tensor_names : dict of str to str
        Timeloop data-space name -> AccelForge tensor name (equal unless renamed, e.g.
        ``Inputs -> Inputs_t``).
    rank_variables : dict of str to str
        Timeloop dimension -> AccelForge rank variable (``C -> c``).
    ranks : dict of str to tuple of str
        Timeloop data-space name -> its AccelForge rank names, outermost first.
    bounds : dict of str to int
        Timeloop dimension -> loop bound.
    bits_per_value : dict of str to int
        Timeloop data-space name -> bits per value.
    macs : int
        Number of multiply-accumulates, the product of all bounds.
    """

    workload: dict[str, Any]
    einsum_name: str
    tensor_names: dict[str, str]
    rank_variables: dict[str, str]
    ranks: dict[str, tuple[str, ...]]
    bounds: dict[str, int]
    bits_per_value: dict[str, int]
    macs: int


@dataclass(frozen=True, slots=True)
class ArchTranslation:
    """A level list as an AccelForge architecture.

    Attributes
    ----------
    arch : dict
        The body of AccelForge's ``arch:`` document. Nodes are dicts whose ``type`` key
        (``"Memory"`` or ``"Compute"``) becomes the YAML tag (``!Memory``) in
        :func:`to_accelforge_yaml`.
    clock_hz : float
        Clock used to turn words per cycle into actions per second; cycles = latency
        seconds x ``clock_hz``.
    storage_levels : tuple of str
        Storage level names, outermost first.
    compute_level : str
        Name of the compute level.
    word_bits : dict of str to int
        Level name -> bits per word.
    fanout : dict of str to tuple of int
        Level name -> ``(X, Y)`` fanout relative to the level above.
    """

    arch: dict[str, Any]
    clock_hz: float
    storage_levels: tuple[str, ...]
    compute_level: str
    word_bits: dict[str, int]
    fanout: dict[str, tuple[int, int]]


@dataclass(frozen=True, slots=True)
class AccelForgeFigures:
    """AccelForge's figures for one mapping, in Timeloop's units.

    Attributes
    ----------
    latency_cycles : int
        Cycles = latency seconds x clock, rounded to the nearest integer.
    latency_s : float
        Latency in seconds, as AccelForge reports it.
    energy_pj : float
        Total energy in pJ (dynamic + leakage).
    energy_by_component_pj : dict of str to float
        Level name -> energy in pJ (summed over tensors and actions).
    latency_by_component_cycles : dict of str to float
        Level name -> the cycles that level alone would need (its bandwidth bound).
    accesses_words : dict of str to dict of str to dict of str to float
        ``[level][data-space][action]`` -> accesses in words (values), summed over
        instances; actions are ``read`` and ``write`` (writes include fills and
        partial-sum updates). Data-space names are the Timeloop ones.
    macs : int
        Compute actions.
    n_mappings : int
        Mappings AccelForge returned (1 unless it kept a Pareto set).
    """

    latency_cycles: int
    latency_s: float
    energy_pj: float
    energy_by_component_pj: dict[str, float]
    latency_by_component_cycles: dict[str, float]
    accesses_words: dict[str, dict[str, dict[str, float]]]
    macs: int
    n_mappings: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers


def _as_int(value: Any, where: Where, what: str, issues: list[SpecError]) -> int | None:
    """Return ``value`` as an int, or record an issue and return None."""
    if isinstance(value, bool):
        issues.append(SpecError(where, f"{what} must be an integer, got {value!r}"))
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    issues.append(SpecError(where, f"{what} must be an integer, got {value!r}"))
    return None


def _as_float(value: Any, where: Where, what: str, issues: list[SpecError]) -> float | None:
    """Return ``value`` as a float, or record an issue and return None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        issues.append(SpecError(where, f"{what} must be a number, got {value!r}"))
        return None
    try:
        return float(value)
    except ValueError:
        issues.append(SpecError(where, f"{what} must be a number, got {value!r}"))
        return None


def _raise(issues: list[SpecError]) -> None:
    """Raise the collected issues, one alone or all together."""
    if len(issues) == 1:
        raise issues[0]
    if issues:
        raise SpecErrors(issues)


def _identifier(name: str) -> str:
    """Make ``name`` a Python/ISL identifier (``CNN-Layer`` -> ``CNN_Layer``)."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not ident or ident[0].isdigit():
        ident = f"E_{ident}"
    return ident


# --------------------------------------------------------------------------- problem


def translate_problem(
    problem: Mapping[str, Any],
    *,
    bits_per_value: int | Mapping[str, int] = 16,
    einsum_name: str | None = None,
    where: Where | None = None,
) -> WorkloadTranslation:
    """Translate a Timeloop v3 problem into one AccelForge einsum.

    Parameters
    ----------
    problem : mapping
        The problem as plain data: either ``{"problem": {...}}`` or the inner mapping
        with ``shape`` (``name``, ``dimensions``, optional ``coefficients``,
        ``data-spaces`` with ``projection`` and ``read-write``) and ``instance``
        (a bound per dimension, optional coefficient values).
    bits_per_value : int or mapping of str to int, default 16
        Bits per tensor value: one number for all data-spaces, or per Timeloop
        data-space name (every data-space must be listed).
    einsum_name : str, optional
        Name of the einsum; default: the shape name made an identifier.
    where : Where, optional
        Location of ``problem`` for error messages (file and key path).

    Returns
    -------
    WorkloadTranslation
        The workload document body and the name maps.

    Raises
    ------
    SpecError
        For input Timeloop would reject, and for projections AccelForge cannot express
        with Timeloop's meaning: a shape given by name (``shape: cnn-layer``), a
        ``flatten`` section, a coefficient that is not a positive integer (AccelForge
        skips out-of-range indices and drops zero terms from the relevance analysis,
        Timeloop does neither), terms of more than two items, sparse ``densities``, a
        dimension that indexes no data-space, and anything but exactly one read-write
        data-space. Several problems are raised together as
        :class:`~tnx_timeloop.errors.SpecErrors`.

    Notes
    -----
    A Timeloop rank ``[[R, Wdilation], [P, Wstride]]`` (index ``Wdilation*R +
    Wstride*P``, see ``src/workload/shape-models/problem-shape.cpp``) becomes the
    AccelForge rank ``R_P`` (``R_P2`` for stride 2) with projection ``"r + 2*p"`` and
    size ``Wdilation*(R-1) + Wstride*(P-1) + 1``, so no index falls outside the tensor
    (no padding, as in Timeloop). A data-space's optional ``ranks`` list names its
    ranks instead (``[N, C, H, W]``). A dimension that indexes no data-space is
    rejected: AccelForge has no rank variable for it.

    Examples
    --------
    >>> gemm = {"shape": {"name": "GEMM", "dimensions": ["M", "N", "K"], "data-spaces": [
    ...     {"name": "A", "projection": [[["M"]], [["K"]]]},
    ...     {"name": "B", "projection": [[["K"]], [["N"]]]},
    ...     {"name": "Z", "projection": [[["M"]], [["N"]]], "read-write": True}]},
    ...     "instance": {"M": 4, "N": 2, "K": 3}}
    >>> t = translate_problem(gemm)
    >>> t.workload["einsums"][0]["tensor_accesses"][0]
    {'name': 'A', 'projection': {'M': 'm', 'K': 'k'}}
    >>> t.macs
    24
    """
    where = where if where is not None else Where()
    issues: list[SpecError] = []
    body: Mapping[str, Any] = problem
    if "problem" in problem and isinstance(problem["problem"], Mapping):
        body = problem["problem"]
        where = where / "problem"
    unknown = sorted(set(body) - {"shape", "instance"})
    if unknown:
        issues.append(SpecError(where, f"unknown key(s) {unknown}; allowed: ['instance', 'shape']"))
    shape = body.get("shape")
    instance = body.get("instance")
    if isinstance(shape, str):
        raise SpecError(
            where / "shape",
            f"shape given by name ({shape!r}); AccelForge translation needs the shape inline "
            "(name, dimensions, coefficients, data-spaces)",
        )
    if not isinstance(shape, Mapping):
        raise SpecError(where / "shape", "missing or not a mapping")
    if not isinstance(instance, Mapping):
        raise SpecError(where / "instance", "missing or not a mapping")
    w_shape, w_inst = where / "shape", where / "instance"

    allowed_shape = {"name", "dimensions", "coefficients", "data-spaces", "data_spaces", "flatten"}
    unknown = sorted(set(shape) - allowed_shape)
    if unknown:
        issues.append(SpecError(w_shape, f"unknown key(s) {unknown}; allowed: {sorted(allowed_shape)}"))
    if "flatten" in shape:
        issues.append(
            SpecError(w_shape / "flatten", "flattened dimensions cannot be expressed in AccelForge einsums")
        )

    # dimensions -> rank variables
    dims_raw = shape.get("dimensions")
    if not isinstance(dims_raw, Sequence) or isinstance(dims_raw, str) or not dims_raw:
        raise SpecError(w_shape / "dimensions", "must be a non-empty list of names")
    dims: list[str] = []
    rank_var: dict[str, str] = {}
    for i, d in enumerate(dims_raw):
        if not isinstance(d, str) or not _IDENT.match(d):
            issues.append(SpecError(w_shape / "dimensions" / i, f"dimension {d!r} is not an identifier"))
            continue
        if d in dims:
            issues.append(SpecError(w_shape / "dimensions" / i, f"duplicate dimension {d!r}"))
            continue
        dims.append(d)
    for d in dims:
        rv = d.lower()
        while rv in rank_var.values() or rv in _ISL_KEYWORDS or rv in RESERVED_NAMES or keyword.iskeyword(rv):
            rv = f"{rv}_"
        rank_var[d] = rv

    # coefficients
    coef_value: dict[str, int] = {}
    coefs_raw = shape.get("coefficients") or []
    if not isinstance(coefs_raw, Sequence) or isinstance(coefs_raw, str):
        issues.append(SpecError(w_shape / "coefficients", "must be a list of {name, default}"))
        coefs_raw = []
    for i, c in enumerate(coefs_raw):
        wc = w_shape / "coefficients" / i
        if not isinstance(c, Mapping) or not isinstance(c.get("name"), str):
            issues.append(SpecError(wc, "must be a mapping with a string 'name'"))
            continue
        name = c["name"]
        raw = instance.get(name, c.get("default"))
        if raw is None:
            issues.append(SpecError(wc, f"coefficient {name!r} has no default and no instance value"))
            continue
        value = _as_int(
            raw, w_inst / name if name in instance else wc / "default", f"coefficient {name!r}", issues
        )
        if value is not None:
            coef_value[name] = value

    # bounds
    bounds: dict[str, int] = {}
    for d in dims:
        if d not in instance:
            issues.append(SpecError(w_inst, f"no bound for dimension {d!r}; problem has {dims}"))
            continue
        b = _as_int(instance[d], w_inst / d, f"bound of {d!r}", issues)
        if b is not None and b < 1:
            issues.append(SpecError(w_inst / d, f"bound of {d!r} must be >= 1, got {b}"))
        elif b is not None:
            bounds[d] = b
    for key in ("densities", "commonDensity"):
        if key in instance and not _all_dense(instance[key]):
            issues.append(
                SpecError(
                    w_inst / key, "sparse densities cannot be expressed in AccelForge einsums (dense only)"
                )
            )
    extra = sorted(
        set(instance)
        - set(dims)
        - set(coef_value)
        - {"densities", "commonDensity"}
        - {c.get("name") for c in coefs_raw if isinstance(c, Mapping)}
    )
    if extra:
        issues.append(
            SpecError(w_inst, f"unknown key(s) {extra}; dimensions {dims}, coefficients {sorted(coef_value)}")
        )

    # data-spaces
    ds_key = "data-spaces" if "data-spaces" in shape else "data_spaces"
    spaces = shape.get(ds_key)
    if not isinstance(spaces, Sequence) or isinstance(spaces, str) or not spaces:
        raise SpecError(w_shape / ds_key, "must be a non-empty list of data-spaces")
    _raise(issues)  # the projections below need clean dimensions, coefficients and bounds

    tensor_names: dict[str, str] = {}
    ranks_of: dict[str, tuple[str, ...]] = {}
    accesses: list[dict[str, Any]] = []
    rank_sizes: dict[str, int] = {}
    outputs: list[str] = []
    used_dims: set[str] = set()
    taken = set(rank_var.values())
    for i, ds in enumerate(spaces):
        wd = w_shape / ds_key / i
        if not isinstance(ds, Mapping) or not isinstance(ds.get("name"), str):
            issues.append(SpecError(wd, "must be a mapping with a string 'name'"))
            continue
        allowed_ds = {"name", "projection", "read-write", "read_write", "ranks"}
        unknown = sorted(set(ds) - allowed_ds)
        if unknown:
            issues.append(SpecError(wd, f"unknown key(s) {unknown}; allowed: {sorted(allowed_ds)}"))
        name = ds["name"]
        if name in tensor_names:
            issues.append(SpecError(wd / "name", f"duplicate data-space {name!r}"))
            continue
        af_name = _identifier(name)
        while af_name in RESERVED_NAMES or af_name in taken or af_name in tensor_names.values():
            af_name = f"{af_name}_t"
        tensor_names[name] = af_name
        read_write = ds.get("read-write", ds.get("read_write", False))
        if not isinstance(read_write, bool):
            issues.append(SpecError(wd / "read-write", f"must be true or false, got {read_write!r}"))
        elif read_write:
            outputs.append(name)
        exprs = _parse_projection(ds.get("projection"), wd / "projection", dims, coef_value, issues)
        if exprs is None:
            continue
        given_ranks = ds.get("ranks")
        if given_ranks is not None and (
            not isinstance(given_ranks, Sequence)
            or isinstance(given_ranks, str)
            or len(given_ranks) != len(exprs)
            or not all(isinstance(r, str) and _IDENT.match(r) for r in given_ranks)
        ):
            issues.append(SpecError(wd / "ranks", f"must list {len(exprs)} rank names, got {given_ranks!r}"))
            given_ranks = None
        projection: dict[str, str] = {}
        for k, terms in enumerate(exprs):
            used_dims.update(d for d, _ in terms)
            rank = given_ranks[k] if given_ranks is not None else _rank_name(terms, rank_var)
            base, n = rank, 1
            while rank in projection:  # a dimension indexing two ranks (a diagonal)
                n += 1
                rank = f"{base}_{n}"
            size = sum(c * (bounds[d] - 1) for d, c in terms) + 1
            if rank_sizes.get(rank, size) != size:  # only with user-given `ranks`
                issues.append(
                    SpecError(
                        wd / "ranks",
                        f"rank {rank!r} has size {size} here but {rank_sizes[rank]} in another data-space",
                    )
                )
            rank_sizes[rank] = size
            projection[rank] = " + ".join(rank_var[d] if c == 1 else f"{c}*{rank_var[d]}" for d, c in terms)
        ranks_of[name] = tuple(projection)
        access: dict[str, Any] = {"name": af_name, "projection": projection}
        if read_write is True:
            access["output"] = True
        accesses.append(access)
    unused = [d for d in dims if d not in used_dims]
    if unused:
        issues.append(
            SpecError(
                w_shape / "dimensions",
                f"dimension(s) {unused} index no data-space; AccelForge takes an einsum's rank "
                "variables from its tensor accesses, so it cannot iterate over them",
            )
        )
    if len(outputs) != 1:
        issues.append(
            SpecError(
                w_shape / ds_key,
                f"exactly one read-write (output) data-space is supported, found {len(outputs)}: {outputs}",
            )
        )

    bpv = _bits_per_value(bits_per_value, list(tensor_names), where, issues)
    _raise(issues)

    name = _identifier(einsum_name or str(shape.get("name") or "Einsum"))
    if name == "Total":
        name = "Total_einsum"
    uniform = len(set(bpv.values())) == 1
    if not uniform:
        for access, ds_name in zip(accesses, tensor_names, strict=True):
            access["bits_per_value"] = bpv[ds_name]
    einsum: dict[str, Any] = {
        "name": name,
        "tensor_accesses": accesses,
        "iteration_space_shape": [f"0 <= {rank_var[d]} < {bounds[d]}" for d in dims],
        "rank_sizes": rank_sizes,
    }
    workload: dict[str, Any] = {"einsums": [einsum]}
    if uniform:
        workload = {"bits_per_value": {"All": next(iter(bpv.values()))}, **workload}
    return WorkloadTranslation(
        workload=workload,
        einsum_name=name,
        tensor_names=tensor_names,
        rank_variables=dict(rank_var),
        ranks=ranks_of,
        bounds=bounds,
        bits_per_value=bpv,
        macs=math.prod(bounds.values()),
    )


def _all_dense(value: Any) -> bool:
    """Tell whether a Timeloop density spec means fully dense tensors."""
    if isinstance(value, Mapping):
        if "density" in value:
            return _all_dense(value["density"])
        return all(_all_dense(v) for v in value.values())
    try:
        return float(value) == 1.0
    except (TypeError, ValueError):
        return False


def _parse_projection(
    raw: Any, where: Where, dims: list[str], coefs: Mapping[str, int], issues: list[SpecError]
) -> list[list[tuple[str, int]]] | None:
    """Parse a Timeloop projection into ranks of ``(dimension, coefficient)`` terms.

    Accepts both Timeloop forms: a flat array of dimension names (``[C, M]``) and a
    list of expressions, each a list of terms ``[dim]`` or ``[dim, coefficient]``.
    Terms naming the same dimension twice in one rank are merged.
    """
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        issues.append(SpecError(where, "must be a non-empty list"))
        return None
    n_before = len(issues)
    ranks: list[list[tuple[str, int]]] = []
    flat = all(isinstance(x, str) for x in raw)
    for k, expr in enumerate(raw):
        wk = where / k
        terms_raw: Sequence[Any] = [[expr]] if flat else expr
        if not isinstance(terms_raw, Sequence) or isinstance(terms_raw, str) or not terms_raw:
            issues.append(
                SpecError(
                    wk, f"a rank must be a list of terms like [[R, Wdilation], [P, Wstride]], got {expr!r}"
                )
            )
            continue
        merged: dict[str, int] = {}
        for t, term in enumerate(terms_raw):
            wt = wk / t
            if isinstance(term, str):
                term = [term]
            if not isinstance(term, Sequence) or not 1 <= len(term) <= 2:
                issues.append(
                    SpecError(wt, f"a term must be [dimension] or [dimension, coefficient], got {term!r}")
                )
                continue
            d = term[0]
            if d not in dims:
                issues.append(SpecError(wt, f"unknown dimension {d!r}; problem has {dims}"))
                continue
            c = 1
            if len(term) == 2:
                cname = term[1]
                if isinstance(cname, bool) or not isinstance(cname, (str, int)):
                    issues.append(SpecError(wt, f"coefficient must be a name, got {cname!r}"))
                    continue
                if isinstance(cname, int):
                    c = cname
                elif cname not in coefs:
                    issues.append(SpecError(wt, f"unknown coefficient {cname!r}; shape has {sorted(coefs)}"))
                    continue
                else:
                    c = coefs[cname]
                if c < 1:
                    issues.append(
                        SpecError(
                            wt,
                            f"coefficient {cname!r} = {c} cannot be expressed in AccelForge: only positive "
                            "integer coefficients keep Timeloop's meaning (AccelForge skips indices "
                            "outside [0, size) and a zero term changes which dimensions are relevant)",
                        )
                    )
                    continue
            merged[d] = merged.get(d, 0) + c
        ranks.append(list(merged.items()))
    return ranks if len(issues) == n_before else None


def _rank_name(terms: list[tuple[str, int]], rank_var: Mapping[str, str]) -> str:
    """Rank name for a projection: ``M`` for ``[[M]]``, ``R_P2`` for ``r + 2*p``."""
    parts = [rank_var[d].upper() + ("" if c == 1 else str(c)) for d, c in terms]
    return "_".join(parts)


def _bits_per_value(
    bits: int | Mapping[str, int], names: list[str], where: Where, issues: list[SpecError]
) -> dict[str, int]:
    """Bits per value of each data-space, validated."""
    if isinstance(bits, Mapping):
        missing = [n for n in names if n not in bits]
        unknown = sorted(set(bits) - set(names))
        if missing or unknown:
            issues.append(
                SpecError(
                    where,
                    f"bits_per_value must list exactly the data-spaces {names}; "
                    f"missing {missing}, unknown {unknown}",
                )
            )
            return {n: 16 for n in names}
        out = {}
        for n in names:
            v = _as_int(bits[n], where / "bits_per_value" / n, "bits per value", issues)
            out[n] = v if v is not None and v > 0 else 16
        return out
    v = _as_int(bits, where / "bits_per_value", "bits per value", issues)
    if v is not None and v < 1:
        issues.append(SpecError(where / "bits_per_value", f"must be >= 1, got {v}"))
    return {n: (v if v is not None and v > 0 else 16) for n in names}


# --------------------------------------------------------------------------- arch


def translate_arch(
    levels: Sequence[Mapping[str, Any]],
    *,
    clock_hz: float = 1e9,
    tensor_names: Mapping[str, str] | None = None,
    where: Where | None = None,
) -> ArchTranslation:
    """Translate an ordered list of Timeloop-style levels into an AccelForge arch.

    Parameters
    ----------
    levels : sequence of mapping
        Outermost first: storage levels, then exactly one compute level. Keys (all but
        ``name``, ``class`` and ``energy_pj`` optional):

        - ``name``, ``class`` (``DRAM``/``SRAM``/``regfile``/... or ``intmac``/...);
        - ``size_words`` (``None`` or absent = unbounded) or Timeloop's ``depth``
          [+ ``width`` in bits]; ``word_bits`` (aliases ``word-bits``, ``datawidth``);
        - ``instances`` (total count, default 1) and ``meshX`` (default: instances);
        - ``read_bandwidth``/``write_bandwidth`` or ``shared_bandwidth`` in words per
          cycle per instance (absent = unlimited);
        - ``energy_pj``: ``{"read": pJ, "write": pJ}`` per word access for storage,
          ``{"compute": pJ}`` per MAC for the compute level;
        - ``area_um2`` per instance (default 0);
        - ``keep`` / ``bypass``: Timeloop data-space names that must / must not be
          stored at this level (default: the mapper decides; the outermost level keeps
          everything).
    clock_hz : float, default 1e9
        Clock in Hz: throughputs are ``words/cycle x clock_hz`` and a MAC does one
        compute per cycle.
    tensor_names : mapping of str to str, optional
        Timeloop data-space name -> AccelForge tensor name, from
        :attr:`WorkloadTranslation.tensor_names`; needed for ``keep``/``bypass``.
    where : Where, optional
        Location of ``levels`` for error messages.

    Returns
    -------
    ArchTranslation
        The arch document body and level facts.

    Raises
    ------
    SpecError
        Unknown keys (the message lists the allowed ones), missing energies, instances
        that do not divide, more or fewer than one compute level or a compute level
        that is not last; several at once as :class:`~tnx_timeloop.errors.SpecErrors`.

    Notes
    -----
    Each storage action moves one value: ``values_per_action: {All: 1}``, so
    AccelForge's action counts are word counts and its energy per action is the pJ
    per word given here (x 1e-12 J). Fanout: a level with ``instances`` below a parent
    with fewer gets ``spatial: [{name: <level>_X, fanout: ...}, {name: <level>_Y, ...}]``
    (X from ``meshX``); AccelForge then allows multicast and spatial reduction across it,
    as Timeloop's default network does. With separate read and write bandwidths the
    level's latency is ``max(reads/read_bw, writes/write_bw)`` (separate ports); with
    ``shared_bandwidth`` it is ``(reads + writes)/shared_bw``.
    """
    where = where if where is not None else Where()
    issues: list[SpecError] = []
    if not isinstance(levels, Sequence) or isinstance(levels, str) or len(levels) < 2:
        raise SpecError(where, "need a list of at least two levels (storage ..., compute)")
    if not (isinstance(clock_hz, (int, float)) and clock_hz > 0 and math.isfinite(clock_hz)):
        raise SpecError(where / "clock_hz", f"must be a positive number of Hz, got {clock_hz!r}")
    names = dict(tensor_names or {})

    parsed: list[dict[str, Any]] = []
    for i, lv in enumerate(levels):
        wl = where / i
        if not isinstance(lv, Mapping):
            issues.append(SpecError(wl, "a level must be a mapping"))
            continue
        parsed.append(_parse_level(lv, wl, i == 0, names, issues))
    _raise(issues)

    kinds = [p["kind"] for p in parsed]
    if kinds.count("compute") != 1 or kinds[-1] != "compute":
        issues.append(SpecError(where, f"exactly one compute level, and it must be last; got kinds {kinds}"))
    if kinds[0] != "storage":
        issues.append(SpecError(where / 0, "the outermost level must be a storage level"))
    seen: set[str] = set()
    for i, p in enumerate(parsed):
        if p["name"] in seen:
            issues.append(SpecError(where / i / "name", f"duplicate level name {p['name']!r}"))
        seen.add(p["name"])
    _raise(issues)

    nodes: list[dict[str, Any]] = []
    fanout: dict[str, tuple[int, int]] = {}
    parent_inst, parent_x = 1, 1
    for i, p in enumerate(parsed):
        wl = where / i
        inst, mesh_x = p["instances"], p["meshX"]
        parent_y = parent_inst // parent_x
        mesh_y = inst // mesh_x
        if inst % parent_inst or mesh_x % parent_x or mesh_y % max(parent_y, 1):
            issues.append(
                SpecError(
                    wl,
                    f"instances {inst} (meshX {mesh_x}) is not a multiple of the level above "
                    f"({parent_inst}, meshX {parent_x})",
                )
            )
            continue
        fx, fy = mesh_x // parent_x, mesh_y // max(parent_y, 1)
        fanout[p["name"]] = (fx, fy)
        node = _node(p, fx, fy, clock_hz, outermost=(i == 0))
        nodes.append(node)
        parent_inst, parent_x = inst, mesh_x
    _raise(issues)

    return ArchTranslation(
        arch={"nodes": nodes},
        clock_hz=float(clock_hz),
        storage_levels=tuple(p["name"] for p in parsed if p["kind"] == "storage"),
        compute_level=parsed[-1]["name"],
        word_bits={p["name"]: p["word_bits"] for p in parsed},
        fanout=fanout,
    )


def _parse_level(
    lv: Mapping[str, Any], where: Where, outermost: bool, names: Mapping[str, str], issues: list[SpecError]
) -> dict[str, Any]:
    """Validate one level and normalise it (units as in :func:`translate_arch`)."""
    unknown = sorted(set(lv) - set(_LEVEL_KEYS))
    if unknown:
        issues.append(SpecError(where, f"unknown key(s) {unknown}; allowed: {sorted(_LEVEL_KEYS)}"))
    name = lv.get("name")
    if not isinstance(name, str) or not _IDENT.match(name) or name in RESERVED_NAMES:
        issues.append(SpecError(where / "name", f"level name must be an identifier, got {name!r}"))
        name = f"level{where.keys[-1] if where.keys else ''}"
    cls = str(lv.get("class", ""))
    low = cls.lower()
    if any(w in low for w in STORAGE_CLASS_WORDS):  # first: "SRAM_macro" is storage
        kind = "storage"
    elif any(w in low for w in COMPUTE_CLASS_WORDS):
        kind = "compute"
    else:
        issues.append(
            SpecError(
                where / "class",
                f"cannot tell storage from compute for class {cls!r}; storage classes contain one of "
                f"{list(STORAGE_CLASS_WORDS)}, compute classes one of {list(COMPUTE_CLASS_WORDS)}",
            )
        )
        kind = "storage"

    word_bits_raw = lv.get("word_bits", lv.get("word-bits", lv.get("datawidth", 16)))
    word_bits = _as_int(word_bits_raw, where / "word_bits", "word_bits", issues) or 16
    instances = _as_int(lv.get("instances", 1), where / "instances", "instances", issues) or 1
    mesh_x = _as_int(lv.get("meshX", instances), where / "meshX", "meshX", issues) or instances
    if instances < 1 or mesh_x < 1 or instances % mesh_x:
        issues.append(SpecError(where / "meshX", f"meshX {mesh_x} must divide instances {instances}"))
        mesh_x = instances

    size_words: int | None = None
    if kind == "storage":
        if "size_words" in lv and "depth" in lv:
            issues.append(SpecError(where, "give size_words or depth, not both"))
        if lv.get("size_words") is not None:
            size_words = _as_int(lv["size_words"], where / "size_words", "size_words", issues)
        elif lv.get("depth") is not None:
            depth = _as_int(lv["depth"], where / "depth", "depth", issues)
            width = lv.get("width")
            if depth is not None and width is not None:
                w = _as_int(width, where / "width", "width", issues)
                if w is not None and (depth * w) % word_bits:
                    issues.append(
                        SpecError(where / "width", f"depth*width = {depth * w} bits is not whole words")
                    )
                size_words = None if w is None else depth * w // word_bits
            else:
                size_words = depth
        if size_words is not None and size_words < 1:
            issues.append(SpecError(where / "size_words", f"must be >= 1, got {size_words}"))

    bw: dict[str, float | None] = {}
    for key in ("read_bandwidth", "write_bandwidth", "shared_bandwidth"):
        raw = lv.get(key)
        bw[key] = None if raw is None else _as_float(raw, where / key, key, issues)
        if bw[key] is not None and not bw[key] > 0:  # type: ignore[operator]
            issues.append(SpecError(where / key, f"must be > 0 words/cycle, got {raw!r}"))
    if bw["shared_bandwidth"] is not None and (bw["read_bandwidth"] or bw["write_bandwidth"]):
        issues.append(SpecError(where, "give shared_bandwidth or read/write_bandwidth, not both"))
    if kind == "compute" and any(v is not None for v in bw.values()):
        issues.append(SpecError(where, "bandwidths apply to storage levels only"))

    want = ("read", "write") if kind == "storage" else ("compute",)
    energy_raw = lv.get("energy_pj")
    energy: dict[str, float] = {}
    if not isinstance(energy_raw, Mapping):
        issues.append(SpecError(where / "energy_pj", f"must be a mapping with keys {list(want)} (pJ)"))
    else:
        extra = sorted(set(energy_raw) - set(want))
        missing = [a for a in want if a not in energy_raw]
        if extra or missing:
            issues.append(
                SpecError(
                    where / "energy_pj",
                    f"needs exactly the actions {list(want)}; missing {missing}, unknown {extra}",
                )
            )
        for a in want:
            if a in energy_raw:
                e = _as_float(energy_raw[a], where / "energy_pj" / a, f"{a} energy", issues)
                if e is not None and e < 0:
                    issues.append(SpecError(where / "energy_pj" / a, f"must be >= 0 pJ, got {e}"))
                energy[a] = e if e is not None else 0.0
    area = _as_float(lv.get("area_um2", 0.0), where / "area_um2", "area_um2", issues) or 0.0

    keep = _tensor_set(lv.get("keep"), where / "keep", names, issues)
    bypass = _tensor_set(lv.get("bypass"), where / "bypass", names, issues)
    if kind == "compute" and (keep or bypass):
        issues.append(SpecError(where, "keep/bypass apply to storage levels only"))
    if keep and bypass and set(keep) & set(bypass):
        issues.append(
            SpecError(where, f"data-spaces both kept and bypassed: {sorted(set(keep) & set(bypass))}")
        )
    if outermost and bypass:
        issues.append(SpecError(where / "bypass", "the outermost level keeps every tensor; it cannot bypass"))
    return {
        "name": name,
        "kind": kind,
        "word_bits": word_bits,
        "instances": instances,
        "meshX": mesh_x,
        "size_words": size_words,
        "bw": bw,
        "energy_pj": energy,
        "area_um2": area,
        "keep": keep,
        "bypass": bypass,
    }


def _tensor_set(
    raw: Any, where: Where, names: Mapping[str, str], issues: list[SpecError]
) -> list[str] | None:
    """AccelForge tensor names for a Timeloop keep/bypass list (None when absent)."""
    if raw is None:
        return None
    if isinstance(raw, str) or not isinstance(raw, Iterable):
        issues.append(SpecError(where, f"must be a list of data-space names, got {raw!r}"))
        return None
    out = []
    for i, n in enumerate(raw):
        if not names:
            issues.append(SpecError(where, "keep/bypass need tensor_names (from translate_problem)"))
            return None
        if n not in names:
            issues.append(SpecError(where / i, f"unknown data-space {n!r}; problem has {sorted(names)}"))
            continue
        out.append(names[n])
    return out


def _node(p: Mapping[str, Any], fx: int, fy: int, clock_hz: float, *, outermost: bool) -> dict[str, Any]:
    """One AccelForge arch node (plain dict, ``type`` = YAML tag) for a parsed level."""
    node: dict[str, Any] = {"type": "Memory" if p["kind"] == "storage" else "Compute", "name": p["name"]}
    spatial = [{"name": f"{p['name']}_{axis}", "fanout": f} for axis, f in (("X", fx), ("Y", fy)) if f > 1]
    if spatial:
        node["spatial"] = spatial
    node["area"] = p["area_um2"] * 1e-12
    node["leak_power"] = 0
    if p["kind"] == "compute":
        node["actions"] = [
            {"name": "compute", "energy": p["energy_pj"]["compute"] * 1e-12, "throughput": float(clock_hz)}
        ]
        return node

    node["size"] = "inf" if p["size_words"] is None else p["size_words"] * p["word_bits"]
    bw = p["bw"]
    if bw["shared_bandwidth"] is not None:
        read_tp = write_tp = bw["shared_bandwidth"] * clock_hz
        node["total_latency"] = "sum(a.n_calls / a.throughput for a in actions)"
    else:
        read_tp = "inf" if bw["read_bandwidth"] is None else bw["read_bandwidth"] * clock_hz
        write_tp = "inf" if bw["write_bandwidth"] is None else bw["write_bandwidth"] * clock_hz
        node["total_latency"] = "max(a.n_calls / a.throughput for a in actions)"
    node["values_per_action"] = {"All": 1}
    node["actions"] = [
        {"name": "read", "energy": p["energy_pj"]["read"] * 1e-12, "throughput": read_tp},
        {"name": "write", "energy": p["energy_pj"]["write"] * 1e-12, "throughput": write_tp},
    ]
    if outermost:
        node["tensors"] = {"keep": "All"}
    else:
        tensors: dict[str, str] = {}
        if p["keep"]:
            tensors["keep"] = " | ".join(p["keep"])
        if p["bypass"]:
            tensors["may_keep"] = "~(" + " | ".join(p["bypass"]) + ")"
        elif p["keep"]:
            tensors["may_keep"] = "~(" + " | ".join(p["keep"]) + ")"
        else:
            tensors["may_keep"] = "All"
        node["tensors"] = tensors
    return node


# --------------------------------------------------------------------------- energies


def ert_energies_pj(ert: Mapping[str, Any], component: str, *, per_word: int = 1) -> dict[str, float]:
    """Per-action energies of one component from an Accelergy ERT, in pJ.

    Parameters
    ----------
    ert : mapping
        A parsed ``ERT.yaml`` (``{"ERT": {"tables": [...]}}`` or the inner mapping).
    component : str
        Table name, or its last dotted part (``"Buffer"`` finds ``System.PE.Buffer``).
    per_word : int, default 1
        Divide by this (the level's ``block-size``) to get energy per word from
        Timeloop's vector access energy.

    Returns
    -------
    dict of str to float
        Action name -> the largest energy among its argument variants (Timeloop's
        ``Vector access energy``; e.g. the data_delta=1, address_delta=1 read), / ``per_word``.

    Raises
    ------
    SpecError
        When no table matches, listing the tables there are.
    """
    body = ert.get("ERT", ert)
    tables = body.get("tables", []) if isinstance(body, Mapping) else []
    for t in tables:
        tname = str(t.get("name", ""))
        if tname == component or tname.split(".")[-1] == component:
            out: dict[str, float] = {}
            for a in t.get("actions", []):
                out[a["name"]] = max(out.get(a["name"], float("-inf")), float(a["energy"]) / per_word)
            return out
    raise SpecError(
        Where(None, ("ERT", "tables")), f"no table {component!r}; tables: {[t.get('name') for t in tables]}"
    )


# --------------------------------------------------------------------------- results


def figures_from_result(
    raw: Mapping[str, Any],
    *,
    clock_hz: float,
    tensor_names: Mapping[str, str] | None = None,
    index: int = 0,
) -> AccelForgeFigures:
    """Turn the worker's raw AccelForge result into Timeloop-style figures.

    Parameters
    ----------
    raw : mapping
        One JSON result of :mod:`tnx_timeloop.backends._accelforge_worker`
        (``{"ok": true, "mappings": [...]}``) or one entry of its ``mappings``.
    clock_hz : float
        Clock in Hz; cycles = latency seconds x ``clock_hz``.
    tensor_names : mapping of str to str, optional
        Timeloop data-space name -> AccelForge tensor name; accesses are reported under
        the Timeloop names.
    index : int, default 0
        Which mapping of ``raw["mappings"]`` to read.

    Returns
    -------
    AccelForgeFigures

    Raises
    ------
    SpecError
        When ``raw`` is an error result or lacks the expected keys.

    Notes
    -----
    Accesses in words are ``actions x values_per_action`` summed over einsums, where
    the worker reports each (component, tensor, action)'s values per action
    (``bits_per_action / bits_per_value`` unless the arch sets ``values_per_action``).
    """
    where = Where(None, ("accelforge_result",))
    if "mappings" in raw:
        if not raw.get("ok", False):
            raise SpecError(where, f"worker reported an error: {raw.get('message', raw)}")
        mappings = raw["mappings"]
        if not 0 <= index < len(mappings):
            raise SpecError(where / "mappings", f"index {index} out of range; {len(mappings)} mapping(s)")
        m = mappings[index]
        n_mappings = len(mappings)
    else:
        m, n_mappings = raw, 1
    missing = [k for k in ("energy_j", "latency_s", "actions", "energy", "latency") if k not in m]
    if missing:
        raise SpecError(where, f"missing key(s) {missing}")
    back = {v: k for k, v in (tensor_names or {}).items()}

    accesses: dict[str, dict[str, dict[str, float]]] = {}
    macs = 0.0
    for row in m["actions"]:
        comp, tensor, action, count = row["component"], row["tensor"], row["action"], float(row["count"])
        if tensor in (None, "None"):
            if action == "compute":
                macs += count
            continue
        words = count * float(row.get("values_per_action", 1.0))
        t = back.get(tensor, tensor)
        slot = accesses.setdefault(comp, {}).setdefault(t, {})
        slot[action] = slot.get(action, 0.0) + words
    energy_by: dict[str, float] = {}
    for row in m["energy"]:
        energy_by[row["component"]] = energy_by.get(row["component"], 0.0) + float(row["energy_j"]) * 1e12
    lat_by: dict[str, float] = {}
    for row in m["latency"]:
        lat_by[row["component"]] = lat_by.get(row["component"], 0.0) + float(row["latency_s"]) * clock_hz
    latency_s = float(m["latency_s"])
    return AccelForgeFigures(
        latency_cycles=round(latency_s * clock_hz),
        latency_s=latency_s,
        energy_pj=float(m["energy_j"]) * 1e12,
        energy_by_component_pj=energy_by,
        latency_by_component_cycles=lat_by,
        accesses_words=accesses,
        macs=round(macs),
        n_mappings=n_mappings,
        extra={k: m[k] for k in ("mapping",) if k in m},
    )


# --------------------------------------------------------------------------- YAML


class _Tagged(dict):  # type: ignore[type-arg]
    """A mapping dumped with a YAML tag (``!Memory``), from the ``type`` key."""


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes :class:`_Tagged` mappings with their tag."""


def _represent_tagged(dumper: yaml.SafeDumper, data: _Tagged) -> yaml.MappingNode:
    tag = "!" + str(data["type"])
    return dumper.represent_mapping(tag, {k: v for k, v in data.items() if k != "type"})


_Dumper.add_representer(_Tagged, _represent_tagged)


def _tag_nodes(value: Any, in_nodes: bool = False) -> Any:
    """Copy ``value``, tagging the ``nodes`` list entries that have a ``type`` key.

    Only entries of a ``nodes`` list (arch and mapping nodes) are tagged, so that an
    attribute such as ``extra_attributes_for_component_model: {type: LPDDR4}`` stays a
    plain mapping.
    """
    if isinstance(value, dict):
        inner = {k: _tag_nodes(v, in_nodes=(k == "nodes")) for k, v in value.items()}
        return _Tagged(inner) if in_nodes and isinstance(value.get("type"), str) else inner
    if isinstance(value, (list, tuple)):
        return [_tag_nodes(v, in_nodes=in_nodes) for v in value]
    return value


def to_accelforge_yaml(doc: Mapping[str, Any], path: str | Path | None = None) -> str:
    """Render an AccelForge document as YAML, with ``type`` keys as tags.

    Parameters
    ----------
    doc : mapping
        E.g. ``{"arch": t.arch}`` or ``{"workload": w.workload}``; an entry of a
        ``nodes`` list with a string ``type`` key (``{"type": "Memory", ...}``) is
        written as ``!Memory``; other mappings are written as they are.
    path : str or Path, optional
        Also write the text there.

    Returns
    -------
    str
        The YAML text (no Jinja; AccelForge reads it with ``Spec.from_yaml``).

    Examples
    --------
    >>> print(to_accelforge_yaml({"arch": {"nodes": [{"type": "Compute", "name": "MAC"}]}}), end="")
    arch:
      nodes:
      - !Compute
        name: MAC
    """
    text = yaml.dump(_tag_nodes(doc), Dumper=_Dumper, sort_keys=False, default_flow_style=False)
    if path is not None:
        Path(path).write_text(text)
    return text
