"""Cycle-level timing of a systolic array, reproducing SCALE-Sim 3.0.0 exactly.

The engine answers the same questions as one SCALE-Sim 3.0.0 layer run (``Total Cycles``,
``Stall Cycles``, ``Total Cycles (incl. prefetch)``, utilisations and the access counts of
``DETAILED_ACCESS_REPORT.csv``) without stepping through cycles one by one.  SCALE-Sim walks every
demand row and every address through Python sets; here the same mechanism is evaluated on whole
folds and address ranges with NumPy, and only the few rows where something *happens* (a prefetch
that the array must wait for, an ofmap drain, a full ofmap buffer) are visited one at a time.

Mechanism (``scalesim`` package 3.0.0; file names refer to it)
------------------------------------------------------------
* **Operand view** (``operand_matrix.py``, ``topology_utils.py``): every layer is a GEMM with
  ``M`` = ofmap pixels, ``N`` = filters and ``K`` = window size.  The ofmap side is
  ``ceil((H - R + s) / s)``, one larger than ``floor((H - R) / s) + 1`` when ``(H - R) % s != 0``;
  the extra pixels read no ifmap word outside the ifmap (address -1) but occupy the array.
* **Demand rows** (``systolic_compute_{os,ws,is}.py``): folds run back to back, column folds
  outer and row folds inner, each lasting ``K + R + C - 2`` rows (os) or ``2R + C + T - 2`` rows
  (ws: ``T = M``; is: ``T = N``).  Row ``i`` is issued at cycle ``i + stalls so far`` and
  ``Total Cycles`` is the service cycle of the last row (an index, so ``rows - 1 + stalls``).
* **CALC bandwidth** (``read_buffer_estimate_bw.py``): reads never stall.  Words are grouped into
  "sets" of ``floor(SRAM / 100)`` new addresses; after 50 sets (an *epoch*) the buffer forgets what
  it holds, so an address counts as a DRAM read when it was not already read in the current epoch.
  The first fill runs at 10 words/cycle before the first request.
* **USER bandwidth** (``read_buffer.py``): the prefetch order of each operand is cut into sets of
  ``ceil(SRAM / 100)`` words; the active half is a cyclic window of sets which moves by the
  prefetch half on every miss.  Prefetch ``k`` completes at ``-1 + k (ceil(half / bw) + 1)``.  A
  miss on a row that is issued at cycle ``c`` turns the service cycle ``o`` (initially ``c + 1``)
  into ``L_k`` if ``L_k <= o`` and into ``2 L_k - o`` otherwise (the stall is counted twice,
  ``read_buffer.py`` lines 361-364).  DRAM reads count whole ``bw``-wide lines.
* **Ofmap SRAM** (``write_buffer.py``): words are packed into lines of the ofmap bandwidth; when
  more than half the buffer is occupied and no drain is running, the partial line is closed and
  ``ceil(half / bw)`` lines drain at one line per cycle.  A write waits only when the buffer is
  full while a drain runs.  Drained words are counted per line, minus the padding of the last
  line only, so partial lines in the middle of a drain are over-counted (and free space inflates),
  exactly as in SCALE-Sim.  After the last row everything left drains from the last service cycle.

How it is computed
------------------
Hits, misses and DRAM counts depend only on the order of the requests, not on their timing, so
they are found first, vectorised: an operand's requests are built from the few fold blocks that
repeat (tiled, never re-generated), CALC epochs follow in closed form when a fold block holds
distinct words, and USER-mode misses are found by scanning the requests against the active
window in NumPy blocks.  The timeline then issues the rows with prefix sums over the ofmap words
per row, jumping from one event (a prefetch wait, an ofmap drain or stall) to the next.  Layers
whose operands fit their buffers and whose ofmap never fills half its SRAM are pure closed forms.
Every figure equals SCALE-Sim 3.0.0's (the percentages to floating-point rounding), including
its quirks: the doubled read stall, the per-line ofmap DRAM count, the ``folds x (R + C)``
inflation of os SRAM ofmap writes and the ``C - 1`` longer ws/is fold in ``Compute Util %``.

References
----------
.. [1] A. Samajdar et al., "SCALE-Sim: Systolic CNN Accelerator Simulator", arXiv:1811.02883.
.. [2] SCALE-Sim 3.0.0 (PyPI ``scalesim``), files named above.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tnx_timeloop.errors import SpecError, SpecErrors, Where

__all__ = [
    "DATAFLOWS",
    "BANDWIDTH_MODES",
    "OFMAP_RULES",
    "SystolicArrayConfig",
    "SystolicLayer",
    "SystolicResult",
    "ScaleSimCase",
    "simulate_systolic",
    "parse_scalesim_config",
    "parse_scalesim_topology",
    "load_scalesim_case",
]

DATAFLOWS: tuple[str, ...] = ("os", "ws", "is")
"""Dataflows: output, weight and input stationary."""

BANDWIDTH_MODES: tuple[str, ...] = ("calc", "user")
"""DRAM bandwidth modes of SCALE-Sim (``InterfaceBandwidth``)."""

OFMAP_RULES: tuple[str, ...] = ("scalesim", "floor")
"""Ofmap side rules: ``ceil((H - R + s) / s)`` (SCALE-Sim) or ``floor((H - R) / s) + 1``."""

_CALC_FILL_WORDS_PER_CYCLE = 10  # single_layer_sim.py: "The number 10 elems per cycle is arbitrary"
_CALC_SETS_PER_HALF = 50  # read_buffer_estimate_bw.py: int(active_buf_frac * 100)
_SETS_PER_SRAM = 100  # both read buffers split the SRAM into 100 sets


def _issue(issues: list[SpecError], where: Where, message: str) -> None:
    issues.append(SpecError(where, message))


def _raise_all(issues: list[SpecError]) -> None:
    if len(issues) == 1:
        raise issues[0]
    if issues:
        raise SpecErrors(issues)


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


# ----------------------------------------------------------------------------------------------
# Specs
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SystolicArrayConfig:
    """A SCALE-Sim style systolic array with three double-buffered SRAMs.

    Parameters
    ----------
    rows : int
        Array height ``R`` (``ArrayHeight``), in PEs.
    cols : int
        Array width ``C`` (``ArrayWidth``), in PEs.
    dataflow : {"os", "ws", "is"}
        Output, weight or input stationary.
    ifmap_sram_words, filter_sram_words, ofmap_sram_words : int
        SRAM sizes in words (SCALE-Sim: ``*SramSzkB * 1024``; 1 word = 1 byte).  Each SRAM is
        double buffered with half of it active.
    bandwidth_mode : {"calc", "user"}
        ``"calc"``: SCALE-Sim estimates the DRAM bandwidth (reads never stall, the ofmap drains at
        ``cols`` words/cycle).  ``"user"``: the DRAM bandwidths below limit the transfers.
    ifmap_dram_words_per_cycle, filter_dram_words_per_cycle : int, optional
        DRAM -> SRAM fill bandwidth in words/cycle, required in ``"user"`` mode (SCALE-Sim 3.0.0
        reads them from ``[layout] IfmapSRAMBankBandwidth`` / ``FilterSRAMBankBandwidth``).
    ofmap_dram_words_per_cycle : int, optional
        SRAM -> DRAM drain bandwidth in words/cycle, required in ``"user"`` mode (first value of
        ``Bandwidth``).  Ignored in ``"calc"`` mode, where it is ``cols``.

    Raises
    ------
    SpecError
        For any invalid field (all problems are collected and reported together).
    """

    rows: int
    cols: int
    dataflow: str
    ifmap_sram_words: int
    filter_sram_words: int
    ofmap_sram_words: int
    bandwidth_mode: str = "calc"
    ifmap_dram_words_per_cycle: int | None = None
    filter_dram_words_per_cycle: int | None = None
    ofmap_dram_words_per_cycle: int | None = None

    def __post_init__(self) -> None:
        """Validate every field; raise one error listing all problems."""
        where = Where(None, ("SystolicArrayConfig",))
        issues: list[SpecError] = []
        for name in ("rows", "cols", "ifmap_sram_words", "filter_sram_words", "ofmap_sram_words"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                _issue(issues, where / name, f"must be a positive integer, got {value!r}")
        for name in ("ifmap_sram_words", "filter_sram_words", "ofmap_sram_words"):
            value = getattr(self, name)
            if _is_int(value) and 1 <= value < _SETS_PER_SRAM:
                _issue(
                    issues,
                    where / name,
                    f"must be at least {_SETS_PER_SRAM} words (SCALE-Sim splits it into "
                    f"{_SETS_PER_SRAM} sets), got {value}",
                )
        if self.dataflow not in DATAFLOWS:
            _issue(
                issues,
                where / "dataflow",
                f"unknown dataflow {self.dataflow!r}; choose one of {list(DATAFLOWS)}",
            )
        if self.bandwidth_mode not in BANDWIDTH_MODES:
            _issue(
                issues,
                where / "bandwidth_mode",
                f"unknown bandwidth mode {self.bandwidth_mode!r}; choose one of {list(BANDWIDTH_MODES)}",
            )
        for name in (
            "ifmap_dram_words_per_cycle",
            "filter_dram_words_per_cycle",
            "ofmap_dram_words_per_cycle",
        ):
            value = getattr(self, name)
            if value is None:
                if self.bandwidth_mode == "user":
                    _issue(issues, where / name, "is required in 'user' bandwidth mode")
            elif not _is_int(value) or value < 1:
                _issue(issues, where / name, f"must be a positive integer (words/cycle), got {value!r}")
        _raise_all(issues)

    @property
    def num_pes(self) -> int:
        """Number of PEs, ``rows * cols``."""
        return self.rows * self.cols


@dataclass(frozen=True, slots=True, kw_only=True)
class SystolicLayer:
    """One convolution (or GEMM) layer in SCALE-Sim's topology terms.

    A GEMM ``M x K`` times ``K x N`` is the convolution SCALE-Sim builds from a GEMM topology row
    (``topology_utils.py``): ifmap ``M x K`` with one channel, one ``1 x K`` filter per output
    column, stride 1.  Use :meth:`gemm` and :meth:`conv` to build layers.

    Parameters
    ----------
    name : str
        Layer name.
    ifmap_h, ifmap_w : int
        Ifmap height and width in pixels.
    filter_h, filter_w : int
        Filter height and width in pixels (at most the ifmap size).
    channels : int
        Input channels.
    num_filters : int
        Number of filters (output channels), the GEMM ``N``.
    stride : int
        Stride in both directions (SCALE-Sim 3.0.0 has one stride).
    ofmap_rule : {"scalesim", "floor"}
        ``"scalesim"`` (default) sizes the ofmap as SCALE-Sim 3.0.0 does,
        ``ceil((H - R + s) / s)``, which adds one output row/column when ``(H - R) % s != 0``;
        those extra outputs read no ifmap word outside the ifmap but occupy array rows and cycles
        and are written.  ``"floor"`` uses the usual ``floor((H - R) / s) + 1``.
    source_format : {"conv", "gemm"}
        The topology format the layer came from (informational).

    Raises
    ------
    SpecError
        For any invalid field (all problems are collected and reported together).
    """

    name: str = "layer"
    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    num_filters: int
    stride: int = 1
    ofmap_rule: str = "scalesim"
    source_format: str = "conv"

    def __post_init__(self) -> None:
        """Validate every field; raise one error listing all problems."""
        where = Where(None, (f"SystolicLayer[{self.name}]",))
        issues: list[SpecError] = []
        for name in ("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "num_filters", "stride"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                _issue(issues, where / name, f"must be a positive integer, got {value!r}")
        if not issues:
            if self.filter_h > self.ifmap_h:
                _issue(
                    issues,
                    where / "filter_h",
                    f"filter height {self.filter_h} is larger than the ifmap height {self.ifmap_h}",
                )
            if self.filter_w > self.ifmap_w:
                _issue(
                    issues,
                    where / "filter_w",
                    f"filter width {self.filter_w} is larger than the ifmap width {self.ifmap_w}",
                )
        if self.ofmap_rule not in OFMAP_RULES:
            _issue(
                issues,
                where / "ofmap_rule",
                f"unknown rule {self.ofmap_rule!r}; choose one of {list(OFMAP_RULES)}",
            )
        if self.source_format not in ("conv", "gemm"):
            _issue(
                issues,
                where / "source_format",
                f"unknown format {self.source_format!r}; choose 'conv' or 'gemm'",
            )
        _raise_all(issues)

    @classmethod
    def gemm(cls, m: int, n: int, k: int, *, name: str = "gemm") -> SystolicLayer:
        """Build the layer SCALE-Sim makes of a GEMM ``(M x K) @ (K x N)``.

        Parameters
        ----------
        m, n, k : int
            GEMM sizes: output rows, output columns and reduction length.
        name : str
            Layer name.

        Returns
        -------
        SystolicLayer
            Ifmap ``m x k`` with one channel, ``n`` filters of ``1 x k``, stride 1.

        Examples
        --------
        >>> SystolicLayer.gemm(64, 32, 16).gemm_mnk
        (64, 32, 16)
        """
        return cls(
            name=name,
            ifmap_h=m,
            ifmap_w=k,
            filter_h=1,
            filter_w=k,
            channels=1,
            num_filters=n,
            stride=1,
            source_format="gemm",
        )

    @classmethod
    def conv(
        cls,
        *,
        ifmap_h: int,
        ifmap_w: int,
        filter_h: int,
        filter_w: int,
        channels: int,
        num_filters: int,
        stride: int = 1,
        name: str = "conv",
        ofmap_rule: str = "scalesim",
    ) -> SystolicLayer:
        """Build a convolution layer (see the class parameters)."""
        return cls(
            name=name,
            ifmap_h=ifmap_h,
            ifmap_w=ifmap_w,
            filter_h=filter_h,
            filter_w=filter_w,
            channels=channels,
            num_filters=num_filters,
            stride=stride,
            ofmap_rule=ofmap_rule,
            source_format="conv",
        )

    def _ofmap_side(self, size: int, filt: int) -> int:
        if self.ofmap_rule == "scalesim":
            return -(-(size - filt + self.stride) // self.stride)
        return (size - filt) // self.stride + 1

    @property
    def ofmap_h(self) -> int:
        """Ofmap height in pixels (per :attr:`ofmap_rule`)."""
        return self._ofmap_side(self.ifmap_h, self.filter_h)

    @property
    def ofmap_w(self) -> int:
        """Ofmap width in pixels (per :attr:`ofmap_rule`)."""
        return self._ofmap_side(self.ifmap_w, self.filter_w)

    @property
    def gemm_mnk(self) -> tuple[int, int, int]:
        """GEMM view ``(M, N, K)``: ofmap pixels, filters, window size in words."""
        return (self.ofmap_h * self.ofmap_w, self.num_filters, self.filter_h * self.filter_w * self.channels)

    @property
    def macs(self) -> int:
        """Multiply-accumulates ``M * N * K``."""
        m, n, k = self.gemm_mnk
        return m * n * k


@dataclass(frozen=True, slots=True, kw_only=True)
class SystolicResult:
    """What one SCALE-Sim 3.0.0 layer run reports, plus the mapping behind it.

    Cycle numbers are cycle indices as SCALE-Sim prints them (cycle 0 is the first demand row;
    DRAM prefetch before it has negative indices).  Counts are in words.

    Attributes
    ----------
    total_cycles : int
        ``Total Cycles``: service cycle of the last demand row, ``rows - 1 + stall_cycles``.
    stall_cycles : int
        ``Stall Cycles``: sum over rows of the largest ifmap/filter/ofmap stall.
    total_cycles_incl_prefetch : int
        ``Total Cycles (incl. prefetch)``: last ofmap DRAM write cycle minus the first ifmap or
        filter DRAM read cycle.
    overall_util_pct, mapping_efficiency_pct, compute_util_pct : float
        The three utilisation columns of ``COMPUTE_REPORT.csv``, in percent.  ``Overall Util %``
        divides by ``Total Cycles``, a cycle index, so it can exceed 100 on tiny layers (and is
        ``inf`` for a one-row run, where SCALE-Sim divides by zero).
    sram_ifmap_read_words, sram_filter_read_words, sram_ofmap_write_words : int
        SRAM accesses (``-1`` padding entries of conv windows included, as SCALE-Sim counts).
    dram_ifmap_read_words, dram_filter_read_words, dram_ofmap_write_words : int
        DRAM accesses as SCALE-Sim counts them.
    sram_*_start_cycle, sram_*_stop_cycle, dram_*_start_cycle, dram_*_stop_cycle : int
        The access windows of ``DETAILED_ACCESS_REPORT.csv``.
    gemm_m, gemm_n, gemm_k : int
        GEMM view of the layer (ofmap pixels, filters, window size).
    row_folds, col_folds, folds : int
        Folds along the array rows and columns and their product.
    rows_per_fold_cycles : int
        Demand rows (cycles without stalls) per fold.
    macs : int
        ``M * N * K``.
    """

    total_cycles: int
    stall_cycles: int
    total_cycles_incl_prefetch: int
    overall_util_pct: float
    mapping_efficiency_pct: float
    compute_util_pct: float
    sram_ifmap_read_words: int
    sram_filter_read_words: int
    sram_ofmap_write_words: int
    dram_ifmap_read_words: int
    dram_filter_read_words: int
    dram_ofmap_write_words: int
    sram_ifmap_start_cycle: int
    sram_ifmap_stop_cycle: int
    sram_filter_start_cycle: int
    sram_filter_stop_cycle: int
    sram_ofmap_start_cycle: int
    sram_ofmap_stop_cycle: int
    dram_ifmap_start_cycle: int
    dram_ifmap_stop_cycle: int
    dram_filter_start_cycle: int
    dram_filter_stop_cycle: int
    dram_ofmap_start_cycle: int
    dram_ofmap_stop_cycle: int
    gemm_m: int
    gemm_n: int
    gemm_k: int
    row_folds: int
    col_folds: int
    folds: int
    rows_per_fold_cycles: int
    macs: int

    @property
    def compute_cycles_excl_stalls(self) -> int:
        """``total_cycles - stall_cycles`` in cycles."""
        return self.total_cycles - self.stall_cycles


# ----------------------------------------------------------------------------------------------
# Geometry and demand streams
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Geometry:
    """Fold structure of one layer on one array (SCALE-Sim's ``Sr x Sc`` spatial, ``T`` temporal view)."""

    dataflow: str
    r: int  # array rows
    c: int  # array cols
    m: int
    n: int
    k: int
    row_folds: int
    col_folds: int
    lines: int  # demand rows per fold

    @property
    def folds(self) -> int:
        return self.row_folds * self.col_folds

    @property
    def n_rows(self) -> int:
        return self.folds * self.lines

    @property
    def t_len(self) -> int:
        """Operand rows streamed per fold (``T``): K (os), M (ws), N (is)."""
        return {"os": self.k, "ws": self.m, "is": self.n}[self.dataflow]

    @property
    def rows_extent(self) -> int:
        """GEMM extent mapped on the array rows (``Sr``): M (os) or K (ws, is)."""
        return self.m if self.dataflow == "os" else self.k

    @property
    def cols_extent(self) -> int:
        """GEMM extent mapped on the array columns (``Sc``): N (os, ws) or M (is)."""
        return self.m if self.dataflow == "is" else self.n


def _geometry(config: SystolicArrayConfig, layer: SystolicLayer) -> _Geometry:
    m, n, k = layer.gemm_mnk
    r, c = config.rows, config.cols
    if config.dataflow == "os":
        return _Geometry("os", r, c, m, n, k, -(-m // r), -(-n // c), k + r + c - 2)
    if config.dataflow == "ws":
        return _Geometry("ws", r, c, m, n, k, -(-k // r), -(-n // c), 2 * r + c + m - 2)
    return _Geometry("is", r, c, m, n, k, -(-k // r), -(-m // c), 2 * r + c + n - 2)


@dataclass(frozen=True, slots=True)
class _WindowStats:
    """Closed-form counts of one layer's ifmap operand matrix."""

    valid_entries: int  # (m, k) entries whose word lies inside the ifmap
    distinct_words: int  # distinct ifmap words touched
    padded: bool  # some window reaches outside the ifmap (SCALE-Sim's ceil ofmap rule)


def _window_stats(layer: SystolicLayer) -> _WindowStats:
    def axis(size: int, filt: int, n_out: int) -> tuple[int, int, bool]:
        s = layer.stride
        inside = sum(min(filt, max(0, size - e * s)) for e in range(n_out))
        covered = min(size, (n_out - 1) * s + filt) if s <= filt else inside
        return inside, covered, (n_out - 1) * s + filt > size

    in_h, cov_h, pad_h = axis(layer.ifmap_h, layer.filter_h, layer.ofmap_h)
    in_w, cov_w, pad_w = axis(layer.ifmap_w, layer.filter_w, layer.ofmap_w)
    ch = layer.channels
    return _WindowStats(in_h * in_w * ch, cov_h * cov_w * ch, pad_h or pad_w)


def _ifmap_address(layer: SystolicLayer, m: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Ifmap word address of operand entry ``(m, k)`` (``operand_matrix.py``), -1 outside the ifmap.

    Returns
    -------
    ndarray of int64, the broadcast shape of ``m`` and ``k``
    """
    ch = layer.channels
    e, f = np.divmod(m, layer.ofmap_w)
    fr, rem = np.divmod(k, layer.filter_w * ch)
    fc, cc = np.divmod(rem, ch)
    row = e * layer.stride + fr
    col = f * layer.stride + fc
    inside = (row < layer.ifmap_h) & (col < layer.ifmap_w)
    return np.where(inside, (row * layer.ifmap_w + col) * ch + cc, -1)


class _Operands:
    """A layer's ifmap words, computed once per simulation and shared by streams and prefetch orders."""

    __slots__ = ("layer", "stats", "_matrix", "_direct")

    def __init__(self, layer: SystolicLayer) -> None:
        self.layer = layer
        self.stats = _window_stats(layer)
        self._matrix: np.ndarray | None = None
        # GEMM-like layers (one in-range window per ifmap row) have a closed-form address
        self._direct = (
            layer.ofmap_w == 1 and layer.filter_h == 1 and (layer.ofmap_h - 1) * layer.stride < layer.ifmap_h
        )

    def ifmap_words(self, m: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Ifmap word of operand entries ``(m, k)``, -1 outside the ifmap; int64, broadcast shape."""
        layer = self.layer
        if self._direct:
            return m * (layer.stride * layer.ifmap_w * layer.channels) + k
        if self._matrix is None:
            self._matrix = _ifmap_address(
                layer,
                np.arange(layer.ofmap_h * layer.ofmap_w, dtype=np.int64)[:, None],
                np.arange(layer.filter_h * layer.filter_w * layer.channels, dtype=np.int64)[None, :],
            )
        return self._matrix[m, k]


_EMPTY = np.zeros(0, dtype=np.int64)
_EMPTY.flags.writeable = False

# How one operand's fold blocks repeat: "fr" = the same for every column fold (the stream is one
# pass over the row folds, tiled), "fc" = the same for every row fold of a column fold, "fold" = new.
_REPEAT = {
    ("os", "ifmap"): "fr",
    ("os", "filter"): "fc",
    ("ws", "ifmap"): "fr",
    ("ws", "filter"): "fold",
    ("is", "ifmap"): "fold",
    ("is", "filter"): "fr",
}


def _stream_spec(g: _Geometry, operand: str) -> tuple[int, int, int]:
    """First row, number of rows and width of the non-empty part of one fold's demand block."""
    r, c = g.r, g.c
    return {
        ("os", "ifmap"): (0, g.k + r - 1, r),
        ("os", "filter"): (0, g.k + c - 1, c),
        ("ws", "ifmap"): (r, g.m + r - 1, r),
        ("ws", "filter"): (0, r, c),
        ("is", "ifmap"): (0, r, c),
        ("is", "filter"): (r, g.n + r - 1, r),
    }[(g.dataflow, operand)]


def _operand_entry(
    g: _Geometry, operand: str, fc: np.ndarray, fr: np.ndarray, t: np.ndarray, col: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Operand-matrix entry read at fold ``(fc, fr)``, fold row ``t``, array port ``col``.

    Returns ``(a, b, inside)`` with ``(a, b) = (m, k)`` for the ifmap and ``(k, n)`` for the filter,
    and ``inside`` False where the demand matrix holds -1 (``systolic_compute_*.py``: skew, flip,
    padding of partial folds, fill/drain rows).
    """
    r, c = g.r, g.c
    key = (g.dataflow, operand)
    if key == ("os", "ifmap"):  # transposed ifmap block, skewed over the R ports
        a, b = fr * r + col, t - col
        inside = (b >= 0) & (b < g.k) & (a < g.m)
    elif key == ("os", "filter"):  # filter block, skewed over the C ports
        a, b = t - col, fc * c + col
        inside = (a >= 0) & (a < g.k) & (b < g.n)
    elif key == ("ws", "ifmap"):  # R weight-load rows, then the ifmap block skewed over R ports
        a, b = t - col - r, fr * r + col
        inside = (a >= 0) & (a < g.m) & (b < g.k)
    elif key == ("ws", "filter"):  # weights loaded bottom row first, no skew
        a, b = fr * r + (r - 1 - t), fc * c + col
        inside = (a < g.k) & (b < g.n)
    elif key == ("is", "ifmap"):  # inputs loaded bottom row first, no skew
        a, b = fc * c + col, fr * r + (r - 1 - t)
        inside = (a < g.m) & (b < g.k)
    else:  # ("is", "filter"): R load rows, then the transposed filter block skewed over R ports
        a, b = fr * r + col, t - col - r
        inside = (b >= 0) & (b < g.n) & (a < g.k)
    return a, b, inside


def _gen_folds(
    g: _Geometry, ops: _Operands, operand: str, folds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Generate the requests of the given folds in service order (by row, then by array port).

    Returns
    -------
    rows, addresses : ndarray of int64, shape (n,)
        Global demand row and word address (no SCALE-Sim offset) of every request; -1 dropped.
    """
    t_lo, n_t, width = _stream_spec(g, operand)
    f3 = folds[:, None, None]
    fc3, fr3 = np.divmod(f3, g.row_folds)
    t3 = np.arange(t_lo, t_lo + n_t, dtype=np.int64)[None, :, None]
    c3 = np.arange(width, dtype=np.int64)[None, None, :]
    inside = _operand_entry(g, operand, fc3, fr3, t3, c3)[2]
    i_f, i_t, i_c = np.nonzero(np.broadcast_to(inside, (folds.size, n_t, width)))
    f = folds[i_f]
    fc, fr = np.divmod(f, g.row_folds)
    t = i_t + t_lo
    a, b, _ = _operand_entry(g, operand, fc, fr, t, i_c)
    rows = f * g.lines + t
    if operand == "ifmap":
        addresses = ops.ifmap_words(a, b)
        keep = addresses >= 0
        if not keep.all():
            return rows[keep], addresses[keep]
        return rows, addresses
    return rows, b * g.k + a  # filter word (k, n) lives at n * K + k


def _previous_and_last(addresses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Previous occurrence (or -1) and last occurrence of every element's address.

    Returns
    -------
    prev, last : ndarray of int64, shape (n,)

    Notes
    -----
    One stable sort, O(n log n).
    """
    n = addresses.size
    order = np.argsort(addresses, kind="stable")
    ordered = addresses[order]
    starts = np.empty(n, dtype=bool)
    starts[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    prev_sorted = np.empty(n, dtype=np.int64)
    prev_sorted[1:] = order[:-1]
    prev_sorted[starts] = -1
    group = np.cumsum(starts) - 1
    ends = np.append(np.flatnonzero(starts)[1:] - 1, n - 1)
    prev = np.empty(n, dtype=np.int64)
    last = np.empty(n, dtype=np.int64)
    prev[order] = prev_sorted
    last[order] = order[ends][group]
    return prev, last


@dataclass(frozen=True, slots=True)
class _Segments:
    """The requests of one operand as segments, each a base block repeated ``reps`` times.

    Segment ``i`` occupies stream positions ``[starts[i], starts[i] + lengths[i] * reps)``; its
    repetition ``q`` is the base block with every row shifted by ``q * row_step``.  A word occurs
    at most once per base block unless conv windows overlap.
    """

    base_rows: np.ndarray  # int64, the bases concatenated (one entry per request, or per row)
    base_addresses: np.ndarray  # int64, one per request; empty when ``base_weights`` is set
    lengths: np.ndarray  # int64 (S,) requests per base block
    reps: int
    row_step: int
    base_weights: np.ndarray | None = None  # int64, requests of each base row (row-level segments)

    @property
    def base_offsets(self) -> np.ndarray:
        return np.cumsum(self.lengths) - self.lengths

    @property
    def starts(self) -> np.ndarray:
        return self.base_offsets * self.reps

    @property
    def size(self) -> int:
        return int(self.lengths.sum()) * self.reps

    def materialise(self) -> tuple[np.ndarray, np.ndarray]:
        """All requests in order: rows and addresses, int64 (n,) each."""
        if self.reps == 1:
            return self.base_rows, self.base_addresses
        if self.lengths.size == 1:
            shift = (np.arange(self.reps, dtype=np.int64) * self.row_step)[:, None]
            return (self.base_rows[None, :] + shift).reshape(-1), np.tile(self.base_addresses, self.reps)
        seg_len = np.repeat(self.lengths, self.reps)
        rep = np.tile(np.arange(self.reps, dtype=np.int64), self.lengths.size)
        total = int(seg_len.sum())
        out_start = np.cumsum(seg_len) - seg_len
        src = np.repeat(np.repeat(self.base_offsets, self.reps) - out_start, seg_len) + np.arange(total)
        return (self.base_rows[src] + np.repeat(rep * self.row_step, seg_len), self.base_addresses[src])

    def rows_at(self, positions: np.ndarray) -> np.ndarray:
        """Demand rows of the requests at the given stream positions, int64."""
        seg = np.searchsorted(self.starts, positions, side="right") - 1
        rep, within = np.divmod(positions - self.starts[seg], self.lengths[seg])
        unit = self.base_offsets[seg] + within
        if self.base_weights is not None:
            unit = np.searchsorted(np.cumsum(self.base_weights), unit, side="right")
        return self.base_rows[unit] + rep * self.row_step


def _segments(g: _Geometry, ops: _Operands, operand: str) -> _Segments:
    """Generate only the distinct fold blocks of one operand's requests (O(operand words))."""
    kind = _REPEAT[(g.dataflow, operand)]
    rf, cf, lines = g.row_folds, g.col_folds, g.lines
    if kind == "fr":  # one pass over the row folds, repeated for every column fold
        rows, addresses = _gen_folds(g, ops, operand, np.arange(rf, dtype=np.int64))
        return _Segments(rows, addresses, np.asarray([addresses.size], dtype=np.int64), cf, rf * lines)
    if kind == "fc":  # os filter: each column fold's block, repeated for its row folds
        rows, addresses = _gen_folds(g, ops, operand, np.arange(cf, dtype=np.int64) * rf)
        return _Segments(rows, addresses, np.bincount(rows // (rf * lines), minlength=cf), rf, lines)
    rows, addresses = _gen_folds(g, ops, operand, np.arange(g.folds, dtype=np.int64))
    return _Segments(rows, addresses, np.asarray([addresses.size], dtype=np.int64), 1, 0)


def _row_segments(g: _Geometry, operand: str) -> _Segments:
    """Like :func:`_segments` at row granularity: each demand row with its request count.

    Notes
    -----
    Closed form per row (the valid ports form one interval), so only valid when every operand
    entry is a real word (no conv window reaching outside the ifmap).  O(folds x rows).
    """
    kind = _REPEAT[(g.dataflow, operand)]
    rf, cf, lines = g.row_folds, g.col_folds, g.lines
    if kind == "fr":
        folds, reps, step = np.arange(rf, dtype=np.int64), cf, rf * lines
    elif kind == "fc":
        folds, reps, step = np.arange(cf, dtype=np.int64) * rf, rf, lines
    else:
        folds, reps, step = np.arange(g.folds, dtype=np.int64), 1, 0
    t_lo, n_t, _ = _stream_spec(g, operand)
    f = folds[:, None]
    fc, fr = np.divmod(f, rf)
    u = np.arange(n_t, dtype=np.int64)[None, :]
    key = (g.dataflow, operand)
    used_k = np.minimum(g.r, g.k - fr * g.r)  # K rows of a ws/is fold
    if key in (("ws", "filter"), ("is", "ifmap")):  # R rows of a block loaded bottom row first
        width = np.minimum(g.c, (g.n if key[0] == "ws" else g.m) - fc * g.c)
        counts = np.where(g.r - 1 - u < used_k, width, 0)
    else:  # skewed: row u holds ports max(0, u - T + 1) .. min(width - 1, u)
        width, t_len = {
            ("os", "ifmap"): (np.minimum(g.r, g.m - fr * g.r), g.k),
            ("os", "filter"): (np.minimum(g.c, g.n - fc * g.c), g.k),
            ("ws", "ifmap"): (used_k, g.m),
            ("is", "filter"): (used_k, g.n),
        }[key]
        counts = np.maximum(0, np.minimum(width - 1, u) - np.maximum(0, u - t_len + 1) + 1)
    counts = np.broadcast_to(counts, (folds.size, n_t))
    keep = counts > 0
    rows = np.broadcast_to(f * lines + u + t_lo, keep.shape)[keep]
    lengths = counts.sum(axis=1) if kind == "fc" else np.asarray([counts.sum()], dtype=np.int64)
    return _Segments(rows, _EMPTY, lengths.astype(np.int64), reps, step, counts[keep].astype(np.int64))


def _previous_in_stream(seg: _Segments) -> np.ndarray:
    """Index of the previous request of the same word in the materialised stream, -1 if none.

    Notes
    -----
    Only for one-segment streams (the ``fr`` and ``fold`` kinds, the ones that can hold repeated
    words).  The base is sorted once; repetitions reuse its links shifted by the base length.
    """
    b = int(seg.base_addresses.size)
    base_prev, base_last = _previous_and_last(seg.base_addresses)
    if seg.reps == 1:
        return base_prev
    shift = np.where(base_prev >= 0, base_prev, base_last - b)
    later = (shift[None, :] + (np.arange(1, seg.reps, dtype=np.int64) * b)[:, None]).reshape(-1)
    return np.concatenate([base_prev, later])


def _epochs_distinct(seg: _Segments, epoch: int) -> tuple[int, list[int]]:
    """CALC epochs of a stream whose base blocks hold distinct words; closed form per segment.

    Returns
    -------
    fetched : int
        DRAM reads (words).
    triggers : list of int
        Stream positions where an epoch ends.

    Notes
    -----
    From an epoch start ``p`` inside segment ``i`` the new words are ``[p, p + L_i)`` (clipped to
    the segment: a request is new when its previous occurrence, one base length earlier, lies
    before ``p``), then the first repetition of every later segment.  O(segments) per epoch.
    """
    lengths = seg.lengths.tolist()
    starts = seg.starts.tolist()
    ends = [s + n * seg.reps for s, n in zip(starts, lengths, strict=True)]
    fetched = 0
    triggers: list[int] = []
    pos = 0
    i = 0
    while True:
        while i < len(lengths) and pos >= ends[i]:
            i += 1
        if i == len(lengths):
            return fetched, triggers
        need = epoch
        run_lo, run_hi = pos, min(pos + lengths[i], ends[i])
        j = i
        while run_hi - run_lo < need:
            need -= run_hi - run_lo
            j += 1
            if j == len(lengths):
                return fetched + epoch - need, triggers
            run_lo, run_hi = starts[j], starts[j] + lengths[j]
        pos = run_lo + need
        triggers.append(pos - 1)
        fetched += epoch


def _request_edges(g: _Geometry, ops: _Operands, operand: str) -> tuple[int, int]:
    """First and last demand row holding a request of one read operand.

    Notes
    -----
    Closed forms from the block layout; the last row of a layer whose windows reach outside the
    ifmap is found from the last fold's requests instead.
    """
    r, c = g.r, g.c
    last_fold = g.folds - 1
    fc, fr = divmod(last_fold, g.row_folds)
    base = last_fold * g.lines
    key = (g.dataflow, operand)
    first = {
        ("os", "ifmap"): 0,
        ("os", "filter"): 0,
        ("ws", "ifmap"): r,
        ("ws", "filter"): max(0, r - g.k),
        ("is", "ifmap"): max(0, r - g.k),
        ("is", "filter"): r,
    }[key]
    if operand == "ifmap" and ops.stats.padded:  # a fold may hold only pixels outside the ifmap
        for fold in range(last_fold, -1, -1):
            rows, _ = _gen_folds(g, ops, operand, np.asarray([fold], dtype=np.int64))
            if rows.size:
                return first, int(rows[-1])
        return first, first  # pragma: no cover - fold 0 always requests pixel 0's window
    last = {
        ("os", "ifmap"): g.k - 1 + min(r, g.m - fr * r) - 1,
        ("os", "filter"): g.k - 1 + min(c, g.n - fc * c) - 1,
        ("ws", "ifmap"): r + g.m - 1 + min(r, g.k - fr * r) - 1,
        ("ws", "filter"): r - 1,
        ("is", "ifmap"): r - 1,
        ("is", "filter"): r + g.n - 1 + min(r, g.k - fr * r) - 1,
    }[key]
    return first, base + last


def _ofmap_edges(g: _Geometry) -> tuple[int, int]:
    """First and last demand row writing ofmap words."""
    last_cols = min(g.c, g.cols_extent - (g.col_folds - 1) * g.c)
    base = (g.folds - 1) * g.lines
    if g.dataflow == "os":
        return g.k - 1 + g.r - min(g.r, g.m), base + g.k + g.r + last_cols - 3
    return 2 * g.r - 1, base + 2 * g.r + g.t_len + last_cols - 3


def _ofmap_words_per_row(g: _Geometry) -> np.ndarray:
    """Ofmap words written by every demand row (``create_ofmap_demand_mat``).

    Returns
    -------
    ndarray of int64, shape (folds * lines,)
    """
    f = np.arange(g.folds, dtype=np.int64)[:, None]
    fc, fr = np.divmod(f, g.row_folds)
    t = np.arange(g.lines, dtype=np.int64)[None, :]
    r = g.r
    used_cols = np.minimum(g.c, g.cols_extent - fc * g.c)
    if g.dataflow == "os":  # R output rows, bottom row first, after K - 1 rows, skewed over C
        used_rows = np.minimum(r, g.m - fr * r)
        lo = np.maximum(0, t - g.k + 2 - r)
        hi = np.minimum(used_cols - 1, t - g.k + 1 - r + used_rows)
    else:  # T output rows after 2R - 1 rows, skewed over C
        lo = np.maximum(0, t - 2 * r + 2 - g.t_len)
        hi = np.minimum(used_cols - 1, t - 2 * r + 1)
    return np.maximum(hi - lo + 1, 0).reshape(-1)


def _prefetch_shape(g: _Geometry, operand: str) -> tuple[int, int, int, bool]:
    """Prefetch matrix layout: (blocks, rows per block, width, rolled out along anti-diagonals)."""
    return {
        ("os", "ifmap"): (g.row_folds, g.k, g.r, True),
        ("os", "filter"): (g.col_folds, g.k, g.c, True),
        ("ws", "ifmap"): (g.row_folds, g.m, g.r, True),
        ("ws", "filter"): (g.col_folds, g.k, g.c, False),
        ("is", "ifmap"): (g.col_folds, g.k, g.c, False),
        ("is", "filter"): (g.row_folds, g.n, g.r, True),
    }[(g.dataflow, operand)]


def _prefetch_sets(
    g: _Geometry, ops: _Operands, operand: str, words_per_set: int
) -> tuple[np.ndarray, np.ndarray]:
    """Hashed set of every valid entry of the USER-mode prefetch matrix.

    Returns
    -------
    addresses, sets : ndarray of int64, shape (n_valid,)
        Word address and set index (rank among valid entries // words per set).

    Notes
    -----
    ``create_*_prefetch_mat`` stacks the operand fold by fold; except for the ws filter and the is
    ifmap it is then read along anti-diagonals.  The rank of an entry in that order has a closed
    form; the rank among valid entries is a prefix sum, so no sort is needed.  O(entries).
    """
    blocks, block_rows, width, diagonal = _prefetch_shape(g, operand)
    n_prow = blocks * block_rows
    prow = np.arange(n_prow, dtype=np.int64)[:, None]
    col = np.arange(width, dtype=np.int64)[None, :]
    blk, within = np.divmod(prow, block_rows)
    key = (g.dataflow, operand)
    if key == ("os", "ifmap"):
        a, b, valid = blk * g.r + col, within, blk * g.r + col < g.m  # (m, k)
    elif key in (("os", "filter"), ("ws", "filter")):
        a, b, valid = within, blk * g.c + col, blk * g.c + col < g.n  # (k, n)
    elif key == ("ws", "ifmap"):
        a, b, valid = within, blk * g.r + col, blk * g.r + col < g.k  # (m, k)
    elif key == ("is", "ifmap"):
        a, b, valid = blk * g.c + col, within, blk * g.c + col < g.m  # (m, k)
    else:  # is filter
        a, b, valid = blk * g.r + col, within, blk * g.r + col < g.k  # (k, n)
    shape = (n_prow, width)
    valid = np.broadcast_to(valid, shape)
    a = np.broadcast_to(a, shape)[valid]
    b = np.broadcast_to(b, shape)[valid]
    if diagonal:
        d = prow + col
        lengths = (
            np.minimum(np.arange(n_prow + width - 1), n_prow - 1)
            - np.maximum(0, np.arange(n_prow + width - 1) - width + 1)
            + 1
        )
        before = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        rank = before[d] + col - np.maximum(0, d - n_prow + 1)
    else:
        rank = prow * width + col
    rank = np.broadcast_to(rank, shape)[valid]
    if operand == "ifmap":
        addresses = ops.ifmap_words(a, b)
        keep = addresses >= 0
        addresses, rank = addresses[keep], rank[keep]
    else:
        addresses = b * g.k + a
    marks = np.zeros(n_prow * width, dtype=np.int64)
    marks[rank] = 1
    order_rank = np.cumsum(marks) - 1
    return addresses, order_rank[rank] // words_per_set


def _prefetch_entries(g: _Geometry, operand: str) -> int:
    """Elements of the prefetch matrix including -1 padding (sets the DRAM line count)."""
    blocks, block_rows, width, _ = _prefetch_shape(g, operand)
    return blocks * block_rows * width


# ----------------------------------------------------------------------------------------------
# Read buffers
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ReadBufferOutcome:
    """DRAM side of one read operand, and the rows where the array may wait for it."""

    dram_read_words: int
    dram_start_cycle: int | None  # None: set by the timeline (CALC mode with epochs)
    dram_stop_cycle: int | None
    event_rows: np.ndarray = field(
        default_factory=lambda: _EMPTY
    )  # USER: rows that trigger prefetches, int64 (E,)
    event_counts: np.ndarray = field(
        default_factory=lambda: _EMPTY
    )  # USER: prefetches triggered in each of those rows
    prefetch_period_cycles: int = 0  # USER: cycles between prefetch completions
    trigger_rows: np.ndarray = field(default_factory=lambda: _EMPTY)  # CALC: rows where an epoch ends


def _user_read_buffer(
    g: _Geometry, ops: _Operands, operand: str, sram_words: int, bw: int
) -> _ReadBufferOutcome:
    """USER-mode read buffer (``read_buffer.py``) of one operand.

    Notes
    -----
    The prefetch order is cut into hashed sets of ``ceil(SRAM / 100)`` words; the active half is
    the cyclic window ``[s, s + A)`` of sets and every miss moves ``s`` by the ``P`` sets of the
    prefetch half and completes one prefetch of ``ceil(half / bw)`` DRAM lines.  Whether a request
    hits depends only on the request order, so misses are found by scanning the demand stream in
    NumPy blocks, O(requests); their timing is applied by the timeline.
    """
    active = int(math.ceil(sram_words * 0.5))
    half = sram_words - active
    per_set = -(-sram_words // _SETS_PER_SRAM)
    n_valid = ops.stats.valid_entries if operand == "ifmap" else g.k * g.n
    n_sets = n_valid // per_set + 1  # prepare_hashed_buffer always closes a last (maybe empty) set
    active_sets = min(-(-active // per_set), n_sets)
    prefetch_sets = min(-(-half // per_set), n_sets - active_sets)
    fetch_lines = -(-_prefetch_entries(g, operand) // bw)
    first_lines = min(-(-active // bw), fetch_lines)
    lines_per_prefetch = -(-half // bw)
    period = lines_per_prefetch + 1
    if active_sets >= n_sets:  # the whole operand sits in the active half: never a miss
        return _ReadBufferOutcome(first_lines * bw, -first_lines, -1)

    addresses, sets = _prefetch_sets(g, ops, operand, per_set)
    n_addr = int(addresses.max()) + 1
    distinct = operand == "filter" or ops.stats.valid_entries == ops.stats.distinct_words
    rows, requested = _segments(g, ops, operand).materialise()
    set_type = np.int16 if n_sets < 2**15 else np.int32
    if distinct:
        table = np.zeros(n_addr, dtype=set_type)
        table[addresses] = sets
        req_sets = table[requested]
    else:  # overlapping conv windows: a word sits in several sets, any of them may hit
        pairs = np.sort(addresses * n_sets + sets)
        pairs = pairs[np.append(True, pairs[1:] != pairs[:-1])]  # distinct (word, set), by word
        words, word_sets = np.divmod(pairs, n_sets)
        first = np.searchsorted(words, np.arange(n_addr))
        slot = np.arange(words.size) - first[words]
        table = np.empty((int(slot.max()) + 1, n_addr), dtype=set_type)  # occurrence-major
        table[:] = word_sets[np.minimum(first, words.size - 1)]  # pad with a copy of the first
        table[slot, words] = word_sets
        req_sets = table[:, requested]  # (occurrences, requests): contiguous rows reduce fast

    ev_rows: list[int] = []
    ev_counts: list[int] = []
    start = 0  # first set of the active window [start, start + active_sets) (mod n_sets)
    pos = 0
    n = requested.size
    block = 256
    multi = req_sets.ndim == 2
    while pos < n:
        end = min(n, pos + block)
        chunk = req_sets[..., pos:end]
        top = start + active_sets
        if top <= n_sets:
            inside = (chunk >= start) & (chunk < top)
        else:
            inside = (chunk >= start) | (chunk < top - n_sets)
        if multi:
            inside = inside.any(axis=0)
        misses = np.flatnonzero(~inside)
        if misses.size == 0:
            pos = end
            block *= 4
            continue
        j = pos + int(misses[0])
        need = req_sets[..., j].astype(np.int64)
        count = 0
        while True:  # new_prefetch() until the word is in the active window
            start = (start + prefetch_sets) % n_sets
            count += 1
            hit = (need - start) % n_sets < active_sets
            if hit.any() if multi else hit:
                break
        row = int(rows[j])
        if ev_rows and ev_rows[-1] == row:
            ev_counts[-1] += count
        else:
            ev_rows.append(row)
            ev_counts.append(count)
        block = max(256, 2 * (j - pos))
        pos = j + 1
    n_prefetch = sum(ev_counts)
    return _ReadBufferOutcome(
        (first_lines + n_prefetch * lines_per_prefetch) * bw,
        -first_lines,
        -1 + n_prefetch * period,
        np.asarray(ev_rows, dtype=np.int64),
        np.asarray(ev_counts, dtype=np.int64),
        period,
    )


def _calc_fill_cycles(words: int, per_set: int) -> int:
    """First-fill cycles of ``words`` rounded up to whole sets, at 10 words/cycle."""
    return -(-(-(-words // per_set) * per_set) // _CALC_FILL_WORDS_PER_CYCLE)


def _calc_read_buffer(g: _Geometry, ops: _Operands, operand: str, sram_words: int) -> _ReadBufferOutcome:
    """CALC-mode read buffer (``read_buffer_estimate_bw.py``) of one operand.

    Notes
    -----
    A request is fetched from DRAM when its word was not requested since the start of the current
    epoch; an epoch ends after ``50 * floor(SRAM / 100)`` fetches.  With fewer distinct words than
    that the count is the distinct words (closed form); when every fold block holds distinct words
    the epochs follow in closed form from the block repetitions (:func:`_epochs_distinct`);
    otherwise each request's previous request of the same word is computed and each epoch ends at
    the epoch-th request whose previous request lies before the epoch, O(requests log requests).
    """
    per_set = sram_words // _SETS_PER_SRAM
    epoch = _CALC_SETS_PER_HALF * per_set
    distinct_words = ops.stats.distinct_words if operand == "ifmap" else g.k * g.n
    if distinct_words < epoch:
        return _ReadBufferOutcome(distinct_words, -_calc_fill_cycles(distinct_words, per_set), -1)
    if operand == "filter" or ops.stats.valid_entries == ops.stats.distinct_words:
        exact = operand == "filter" or not ops.stats.padded
        seg = _row_segments(g, operand) if exact else _segments(g, ops, operand)
        fetched, triggers = _epochs_distinct(seg, epoch)
    else:
        seg = _segments(
            g, ops, operand
        )  # overlapping windows: follow each request's previous request of the same word
        prev = _previous_in_stream(seg)
        n = prev.size
        triggers = []
        fetched = 0
        pos = 0
        while pos < n:
            end = min(n, pos + 2 * epoch)
            while True:
                new = np.flatnonzero(prev[pos:end] < pos)
                if new.size >= epoch or end == n:
                    break
                end = min(n, pos + 2 * (end - pos))
            if new.size < epoch:
                fetched += int(new.size)
                break
            pos += int(new[epoch - 1]) + 1
            triggers.append(pos - 1)
            fetched += epoch
    if not triggers:
        return _ReadBufferOutcome(fetched, -_calc_fill_cycles(fetched, per_set), -1)
    trigger_rows = seg.rows_at(np.asarray(triggers, dtype=np.int64))
    return _ReadBufferOutcome(fetched, None, None, trigger_rows=trigger_rows)


# ----------------------------------------------------------------------------------------------
# Timeline: rows, stalls and the ofmap write buffer
# ----------------------------------------------------------------------------------------------


class _OfmapBuffer:
    """Ofmap SRAM of ``write_buffer.py``, keeping lines as runs of (line count, last-line words)."""

    __slots__ = (
        "active",
        "bw",
        "drain_lines",
        "free",
        "drain_end",
        "open_words",
        "pending",
        "dram_words",
        "first_drain_cycle",
        "last_drain_cycle",
    )

    def __init__(self, total: int, bw: int) -> None:
        self.active = int(math.ceil(total * 0.5))
        self.bw = bw
        self.drain_lines = -(-(total - self.active) // bw)
        self.free = total
        self.drain_end = 0
        self.open_words = 0  # words since the last forced line break
        self.pending: deque[list[int]] = deque()  # closed runs: [lines left, words in the last line]
        self.dram_words = 0
        self.first_drain_cycle: int | None = None
        self.last_drain_cycle = 0

    def close_line(self) -> None:
        """``append_to_trace_mat(force=True)``: the partial line becomes a trace row."""
        if self.open_words:
            lines = -(-self.open_words // self.bw)
            self.pending.append([lines, self.open_words - (lines - 1) * self.bw])
            self.open_words = 0

    def drain(self, cycle: int) -> int:
        """``empty_drain_buf``: drain up to ``drain_lines`` lines from ``cycle``; return the end cycle."""
        want = self.drain_lines
        taken = 0
        last_fill = self.bw
        while want and self.pending:
            head = self.pending[0]
            step = min(want, head[0])
            taken += step
            want -= step
            if step == head[0]:
                last_fill = head[1]
                self.pending.popleft()
            else:
                head[0] -= step
                last_fill = self.bw
        words = taken * self.bw - (self.bw - last_fill)  # only the last line's padding is subtracted
        self.dram_words += words
        self.free += words
        end = cycle + taken - 1
        if self.first_drain_cycle is None:
            self.first_drain_cycle = cycle
        self.last_drain_cycle = max(self.last_drain_cycle, end)
        return end

    def write_row(self, words: int, cycle: int) -> int:
        """Write one row word by word (``service_writes``); return its service cycle."""
        for _ in range(words):
            self.free -= 1
            self.open_words += 1
            if cycle < self.drain_end:
                if self.free <= 0:
                    cycle = self.drain_end
            elif self.free < self.active:
                self.close_line()
                self.drain_end = self.drain(cycle)
        return cycle

    def flush(self, cycle: int) -> None:
        """``empty_all_buffers``: drain everything left, one drain after the other."""
        self.close_line()
        while self.pending:
            cycle = self.drain(cycle) + 1


@dataclass(frozen=True, slots=True)
class _Timeline:
    total_cycles: int
    stall_cycles: int
    issue_cycle: dict[int, int]  # observed row -> cycle it was issued
    ifmap_cycle: dict[int, int]  # observed row -> service cycles
    filter_cycle: dict[int, int]
    ofmap_cycle: dict[int, int]


def _read_service(cycle: int, first_k: int, count: int, period: int) -> int:
    """Service cycle of a row issued at ``cycle`` that triggers prefetches ``first_k ..``.

    ``read_buffer.py`` 359-364: the offset becomes ``ready - cycle`` when the prefetch is ready
    early, and grows by twice the wait otherwise.
    """
    out = cycle + 1
    for k in range(first_k, first_k + count):
        ready = -1 + k * period
        out = ready if ready <= out else 2 * ready - out
    return out


def _run_timeline(
    g: _Geometry,
    ifmap: _ReadBufferOutcome,
    filt: _ReadBufferOutcome,
    observe: list[int],
    ofmap: _OfmapBuffer,
    ofmap_words: int,
) -> _Timeline:
    """Issue the demand rows, applying read waits and the ofmap buffer, from event to event.

    Notes
    -----
    Rows where nothing happens are skipped in bulk with prefix sums and binary search; only rows
    with a prefetch wait, an ofmap drain or stall, or an observation are visited, so the cost is
    O(rows) NumPy work plus O(events x cols) Python steps.  When no read waits and the ofmap never
    fills half its buffer, nothing can stall and the timeline is closed-form.
    """
    n_rows = g.n_rows
    if not ifmap.event_rows.size and not filt.event_rows.size and ofmap_words <= ofmap.free - ofmap.active:
        ofmap.open_words = ofmap_words
        ofmap.free -= ofmap_words
        rows = {row: row for row in observe}
        return _Timeline(n_rows - 1, 0, rows, {r: r + 1 for r in observe}, {r: r + 1 for r in observe}, rows)

    words_arr = _ofmap_words_per_row(g)
    cum = np.cumsum(words_arr).tolist()  # words through row j (lists: bisect beats NumPy per call)
    words = words_arr.tolist()
    special_list = sorted(set(ifmap.event_rows.tolist()) | set(filt.event_rows.tolist()) | set(observe))
    if_count = dict(zip(ifmap.event_rows.tolist(), ifmap.event_counts.tolist(), strict=True))
    fl_count = dict(zip(filt.event_rows.tolist(), filt.event_counts.tolist(), strict=True))
    observed = set(observe)
    issue: dict[int, int] = {}
    if_out: dict[int, int] = {}
    fl_out: dict[int, int] = {}
    of_out: dict[int, int] = {}
    stalls = 0
    i = 0
    sp = 0
    k_if = 1
    k_fl = 1
    last_out = 0

    def words_before(row: int) -> int:
        return cum[row - 1] if row > 0 else 0

    while i < n_rows:
        next_special = special_list[sp] if sp < len(special_list) else n_rows
        base = words_before(i)
        free = ofmap.free
        # first row whose words make the ofmap buffer act: a full buffer during a drain (stall), or
        # more than half full once the drain is over (start a drain)
        event = n_rows
        switch = ofmap.drain_end - stalls  # rows >= switch are issued at or after the drain end
        if switch > i:
            j = bisect_left(cum, base + max(1, free))
            if j < switch:
                event = j
        idle_from = max(i, switch)
        if event == n_rows and idle_from < n_rows:
            threshold = max(base + max(1, free - ofmap.active + 1), words_before(idle_from) + 1)
            event = bisect_left(cum, threshold)
        row = min(next_special, event)
        if row >= n_rows:
            moved = ofmap_words - base
            ofmap.free -= moved
            ofmap.open_words += moved
            last_out = n_rows - 1 + stalls
            break
        moved = words_before(row) - base
        ofmap.free -= moved
        ofmap.open_words += moved
        cycle = row + stalls
        out_if = out_fl = cycle + 1
        if row == next_special:
            sp += 1
            count = if_count.get(row, 0)
            if count:
                out_if = _read_service(cycle, k_if, count, ifmap.prefetch_period_cycles)
                k_if += count
            count = fl_count.get(row, 0)
            if count:
                out_fl = _read_service(cycle, k_fl, count, filt.prefetch_period_cycles)
                k_fl += count
        w = words[row]
        if row == event:
            out_of = ofmap.write_row(w, cycle)
        else:
            ofmap.free -= w
            ofmap.open_words += w
            out_of = cycle
        if row in observed:
            issue[row] = cycle
            if_out[row] = out_if
            fl_out[row] = out_fl
            of_out[row] = out_of
        stalls += max(out_if - cycle - 1, out_fl - cycle - 1, out_of - cycle)
        last_out = out_of
        i = row + 1
    return _Timeline(last_out, stalls, issue, if_out, fl_out, of_out)


# ----------------------------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------------------------


def simulate_systolic(config: SystolicArrayConfig, layer: SystolicLayer) -> SystolicResult:
    """Simulate one layer on a systolic array exactly as SCALE-Sim 3.0.0 does.

    Parameters
    ----------
    config : SystolicArrayConfig
        Array, SRAMs and DRAM bandwidth mode.
    layer : SystolicLayer
        The layer (GEMM or convolution).

    Returns
    -------
    SystolicResult
        Cycles, stalls, utilisations, access counts and access windows; the integer fields equal
        SCALE-Sim 3.0.0's report entries, the percentages agree to floating-point rounding.

    Notes
    -----
    Cost: closed forms when an operand fits its buffer and the ofmap never fills half its SRAM.
    Otherwise CALC epochs take O(folds x rows) (O(S log S) over the S requests of an operand with
    overlapping conv windows), USER misses O(S) NumPy work plus a few NumPy calls per miss, and
    the timeline O(rows) plus O(E x C) Python steps for the E rows where a prefetch wait, a drain
    or an ofmap stall happens.  SCALE-Sim steps through every request and address in Python.

    Examples
    --------
    >>> cfg = SystolicArrayConfig(rows=4, cols=4, dataflow="os", ifmap_sram_words=65536,
    ...                           filter_sram_words=65536, ofmap_sram_words=65536)
    >>> res = simulate_systolic(cfg, SystolicLayer.gemm(16, 16, 16))
    >>> res.total_cycles, res.stall_cycles, res.total_cycles_incl_prefetch
    (351, 0, 480)
    """
    g = _geometry(config, layer)
    ops = _Operands(layer)
    if config.bandwidth_mode == "user":
        ifmap = _user_read_buffer(
            g, ops, "ifmap", config.ifmap_sram_words, int(config.ifmap_dram_words_per_cycle or 0)
        )
        filt = _user_read_buffer(
            g, ops, "filter", config.filter_sram_words, int(config.filter_dram_words_per_cycle or 0)
        )
        ofmap_bw = int(config.ofmap_dram_words_per_cycle or 0)
    else:
        ifmap = _calc_read_buffer(g, ops, "ifmap", config.ifmap_sram_words)
        filt = _calc_read_buffer(g, ops, "filter", config.filter_sram_words)
        ofmap_bw = config.cols  # single_layer_sim.py: CALC drains the ofmap at ArrayWidth words/cycle

    edges = {
        "ifmap": _request_edges(g, ops, "ifmap"),
        "filter": _request_edges(g, ops, "filter"),
        "ofmap": _ofmap_edges(g),
    }
    observe = sorted(
        {row for pair in edges.values() for row in pair}
        | set(ifmap.trigger_rows.tolist())
        | set(filt.trigger_rows.tolist())
    )
    m, n, k = g.m, g.n, g.k
    r, c = g.r, g.c
    ofmap_words = m * n * (1 if g.dataflow == "os" else g.row_folds)
    ofmap = _OfmapBuffer(config.ofmap_sram_words, ofmap_bw)
    tl = _run_timeline(g, ifmap, filt, observe, ofmap, ofmap_words)
    ofmap.flush(tl.total_cycles)

    def dram_window(buf: _ReadBufferOutcome, sram_words: int, first_row: int) -> tuple[int, int]:
        if buf.dram_start_cycle is not None and buf.dram_stop_cycle is not None:
            return buf.dram_start_cycle, buf.dram_stop_cycle
        fill = _calc_fill_cycles(
            _CALC_SETS_PER_HALF * (sram_words // _SETS_PER_SRAM), sram_words // _SETS_PER_SRAM
        )
        return tl.issue_cycle[first_row] - fill, tl.issue_cycle[int(buf.trigger_rows[-1])] + 1

    if_start, if_stop = dram_window(ifmap, config.ifmap_sram_words, edges["ifmap"][0])
    fl_start, fl_stop = dram_window(filt, config.filter_sram_words, edges["filter"][0])

    if g.dataflow == "os":
        fold_cycles = k + r + c - 2
        sram_if, sram_fl = m * k * g.col_folds, k * n * g.row_folds
        sram_of = m * n + g.folds * (r + c)  # systolic_compute_os.py:403 adds R + C per fold
    else:  # ws/is fold length in the Compute Util is C - 1 longer than simulated
        fold_cycles = 2 * r + 2 * c + g.t_len - 3
        sram_if = m * k * g.col_folds if g.dataflow == "ws" else k * m
        sram_fl = k * n if g.dataflow == "ws" else k * n * g.col_folds
        sram_of = m * n * g.row_folds
    used_pes = g.rows_extent * g.cols_extent  # summed over folds
    total = tl.total_cycles
    return SystolicResult(
        total_cycles=total,
        stall_cycles=tl.stall_cycles,
        total_cycles_incl_prefetch=ofmap.last_drain_cycle - min(if_start, fl_start),
        overall_util_pct=(m * n * k * 100) / (total * r * c) if total else math.inf,  # SCALE-Sim divides by 0
        mapping_efficiency_pct=used_pes / (g.folds * r * c) * 100,
        compute_util_pct=used_pes * g.t_len / (g.folds * r * c * fold_cycles) * 100,
        sram_ifmap_read_words=sram_if,
        sram_filter_read_words=sram_fl,
        sram_ofmap_write_words=sram_of,
        dram_ifmap_read_words=ifmap.dram_read_words,
        dram_filter_read_words=filt.dram_read_words,
        dram_ofmap_write_words=ofmap.dram_words,
        sram_ifmap_start_cycle=tl.ifmap_cycle[edges["ifmap"][0]],
        sram_ifmap_stop_cycle=tl.ifmap_cycle[edges["ifmap"][1]],
        sram_filter_start_cycle=tl.filter_cycle[edges["filter"][0]],
        sram_filter_stop_cycle=tl.filter_cycle[edges["filter"][1]],
        sram_ofmap_start_cycle=tl.ofmap_cycle[edges["ofmap"][0]],
        sram_ofmap_stop_cycle=tl.ofmap_cycle[edges["ofmap"][1]],
        dram_ifmap_start_cycle=if_start,
        dram_ifmap_stop_cycle=if_stop,
        dram_filter_start_cycle=fl_start,
        dram_filter_stop_cycle=fl_stop,
        dram_ofmap_start_cycle=ofmap.first_drain_cycle if ofmap.first_drain_cycle is not None else total,
        dram_ofmap_stop_cycle=ofmap.last_drain_cycle,
        gemm_m=m,
        gemm_n=n,
        gemm_k=k,
        row_folds=g.row_folds,
        col_folds=g.col_folds,
        folds=g.folds,
        rows_per_fold_cycles=g.lines,
        macs=m * n * k,
    )


# ----------------------------------------------------------------------------------------------
# SCALE-Sim input files
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScaleSimCase:
    """A SCALE-Sim run folder: its array configuration and its layers.

    Attributes
    ----------
    name : str
        ``[general] run_name`` (the folder name when missing).
    config : SystolicArrayConfig
        The array.
    layers : tuple of SystolicLayer
        The topology rows in order (depth-wise ``DP`` rows expanded per channel, as SCALE-Sim does).
    folder : Path
        Where the files were read from.
    """

    name: str
    config: SystolicArrayConfig
    layers: tuple[SystolicLayer, ...]
    folder: Path


def _cfg_get(parser: _Ini, where: Where, section: str, key: str, issues: list[SpecError]) -> str | None:
    if not parser.has_section(section):
        _issue(issues, where / section, f"missing section [{section}]; sections present: {parser.sections()}")
        return None
    if not parser.has_option(section, key):
        _issue(issues, where / section / key, f"missing key {key!r} in [{section}]")
        return None
    return str(parser.get(section, key)).strip()


def _cfg_int(
    parser: _Ini,
    where: Where,
    section: str,
    key: str,
    issues: list[SpecError],
    *,
    minimum: int = 1,
) -> int | None:
    text = _cfg_get(parser, where, section, key, issues)
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        _issue(issues, where / section / key, f"expected an integer, got {text!r}")
        return None
    if value < minimum:
        _issue(issues, where / section / key, f"must be >= {minimum}, got {value}")
        return None
    return value


def parse_scalesim_config(path: str | Path) -> SystolicArrayConfig:
    """Read a SCALE-Sim 3.0.0 ``scale.cfg`` into a :class:`SystolicArrayConfig`.

    Parameters
    ----------
    path : str or Path
        The ``.cfg`` file.

    Returns
    -------
    SystolicArrayConfig
        SRAM sizes are ``*SramSzkB * 1024`` words.  In USER mode the ifmap/filter DRAM bandwidths
        come from ``[layout] IfmapSRAMBankBandwidth`` / ``FilterSRAMBankBandwidth`` and the ofmap one
        from the first value of ``[architecture_presets] Bandwidth``, as SCALE-Sim 3.0.0 reads them
        (``single_layer_sim.py``).

    Raises
    ------
    SpecError
        Missing file, section or key, or a bad value; the message names the file and the key
        (``scale.cfg:architecture_presets.ArrayHeight: ...``).  All problems are reported at once.
    """
    path = Path(path)
    return _config_from_parser(_read_config_file(path), Where(path))


class _Ini:
    """The INI subset that SCALE-Sim's ``configparser`` reads.

    Sections, ``key: value`` or ``key = value`` lines (keys case-insensitive), full-line ``#`` or
    ``;`` comments and indented continuation lines.  A few times faster than :mod:`configparser`,
    which matters when a layer simulates in a fraction of a millisecond.
    """

    __slots__ = ("_data",)

    def __init__(self, text: str, where: Where) -> None:
        self._data: dict[str, dict[str, str]] = {}
        section: dict[str, str] | None = None
        key: str | None = None
        for number, raw in enumerate(text.splitlines(), start=1):
            stripped = raw.strip()
            if not stripped or stripped[0] in "#;":
                continue
            if raw[0].isspace() and section is not None and key is not None:
                section[key] = f"{section[key]}\n{stripped}".strip()
                continue
            if stripped.startswith("[") and stripped.endswith("]"):
                name = stripped[1:-1]
                if name in self._data:
                    raise SpecError(where.at_line(number), f"section [{name}] appears twice")
                section = self._data[name] = {}
                key = None
                continue
            colon, equals = stripped.find(":"), stripped.find("=")
            cut = colon if equals < 0 or 0 <= colon < equals else equals  # first delimiter
            if section is None or cut <= 0:
                raise SpecError(
                    where.at_line(number), f"expected '[section]' or 'key: value', got {stripped!r}"
                )
            key = stripped[:cut].strip().lower()
            if key in section:
                raise SpecError(where.at_line(number), f"key {key!r} appears twice in its section")
            section[key] = stripped[cut + 1 :].strip()

    def sections(self) -> list[str]:
        return list(self._data)

    def has_section(self, section: str) -> bool:
        return section in self._data

    def has_option(self, section: str, key: str) -> bool:
        return key.lower() in self._data.get(section, {})

    def get(self, section: str, key: str, fallback: str | None = None) -> str | None:
        return self._data.get(section, {}).get(key.lower(), fallback)


def _read_config_file(path: Path) -> _Ini:
    where = Where(path)
    try:
        text = path.read_text()
    except FileNotFoundError as err:
        raise SpecError(where, "config file not found") from err
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(where, f"cannot read the config file: {err}") from err
    return _Ini(text, where)


def _config_from_parser(parser: _Ini, where: Where) -> SystolicArrayConfig:
    issues: list[SpecError] = []
    arch = "architecture_presets"
    rows = _cfg_int(parser, where, arch, "ArrayHeight", issues)
    cols = _cfg_int(parser, where, arch, "ArrayWidth", issues)
    sizes = [
        _cfg_int(parser, where, arch, key, issues)
        for key in ("IfmapSramSzkB", "FilterSramSzkB", "OfmapSramSzkB")
    ]
    dataflow = _cfg_get(parser, where, arch, "Dataflow", issues)
    if dataflow is not None and dataflow not in DATAFLOWS:
        _issue(
            issues,
            where / arch / "Dataflow",
            f"unknown dataflow {dataflow!r}; choose one of {list(DATAFLOWS)}",
        )
    mode_text = _cfg_get(parser, where, "run_presets", "InterfaceBandwidth", issues)
    mode = None
    if mode_text is not None:
        if mode_text not in ("CALC", "USER"):
            _issue(
                issues,
                where / "run_presets" / "InterfaceBandwidth",
                f"expected 'CALC' or 'USER', got {mode_text!r}",
            )
        else:
            mode = mode_text.lower()
    if str(parser.get("sparsity", "SparsitySupport", "false")).lower() == "true":
        _issue(issues, where / "sparsity" / "SparsitySupport", "sparsity is not supported; set it to false")
    for key in ("IfmapCustomLayout", "FilterCustomLayout"):
        if str(parser.get("layout", key, "false")).lower() == "true":
            _issue(issues, where / "layout" / key, "custom layouts are not supported; set it to False")
    bws: list[int | None] = [None, None, None]
    if mode == "user":
        for slot, key in ((0, "IfmapSRAMBankBandwidth"), (1, "FilterSRAMBankBandwidth")):
            bws[slot] = _cfg_int(parser, where, "layout", key, issues)
            banks_key = key.replace("Bandwidth", "Num")
            if parser.has_section("layout") and parser.has_option("layout", banks_key) and bws[slot]:
                banks = _cfg_int(parser, where, "layout", banks_key, issues)
                if banks and bws[slot] % banks:
                    _issue(
                        issues,
                        where / "layout" / key,
                        f"bandwidth {bws[slot]} must be divisible by {banks_key} = {banks} "
                        "(SCALE-Sim asserts it)",
                    )
        text = _cfg_get(parser, where, arch, "Bandwidth", issues)
        if text is not None:
            try:
                bws[2] = int(text.split(",")[0].strip())
            except ValueError:
                _issue(issues, where / arch / "Bandwidth", f"expected integers, got {text!r}")
            else:
                if bws[2] < 1:
                    _issue(issues, where / arch / "Bandwidth", f"must be >= 1, got {bws[2]}")
    _raise_all(issues)
    if rows is None or cols is None or dataflow is None or mode is None:  # pragma: no cover - reported above
        raise SpecError(where, "incomplete configuration")
    try:
        return SystolicArrayConfig(
            rows=rows,
            cols=cols,
            dataflow=dataflow,
            ifmap_sram_words=int(sizes[0]) * 1024,
            filter_sram_words=int(sizes[1]) * 1024,
            ofmap_sram_words=int(sizes[2]) * 1024,
            bandwidth_mode=mode,
            ifmap_dram_words_per_cycle=bws[0],
            filter_dram_words_per_cycle=bws[1],
            ofmap_dram_words_per_cycle=bws[2],
        )
    except SpecError as err:  # re-locate in the file
        raise SpecError(where, err.message) from err


def parse_scalesim_topology(path: str | Path, topology_format: str = "auto") -> tuple[SystolicLayer, ...]:
    """Read a SCALE-Sim topology CSV.

    Parameters
    ----------
    path : str or Path
        The CSV file: a header line, then one layer per line.
    topology_format : {"auto", "gemm", "conv"}
        ``"gemm"``: rows ``name, M, N, K,`` (SCALE-Sim ``-i gemm``); ``"conv"``: rows
        ``name, IFMAP H, IFMAP W, Filter H, Filter W, Channels, Num Filter, Stride,``.  ``"auto"``
        picks ``"gemm"`` when the header's second column is ``M``.

    Returns
    -------
    tuple of SystolicLayer
        One per row.  Conv rows whose name contains ``DP`` (depth-wise) become one single-channel
        layer per channel, as in SCALE-Sim.  An optional trailing ``N:M`` sparsity column is
        ignored.  SCALE-Sim requires a trailing comma on every row; it is accepted but optional here.

    Raises
    ------
    SpecError
        Missing file, unknown format, or a bad row; the message names the file and the row
        (``topology.csv:rows[2].K (line 3): ...``).  All problems are reported at once.
    """
    path = Path(path)
    where = Where(path)
    if topology_format not in ("auto", "gemm", "conv"):
        raise SpecError(
            where, f"unknown topology format {topology_format!r}; choose one of ['auto', 'gemm', 'conv']"
        )
    if not path.is_file():
        raise SpecError(where, "topology file not found")
    lines = path.read_text().splitlines()
    if not lines:
        raise SpecError(where, "empty topology file (expected a header line and layer rows)")
    header = [cell.strip() for cell in lines[0].split(",")]
    fmt = topology_format
    if fmt == "auto":
        fmt = "gemm" if len(header) > 1 and header[1].upper() == "M" else "conv"
    names = (
        ("M", "N", "K")
        if fmt == "gemm"
        else (
            "IFMAP Height",
            "IFMAP Width",
            "Filter Height",
            "Filter Width",
            "Channels",
            "Num Filter",
            "Strides",
        )
    )
    issues: list[SpecError] = []
    layers: list[SystolicLayer] = []
    for number, raw in enumerate(lines[1:], start=2):
        text = raw.strip()
        if not text:
            continue
        cells = [cell.strip() for cell in text.split(",")]
        if cells and cells[-1] == "":
            cells = cells[:-1]
        row_where = (where / f"rows[{len(layers)}]").at_line(number)
        if len(cells) < len(names) + 1:
            _issue(
                issues,
                row_where,
                f"expected {len(names) + 1} columns (name, {', '.join(names)}), got {len(cells)}: {text!r}",
            )
            continue
        values: list[int] = []
        for name, cell in zip(names, cells[1 : len(names) + 1], strict=True):
            try:
                values.append(int(cell))
            except ValueError:
                _issue(
                    issues,
                    (where / f"rows[{len(layers)}]" / name).at_line(number),
                    f"expected an integer, got {cell!r}",
                )
        if len(values) != len(names):
            continue
        layer_name = cells[0]
        try:
            if fmt == "gemm":
                layers.append(SystolicLayer.gemm(values[0], values[1], values[2], name=layer_name))
            else:
                h, w, fh, fw, ch, nf, st = values
                if "DP" in layer_name:
                    layers.extend(
                        SystolicLayer.conv(
                            ifmap_h=h,
                            ifmap_w=w,
                            filter_h=fh,
                            filter_w=fw,
                            channels=1,
                            num_filters=nf,
                            stride=st,
                            name=f"{layer_name}Channel_{i}",
                        )
                        for i in range(ch)
                    )
                else:
                    layers.append(
                        SystolicLayer.conv(
                            ifmap_h=h,
                            ifmap_w=w,
                            filter_h=fh,
                            filter_w=fw,
                            channels=ch,
                            num_filters=nf,
                            stride=st,
                            name=layer_name,
                        )
                    )
        except SpecError as err:
            _issue(
                issues,
                row_where,
                err.message if not isinstance(err, SpecErrors) else "; ".join(e.message for e in err.errors),
            )
    _raise_all(issues)
    if not layers:
        raise SpecError(where, "no layer rows after the header")
    return tuple(layers)


def load_scalesim_case(
    folder: str | Path,
    *,
    config_name: str = "scale.cfg",
    topology_name: str = "topology.csv",
    topology_format: str = "auto",
) -> ScaleSimCase:
    """Load a SCALE-Sim run folder (``scale.cfg`` + topology CSV).

    Parameters
    ----------
    folder : str or Path
        Directory holding the two files.
    config_name, topology_name : str
        File names inside ``folder``.
    topology_format : {"auto", "gemm", "conv"}
        See :func:`parse_scalesim_topology`.

    Returns
    -------
    ScaleSimCase

    Raises
    ------
    SpecError
        Missing folder or files, or bad content (see the two parsers).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SpecError(Where(folder), "case folder not found")
    parser = _read_config_file(folder / config_name)
    config = _config_from_parser(parser, Where(folder / config_name))
    layers = parse_scalesim_topology(folder / topology_name, topology_format)
    name = parser.get("general", "run_name") or folder.name
    return ScaleSimCase(name=name, config=config, layers=layers, folder=folder)
