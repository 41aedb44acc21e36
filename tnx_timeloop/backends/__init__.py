"""Evaluation backends behind one protocol, selected by name (``--backend``)."""

from __future__ import annotations

from collections.abc import Callable

from tnx_timeloop.backends.base import Backend
from tnx_timeloop.errors import BackendError

__all__ = ["Backend", "get_backend", "backend_names"]


def _native() -> Backend:
    from tnx_timeloop.backends.native import NativeBackend

    return NativeBackend()


def _timeloop() -> Backend:
    from tnx_timeloop.backends.timeloop_cli import TimeloopBackend

    return TimeloopBackend()


def _pytimeloop() -> Backend:
    from tnx_timeloop.backends.pytimeloop_backend import PytimeloopBackend

    return PytimeloopBackend()


def _accelforge() -> Backend:
    from tnx_timeloop.backends.accelforge_backend import AccelForgeBackend

    return AccelForgeBackend()


_BACKENDS: dict[str, Callable[[], Backend]] = {
    "native": _native,
    "timeloop": _timeloop,
    "pytimeloop": _pytimeloop,
    "accelforge": _accelforge,
}


def backend_names() -> list[str]:
    """Names accepted by :func:`get_backend`."""
    return sorted(_BACKENDS)


def get_backend(name: str) -> Backend:
    """The backend called ``name``; raises :class:`BackendError` listing the options or what is missing."""
    key = name.lower()
    if key not in _BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {backend_names()}")
    backend = _BACKENDS[key]()
    if not backend.available():
        raise BackendError(f"backend {name!r} is not available here: {backend.why_unavailable()}")
    return backend
