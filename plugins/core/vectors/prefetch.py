"""Run a producer in a worker thread, a bounded number of items ahead of its consumer.

The vector sync builds and chunks the next batch of documents while the sink uploads the
current one. The worker's items pass through a queue of ``depth`` slots, so at most
``depth`` finished items (plus the one being made) wait in memory. An exception in the
worker reaches the consumer at the point where the item would have; leaving the ``with``
block early (the consumer failed, or stopped reading) tells the worker to stop, closes the
producer's iterator in the worker's own thread (so a generator's ``finally`` and its
database connections are released there) and joins the thread: none is left behind.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

__all__ = ["Prefetch"]

T = TypeVar("T")

_POLL_SECONDS = 0.1


class _Done:
    pass


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Prefetch(Generic[T]):
    """``with Prefetch(make, depth=1) as items: for item in items: ...``

    ``make`` is called in the worker thread and returns the iterator to drain there."""

    def __init__(self, make: Callable[[], Iterator[T]], *, depth: int = 1, name: str = "prefetch") -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._make = make
        self._queue: queue.Queue[T | _Done | _Failed] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)

    def __enter__(self) -> Prefetch[T]:
        self._thread.start()
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker (if it still runs) and wait for it to finish."""
        self._stop.set()
        while self._thread.is_alive():
            self._drain()
            self._thread.join(_POLL_SECONDS)
        self._drain()

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if isinstance(item, _Done):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def _put(self, item: T | _Done | _Failed) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        iterator: Iterator[T] | None = None
        try:
            iterator = self._make()
            for item in iterator:
                if not self._put(item):
                    return
            self._put(_Done())
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, who raises it
            self._put(_Failed(error))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
