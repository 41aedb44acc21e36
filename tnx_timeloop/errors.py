"""The one exception hierarchy of tnx_timeloop.

Every error raised on purpose derives from :class:`TnxError`. Errors about user
input carry a :class:`Where` (file and key path) so that the message names the
file, the key and what is wrong, e.g.::

    mapping.yaml:mapping[2].factors: unknown dimension 'X'; problem has ['C', 'M', 'P']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Where",
    "TnxError",
    "SpecError",
    "SpecErrors",
    "MappingError",
    "BackendError",
    "SearchError",
    "EnergyError",
]


@dataclass(frozen=True, slots=True)
class Where:
    """A location in user input: a file and a key path inside it.

    ``Where(Path("arch.yaml")) / "architecture" / "nodes" / 3`` renders as
    ``arch.yaml:architecture.nodes[3]``.
    """

    file: Path | str | None = None
    keys: tuple[str | int, ...] = ()
    line: int | None = None

    def __truediv__(self, key: str | int) -> Where:
        return Where(self.file, (*self.keys, key), None)

    def at_line(self, line: int | None) -> Where:
        """Return the same location annotated with a 1-based line number."""
        return Where(self.file, self.keys, line)

    @property
    def key_path(self) -> str:
        """The key path alone, e.g. ``mapping[2].factors``."""
        path = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in self.keys)
        return path.lstrip(".")

    def __str__(self) -> str:
        name = str(self.file) if self.file is not None else "<input>"
        line = f" (line {self.line})" if self.line else ""
        return f"{name}:{self.key_path or '<root>'}{line}"


class TnxError(Exception):
    """Base of every error raised on purpose by tnx_timeloop."""


class SpecError(TnxError, ValueError):
    """Invalid user input (YAML, spec values, files), located by a :class:`Where`."""

    def __init__(self, where: Where, message: str) -> None:
        located = where.file is not None or bool(where.keys)
        super().__init__(f"{where}: {message}" if located else message)
        self.where = where
        self.message = message


class SpecErrors(SpecError):
    """Several input problems, collected before failing (so users fix all at once)."""

    def __init__(self, errors: list[SpecError]) -> None:
        if not errors:
            raise ValueError("SpecErrors needs at least one error")
        self.errors = list(errors)
        text = "\n".join(f"  - {e}" for e in self.errors)
        TnxError.__init__(self, f"{len(self.errors)} problem(s) in the input:\n{text}")
        self.where = errors[0].where
        self.message = str(self)


class MappingError(TnxError, ValueError):
    """A mapping that cannot be evaluated (does not cover the problem, does not fit, ...)."""

    def __init__(self, message: str, where: Where | None = None) -> None:
        super().__init__(f"{where}: {message}" if where is not None else message)
        self.where = where
        self.message = message


class BackendError(TnxError, RuntimeError):
    """An evaluation backend is missing, failed, timed out or printed unparsable output.

    Parameters
    ----------
    message : str
        What went wrong.
    command : str, optional
        The command line that was run (``shlex.join(argv)``).
    returncode : int, optional
        Its exit status.
    log_tail : str, optional
        The last ~2 kB of its stderr/stdout.
    workdir : str, optional
        The working directory, kept on failure for inspection.
    """

    def __init__(
        self,
        message: str,
        *,
        command: str | None = None,
        returncode: int | None = None,
        log_tail: str | None = None,
        workdir: str | None = None,
    ) -> None:
        parts = [message]
        if command:
            parts.append(f"command: {command}")
        if returncode is not None:
            parts.append(f"exit status: {returncode}")
        if workdir:
            parts.append(f"working directory (kept): {workdir}")
        if log_tail:
            parts.append("last output:\n" + log_tail[-2048:])
        super().__init__("\n".join(parts))
        self.command = command
        self.returncode = returncode
        self.log_tail = log_tail
        self.workdir = workdir


class SearchError(TnxError, RuntimeError):
    """A search that cannot run or found nothing (e.g. an empty mapspace)."""


class EnergyError(TnxError, LookupError):
    """No energy source knows a component class or action."""
