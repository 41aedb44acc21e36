"""A small discrete-event engine with integer cycles (STYLE 8.9).

Events sit in a heap ordered by ``(cycle, priority, sequence)``: the cycle at
which they fire, a priority for ties at the same cycle (lower fires first) and
an insertion counter, so that equal-time events always fire in the order they
were scheduled and every run is deterministic. Actions are plain callables; an
exception raised by an action stops the run (fail loud).

Two helpers model what the simulators need on top of the queue:

* :class:`Resource`: a server that does one job at a time in request order (a
  port, a link, a DMA engine); :meth:`Resource.reserve` books it for a duration
  and returns the start cycle (reservation, not pre-emption).
* :class:`Engine.after` / :meth:`Engine.at` schedule callbacks.

Examples
--------
>>> eng = Engine()
>>> log = []
>>> eng.after(5, lambda: log.append(("b", eng.now_cycle)))
>>> eng.after(2, lambda: log.append(("a", eng.now_cycle)))
>>> eng.run()
5
>>> log
[('a', 2), ('b', 5)]

Notes
-----
The shape follows SimPy's ``core.Environment`` (a heap of ``(time, priority,
id)``); SimPy itself is not needed.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Engine", "Resource", "URGENT", "NORMAL", "LATE"]

URGENT = 0
"""Priority of events that must fire before others at the same cycle (e.g. releases)."""
NORMAL = 1
"""Default priority."""
LATE = 2
"""Priority of events that must see everything else of their cycle first (e.g. dispatch)."""


@dataclass(order=True, frozen=True, slots=True)
class _Entry:
    cycle: int
    priority: int
    seq: int
    action: Callable[[], None] = field(compare=False)


class Engine:
    """The event queue: integer cycles, deterministic ties.

    Attributes
    ----------
    now_cycle : int
        The cycle of the event being processed (0 before the run).
    fired : int
        Number of events processed so far.
    """

    def __init__(self) -> None:
        self.now_cycle = 0
        self.fired = 0
        self._queue: list[_Entry] = []
        self._seq = itertools.count()

    def after(self, delay_cycles: int, action: Callable[[], None], priority: int = NORMAL) -> None:
        """Schedule ``action`` ``delay_cycles`` cycles from now.

        Raises
        ------
        ValueError
            If ``delay_cycles`` is negative or not an integer.
        """
        if delay_cycles < 0:
            raise ValueError(f"negative delay {delay_cycles}")
        if int(delay_cycles) != delay_cycles:
            raise ValueError(f"delays are whole cycles, got {delay_cycles!r}")
        heapq.heappush(self._queue, _Entry(self.now_cycle + int(delay_cycles), priority, next(self._seq), action))

    def at(self, cycle: int, action: Callable[[], None], priority: int = NORMAL) -> None:
        """Schedule ``action`` at absolute ``cycle`` (not in the past)."""
        self.after(int(cycle) - self.now_cycle, action, priority)

    def run(self, until_cycle: int | None = None) -> int:
        """Process events in order until the queue is empty (or past ``until_cycle``).

        Returns
        -------
        int
            The cycle of the last processed event.
        """
        while self._queue and (until_cycle is None or self._queue[0].cycle <= until_cycle):
            entry = heapq.heappop(self._queue)
            self.now_cycle = entry.cycle
            self.fired += 1
            entry.action()  # exceptions propagate: fail loud
        return self.now_cycle

    @property
    def pending(self) -> int:
        """Number of scheduled events not yet processed."""
        return len(self._queue)


class Resource:
    """A server that does one job at a time, in the order jobs are booked.

    Parameters
    ----------
    name : str
        For traces and error messages.

    Attributes
    ----------
    free_cycle : int
        The first cycle at which the resource is idle again.
    busy_cycles : int
        Total cycles booked so far.
    jobs : int
        Number of bookings.
    """

    __slots__ = ("name", "free_cycle", "busy_cycles", "jobs")

    def __init__(self, name: str) -> None:
        self.name = name
        self.free_cycle = 0
        self.busy_cycles = 0
        self.jobs = 0

    def reserve(self, ready_cycle: int, duration_cycles: int) -> int:
        """Book the resource for ``duration_cycles`` at the first cycle >= ``ready_cycle`` it is free.

        Returns
        -------
        int
            The start cycle of the booking.
        """
        if duration_cycles < 0:
            raise ValueError(f"negative duration {duration_cycles} on {self.name}")
        start = max(int(ready_cycle), self.free_cycle)
        self.free_cycle = start + int(duration_cycles)
        self.busy_cycles += int(duration_cycles)
        self.jobs += 1
        return start
