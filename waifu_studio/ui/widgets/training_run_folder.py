"""Watching a run folder from the GUI: :class:`RunFolderWatcher` polls it off the GUI thread on a
timer and hands each update to the panel. The readers are Qt-free, in ``core.training.run_folder``
(the CLI's ``waifu-studio timelapse`` uses them too)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from ...core.training.run_folder import (  # noqa: F401 - re-exported for the Training panel
    ResumeInfo,
    RunFolderState,
    RunFolderUpdate,
    poll_run_folder,
    read_resume_info,
    write_timelapse,
)
from ..workers import Jobs


class RunFolderWatcher(QObject):
    """Polls one run folder every ``interval_ms`` in a worker; emits :attr:`updated` for what changed."""

    updated = Signal(object)  # RunFolderUpdate of the folder being watched

    def __init__(self, parent: QObject | None = None, interval_ms: int = 2000) -> None:
        super().__init__(parent)
        self.run_dir: Path | None = None
        self._state = RunFolderState()
        self.jobs = Jobs(self)
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.poll)

    def start(self, run_dir: str | os.PathLike) -> None:
        """Watch ``run_dir`` from its beginning (the first update carries every row so far)."""
        self.run_dir, self._state = Path(run_dir), RunFolderState()
        self._timer.start()
        self.poll()

    def stop(self) -> bool:
        """Stop watching; results still on their way are dropped. True if it was watching."""
        watching = self._timer.isActive()
        self._timer.stop()
        self.jobs.cancel("poll")  # results still on their way are dropped
        self.run_dir = None
        return watching

    def poll(self) -> None:
        if self.run_dir is None or self.jobs.is_busy("poll"):
            return  # a slow disk: skip this tick rather than queue reads
        run_dir, state = self.run_dir, self._state
        self.jobs.submit("poll", lambda _ctx: poll_run_folder(run_dir, state), on_result=self._on_polled)

    def _on_polled(self, update: RunFolderUpdate) -> None:
        self._state = update.state
        self.updated.emit(update)
