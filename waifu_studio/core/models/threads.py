"""How many intra-op threads a few-face decode uses: one or the process's count, whichever is faster now.

A 64 px face is little work to split. On an idle 2-core machine two threads still decode one face
about 1.6x faster than one; on a loaded machine (other processes, or the GUI thread painting) the
second thread is often descheduled and every layer waits for it at the join: measured 2-10x
slower than one thread. Neither fixed choice is right for both, so :class:`ThreadChooser` times
the decodes it runs and moves to more threads only while they are clearly faster. The thread
count does not change the pixels (checked bit for bit on the bundled checkpoints, 1 and 2
threads, batches of 1 to 64; ``tests/core/test_folded_decode.py`` checks grids against singles).

The count is set with OpenMP's per-thread ``omp_set_num_threads`` (through threadpoolctl):
``torch.set_num_threads`` would also change the default that every thread started later (a
training run) copies. Encoding a folder uses a chooser of its own (its unit is a batch of faces).
"""

from __future__ import annotations

import statistics
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cache

import torch

TRIAL_FIRST = 16  # one-thread decodes before the process's count is tried again; doubles on each failure
TRIAL_MAX = 512
TRIAL_LENGTH = 3  # consecutive wins a trial needs before the process's count is used
CLEARLY_FASTER = 0.85  # a multi-thread decode must take under 0.85x the one-thread time to count as a win
REFRESH_EVERY = 32  # while many threads are used, re-time one thread this often
ONE_THREAD_WINDOW = 9  # the bar is the median of this many recent one-thread timings


@cache
def _omp_thread_control() -> Callable[[int], AbstractContextManager] | None:
    """``limit(n)``: a context that runs the calling thread's OpenMP regions on ``n`` threads, or None.

    Accepted only if torch's own thread count follows it (the OpenMP runtime torch uses, not
    another copy in the process).
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    openmp = ThreadpoolController().select(user_api="openmp")
    if not openmp.lib_controllers:
        return None
    previous = torch.get_num_threads()  # first: makes torch initialise this thread's count
    with openmp.limit(limits=1):
        follows = torch.get_num_threads() == 1
    if not follows or torch.get_num_threads() != previous:
        return None
    return lambda count: openmp.limit(limits=count)


def can_limit_threads() -> bool:
    return _omp_thread_control() is not None


@contextmanager
def intra_op_threads(count: int | None) -> Iterator[None]:
    """Run the calling thread's torch ops on ``count`` threads inside the block; other threads keep theirs."""
    limit = _omp_thread_control() if count is not None else None
    if limit is None or torch.get_num_threads() == count:
        yield
        return
    with limit(count):
        yield


class ThreadChooser:
    """Chooses 1 thread or the caller's count for small decodes by their measured latency.

    The two mistakes cost very differently: one thread on an idle machine is ~1.5x slower, many
    threads on a loaded one 10-30x. So one thread is the default; the caller's count is used
    only after it wins ``TRIAL_LENGTH`` decodes in a row by a clear margin, and dropped at the
    first decode it loses. The bar is the median of recent one-thread times: a running mean would
    be inflated by other processes' bursts and let slower multi-thread decodes pass. Failed
    trials back off (16, 32, ... 512 decodes), so a busy machine pays one slow decode per trial.
    """

    def __init__(self, first_trial: int = TRIAL_FIRST) -> None:
        self._first = first_trial  # one-thread runs before the first trial of the caller's count
        self._lock = threading.Lock()
        self._one_thread_s: deque[float] = deque(maxlen=ONE_THREAD_WINDOW)  # recent one-thread times
        self._using_many = False
        self._wins = 0  # consecutive wins of the current trial
        self._until_trial = first_trial
        self._trial_every = first_trial
        self._until_refresh = REFRESH_EVERY

    def choose(self) -> int | None:
        """The thread count for the next small decode (None: leave the caller's as it is)."""
        available = torch.get_num_threads()
        if available <= 1 or not can_limit_threads():
            return None
        with self._lock:
            if not self._one_thread_s:
                return 1
            if self._using_many:
                self._until_refresh -= 1
                if self._until_refresh <= 0:
                    self._until_refresh = REFRESH_EVERY
                    return 1
                return available
            if self._until_trial <= 0:
                return available  # a trial is running
            self._until_trial -= 1
            return 1

    def record(self, count: int | None, seconds: float) -> None:
        """Report how long a run chosen by :meth:`choose` took (per face)."""
        if count is None:
            return
        with self._lock:
            if count == 1:
                self._one_thread_s.append(seconds)
                return
            if seconds >= CLEARLY_FASTER * statistics.median(self._one_thread_s):
                if not self._using_many:  # a failed trial: try again later
                    self._trial_every = min(TRIAL_MAX, 2 * self._trial_every)
                self._using_many, self._wins = False, 0
                self._until_trial = self._trial_every
                return
            if not self._using_many:
                self._wins += 1
                if self._wins >= TRIAL_LENGTH:
                    self._using_many, self._trial_every = True, self._first
                    self._until_refresh = REFRESH_EVERY

    def using_many(self) -> bool:
        with self._lock:
            return self._using_many
