"""Einsum expressions: parse the classic and the named form into tensors and index lists.

Two spellings are read:

* classic, one letter per index (as :func:`numpy.einsum`)::

      "bj,ij->bi"            # output given
      "bj,ij"                # implicit output: letters used once, sorted

* named, indices of any length, tensors named (``*`` or ``,`` between operands)::

      "x[b,j1,j2] * G1[i1,j1,r1] * G2[r1,i2,j2] -> y[b,i1,i2]"

  Operand names may be left out (``[b,j1] * [i1,j1] -> [b,i1]``); they default to
  ``T0, T1, ...`` and the output to ``y``.

The parser produces plain data; :func:`tnx_timeloop.frontends.tensornet.from_einsum`
turns it into a validated :class:`~tnx_timeloop.frontends.tensornet.TensorNetwork`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tnx_timeloop.errors import SpecError, Where

__all__ = ["ParsedEinsum", "parse_einsum", "einsum_symbols"]

_NAMED_OPERAND = re.compile(r"^\s*([A-Za-z_][\w.']*)?\s*\[([^\]]*)\]\s*$")
_INDEX = re.compile(r"^[A-Za-z_][\w']*$")


@dataclass(frozen=True, slots=True)
class ParsedEinsum:
    """An einsum expression as operands and index lists.

    Attributes
    ----------
    operands : tuple of (str, tuple of str)
        ``(tensor name, indices)`` of each input, in order.
    output : tuple of str
        Output indices.
    output_name : str
        Name of the output tensor (``y`` unless the expression names it).
    """

    operands: tuple[tuple[str, tuple[str, ...]], ...]
    output: tuple[str, ...]
    output_name: str = "y"


def parse_einsum(expression: str, *, where: Where | None = None) -> ParsedEinsum:
    """Read an einsum expression in the classic or the named form.

    Parameters
    ----------
    expression : str
        E.g. ``"bj,ij->bi"`` or ``"x[b,j] * W[i,j] -> y[b,i]"``.
    where : Where, optional
        Location for error messages (file and key path).

    Returns
    -------
    ParsedEinsum

    Raises
    ------
    SpecError
        For an empty expression, a malformed operand or index name, more than one
        ``->``, or an output index that no operand has.

    Examples
    --------
    >>> parse_einsum("bj,ij->bi").operands
    (('T0', ('b', 'j')), ('T1', ('i', 'j')))
    >>> parse_einsum("x[b, j1] * W[i1, j1] -> y[b, i1]").output
    ('b', 'i1')
    """
    where = where or Where()
    text = expression.strip()
    if not text:
        raise SpecError(where, "empty einsum expression; write e.g. 'bj,ij->bi' or 'x[b,j] * W[i,j] -> y[b,i]'")
    if text.count("->") > 1:
        raise SpecError(where, f"einsum {expression!r} has more than one '->'")
    lhs, arrow, rhs = text.partition("->")
    if "[" in text:
        operands, output, out_name = _parse_named(lhs, rhs if arrow else None, expression, where)
    else:
        operands, output, out_name = _parse_classic(lhs, rhs if arrow else None, expression, where)
    used = {i for _, idx in operands for i in idx}
    missing = [i for i in output if i not in used]
    if missing:
        raise SpecError(where, f"einsum {expression!r}: output index {missing[0]!r} appears in no operand")
    if len(set(output)) != len(output):
        raise SpecError(where, f"einsum {expression!r}: output repeats an index ({list(output)})")
    return ParsedEinsum(tuple(operands), tuple(output), out_name)


def _implicit_output(operands: list[tuple[str, tuple[str, ...]]]) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    for _, idx in operands:
        for i in idx:
            counts[i] = counts.get(i, 0) + 1
    return tuple(sorted(i for i, c in counts.items() if c == 1))


def _parse_classic(lhs: str, rhs: str | None, expression: str, where: Where):
    parts = [p.strip() for p in lhs.split(",")]
    operands = []
    for k, part in enumerate(parts):
        if not part or not all(ch.isalpha() for ch in part):
            raise SpecError(
                where,
                f"einsum {expression!r}: operand {k} is {part!r}; classic operands are letters only "
                "(use the named form 'x[b,j1] * W[i1,j1] -> y[b,i1]' for longer index names)",
            )
        operands.append((f"T{k}", tuple(part)))
    if rhs is None:
        return operands, _implicit_output(operands), "y"
    out = rhs.strip()
    if out and not all(ch.isalpha() for ch in out):
        raise SpecError(where, f"einsum {expression!r}: output {out!r} must be letters only")
    return operands, tuple(out), "y"


def _split_operands(lhs: str) -> list[str]:
    """Split on ``*`` or ``,`` outside brackets."""
    parts, depth, cur = [], 0, []
    for ch in lhs:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if depth == 0 and ch in "*,":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in (q.strip() for q in parts)]


def _named_operand(text: str, default_name: str, expression: str, where: Where) -> tuple[str, tuple[str, ...]]:
    m = _NAMED_OPERAND.match(text)
    if not m:
        raise SpecError(where, f"einsum {expression!r}: cannot read operand {text.strip()!r}; write NAME[i, j, ...]")
    name = m.group(1) or default_name
    body = m.group(2).strip()
    indices = tuple(s.strip() for s in body.split(",")) if body else ()
    for idx in indices:
        if not _INDEX.match(idx):
            raise SpecError(
                where, f"einsum {expression!r}: tensor {name!r} has an invalid index name {idx!r} "
                "(letters, digits, '_' and \"'\", starting with a letter)"
            )
    return name, indices


def _parse_named(lhs: str, rhs: str | None, expression: str, where: Where):
    parts = _split_operands(lhs)
    if any(not p for p in parts):
        raise SpecError(where, f"einsum {expression!r}: an operand is empty")
    operands = [_named_operand(p, f"T{k}", expression, where) for k, p in enumerate(parts)]
    if rhs is None:
        return operands, _implicit_output(operands), "y"
    out_name, output = _named_operand(rhs, "y", expression, where) if rhs.strip() else ("y", ())
    return operands, output, out_name


def einsum_symbols(indices: list[str] | tuple[str, ...]) -> dict[str, str]:
    """One einsum letter per index name (for NumPy and opt_einsum), in the order given.

    Parameters
    ----------
    indices : sequence of str
        Distinct index names.

    Returns
    -------
    dict
        Index name -> a single character accepted by ``numpy.einsum`` (ASCII letters
        first, then opt_einsum's extended symbols).
    """
    from opt_einsum import get_symbol

    return {name: get_symbol(k) for k, name in enumerate(indices)}
