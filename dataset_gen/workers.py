"""A pool of daemon worker threads that can be abandoned at once: generation and judging use it.

Workers take items from a queue and call ``work(item)``. Every save a worker makes goes through
:attr:`WorkerPool.lock` and checks :attr:`WorkerPool.stopped` first; ``stopped`` is set exactly
once, under that lock, when :meth:`WorkerPool.run` returns. So once ``run`` has returned, nothing a
request still in flight brings back is saved, and the caller's counts are exactly what was stored.
Requests in flight are abandoned, never waited for: the threads are daemons, so they do not keep
the process alive.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["Abandoned", "WorkerPool", "run_pool"]


class Abandoned(Exception):
    """Raised by ``work`` (typically instead of a model call) once the pool should stop: the worker
    drops its item quietly and ends."""


class WorkerPool(Generic[T]):
    """Run ``work`` over ``items`` with at most ``concurrency`` daemon threads named ``name-<i>``.

    With ``lanes`` (say, one per model server), each lane gets its own ``concurrency`` threads
    (``min(concurrency, len(items))``, at least one) taking items from the one shared queue, so a
    lane with free threads takes the next item; ``work(item, lane)`` is then told the lane
    (0-based). :meth:`retire` takes a lane out (its threads end after their current item) and
    :meth:`put_back` returns an item to the front of the queue for the other lanes. Threads wait
    for items put back while any item is in work, so nothing put back is left behind.

    The pool stops taking items when ``cancel`` is set (by the caller), when :attr:`halt` is set (a
    fatal error, by ``work``), or when a worker raises anything but :class:`Abandoned` (kept in
    :attr:`crash`, and :attr:`halt` is set).
    """

    def __init__(self, items: Iterable[T], work: Callable[..., None], *, concurrency: int,
                 cancel: threading.Event, name: str, lanes: int | None = None):
        self.queue: deque[T] = deque(items)
        self.work = work
        self.cancel = cancel
        self.name = name
        self.lanes = lanes
        per_lane = min(max(1, concurrency), max(1, len(self.queue)))
        if lanes is None:
            self.workers = min(max(1, concurrency), len(self.queue))
            self._lane_of = [0] * self.workers
        else:
            self.workers = per_lane * lanes if self.queue else 0
            self._lane_of = [i % lanes for i in range(self.workers)]  # lanes take turns: 0, 1, 0, 1, …
        self.lock = threading.Lock()
        self._changed = threading.Condition(self.lock)
        self.stopped = False
        self.halt = threading.Event()
        self.crash: BaseException | None = None
        self.retired: set[int] = set()
        self._in_work = 0
        self._alive = self.workers
        self._finished = threading.Event()

    def should_stop(self) -> bool:
        """Whether work should end now (stopped, halted or cancelled): check it before each call."""
        return self.stopped or self.halt.is_set() or self.cancel.is_set()

    def lanes_up(self) -> list[int]:
        """The lanes not retired, in order (call with :attr:`lock` held)."""
        return [lane for lane in range(self.lanes or 1) if lane not in self.retired]

    def retire(self, lane: int) -> None:
        """Take ``lane`` out: its threads take no more items (call with :attr:`lock` held)."""
        self.retired.add(lane)
        self._changed.notify_all()

    def put_back(self, item: T) -> None:
        """Return ``item`` to the front of the queue, for another lane (call with :attr:`lock` held)."""
        self.queue.appendleft(item)
        self._changed.notify_all()

    def run(self) -> BaseException | None:
        """Work until every item is done, ``cancel`` or :attr:`halt` is set, or the calling thread
        is interrupted; then set :attr:`stopped` under :attr:`lock` and return at once, leaving
        requests in flight behind.

        Returns the exception that interrupted the calling thread (``KeyboardInterrupt``), or
        ``None``; the caller re-raises it after recording the outcome.
        """
        if not self.workers:
            self._finished.set()
        for i in range(self.workers):
            threading.Thread(target=self._worker, args=(self._lane_of[i],), name=f"{self.name}-{i}",
                             daemon=True).start()
        interrupted: BaseException | None = None
        try:
            while not self._finished.wait(0.1):
                if self.cancel.is_set() or self.halt.is_set():
                    break
        except BaseException as exc:  # Ctrl-C in the caller's thread: stop like a cancel
            interrupted = exc
        with self.lock:
            self.stopped = True
            self._changed.notify_all()
        return interrupted

    def _take(self, lane: int) -> tuple[bool, T | None]:
        """``(True, item)`` for the next item of ``lane``'s thread, ``(False, None)`` when it should end."""
        with self._changed:
            while True:
                if self.stopped or self.should_stop() or lane in self.retired:
                    return False, None
                if self.queue:
                    self._in_work += 1
                    return True, self.queue.popleft()
                if self._in_work == 0:
                    return False, None
                self._changed.wait(0.1)  # an item in work may yet be put back

    def _worker(self, lane: int) -> None:
        try:
            while True:
                took, item = self._take(lane)
                if not took:
                    break
                try:
                    if self.lanes is None:
                        self.work(item)
                    else:
                        self.work(item, lane)
                finally:
                    with self._changed:
                        self._in_work -= 1
                        self._changed.notify_all()
        except Abandoned:
            pass
        except BaseException as exc:  # a store failure or a bug: the caller sees it in ``crash``
            with self.lock:
                if self.crash is None and not self.stopped:
                    self.crash = exc
            self.halt.set()
        finally:
            with self.lock:
                self._alive -= 1
                if self._alive == 0:
                    self._finished.set()


def run_pool(pool: WorkerPool, finish: Callable[[BaseException | None], R], *,
             before: Callable[[], None] | None = None) -> R:
    """Run ``pool`` to its end and settle the outcome the same way for every caller (generation
    and judging).

    ``before()`` is called under the pool's lock just before the workers start (e.g. a first
    progress report). Then :meth:`WorkerPool.run`; an exception raised before or around it
    (a failing ``before``, Ctrl-C) stops the pool like a cancel. ``finish(interrupted)`` is then
    called once, under the pool's lock with :attr:`WorkerPool.stopped` set, so the counts it reads
    are final; ``interrupted`` is the exception that stopped the calling thread, or ``None``.
    After it, that exception is re-raised, then a worker's :attr:`WorkerPool.crash`; otherwise
    ``finish``'s result is returned.
    """
    interrupted: BaseException | None = None
    try:
        if before is not None:
            with pool.lock:
                before()
        interrupted = pool.run()
    except BaseException as exc:  # a failing callback, or Ctrl-C before the pool ran
        interrupted = exc
        with pool.lock:
            pool.stopped = True
    with pool.lock:
        result = finish(interrupted)
    if interrupted is not None:
        raise interrupted
    if pool.crash is not None:
        raise pool.crash
    return result
