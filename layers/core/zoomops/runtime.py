"""What a handler builds once per Lambda container: settings, clients, clock, invoker.

A handler declares a typed runtime (a dataclass) and a builder whose keyword arguments are the pieces a
test or the local stack may inject (``clock=``, ``invoker=``, ``session=``); ``PerContainer`` builds it on
first use and caches it for the container's life. ``use(**pieces)`` rebuilds it with those pieces, so
nothing patches module globals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class PerContainer(Generic[T]):
    def __init__(self, build: Callable[..., T]):
        self._build = build
        self._pieces: dict[str, Any] = {}
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if self._value is None:
                self._value = self._build(**self._pieces)
            return self._value

    def use(self, **pieces: Any) -> None:
        """Inject these pieces: the next ``get()`` rebuilds with them (they are kept for later rebuilds too)."""
        with self._lock:
            self._pieces.update(pieces)
            self._value = None

    def reset(self) -> None:
        with self._lock:
            self._value = None
