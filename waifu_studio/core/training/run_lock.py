"""One writer per run folder: an exclusive OS lock on ``RUN_DIR/.lock`` while a run trains.

``train``, ``train --resume`` and the app's training take the lock before they read data or
touch the folder; a second writer is refused with "run folder X is in use by process N".
The lock is a ``flock`` on an open file, so the kernel drops it when the holder exits in any
way, SIGKILL included: nothing stale is left to clean up, and the lock file itself stays (removing
it would race with a process about to lock it). Readers (the app attaching to a run, ``generate``,
``embed``) never take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from pathlib import Path
from types import TracebackType

from ..errors import TrainingError

LOCK_NAME = ".lock"  # hidden: folder scans and the app's run-folder views skip it


class RunFolderBusyError(TrainingError):
    """Another process is training into the same run folder."""


class RunFolderLock:
    """The exclusive lock on one run folder; use as a context manager or ``acquire`` / ``release``."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, create: bool = False) -> RunFolderLock:
        """Take the lock (``create``: make the folder first). Raises :class:`RunFolderBusyError`."""
        if self._fd is not None:
            return self
        if create:
            try:
                self.run_dir.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise TrainingError(f"cannot create run folder {self.run_dir}: {err.strerror or err}") from None
        path = self.run_dir / LOCK_NAME
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags, 0o666)
        except OSError as err:
            raise TrainingError(f"cannot lock run folder {self.run_dir}: {err.strerror or err}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise TrainingError(f"cannot lock run folder {self.run_dir}: {LOCK_NAME} is not a regular file")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                raise RunFolderBusyError(
                    f"run folder {self.run_dir} is in use by process {holder}" if holder else
                    f"run folder {self.run_dir} is in use by another process") from None
            except OSError as err:
                raise TrainingError(f"cannot lock run folder {self.run_dir}: {err.strerror or err}") from None
            with contextlib.suppress(OSError):  # the pid is only for the message a second writer sees
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock up (closing the descriptor releases the flock)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> RunFolderLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    def __del__(self) -> None:  # a Trainer dropped without run() or close() must not keep the folder locked
        self.release()


def _read_holder(fd: int) -> int | None:
    """The pid the current holder wrote into the lock file, or None when it has not yet."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None
