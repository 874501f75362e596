"""Work done once per process, however many clusters ask for it at once.

Clusters are prepared from several threads. What they share (an SDK
session, an account's IAM roles, an environment's network) is made by the
first thread that asks; the others wait for it and get its result. A failure
is not remembered: the next caller tries again.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable, Hashable, TypeVar

T = TypeVar("T")

_every_memo: "weakref.WeakSet[Once]" = weakref.WeakSet()


class _Entry:
    __slots__ = ("lock", "done", "value")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = False
        self.value: Any = None


class Once:
    """A memo whose entries are made under a per-key lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry] = {}
        _every_memo.add(self)

    def get(self, key: Hashable, make: Callable[[], T]) -> tuple[T, bool]:
        """The value for ``key``, and whether this call made it."""
        with self._lock:
            entry = self._entries.setdefault(key, _Entry())
        with entry.lock:
            if entry.done:
                return entry.value, False
            entry.value = make()
            entry.done = True
            return entry.value, True

    def value(self, key: Hashable, make: Callable[[], T]) -> T:
        return self.get(key, make)[0]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def forget_all() -> None:
    """Drop every memo of every provider: the next prepare looks afresh (new sessions, new lookups)."""
    for memo in list(_every_memo):
        memo.clear()
