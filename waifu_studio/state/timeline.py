"""The Timeline view's state: which run, its snapshots, which one is shown, what each draws (no Qt).

Widgets subscribe to ``changed`` and draw; tests and scripts drive this object directly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from psygnal import Signal

from ..core.explore.timeline import TimelineView
from ..core.training.snapshots import Snapshot


class TimelineState:
    """A run folder, its snapshots and metrics as last read, the shown snapshot, and the view."""

    changed = Signal()  # anything that changes what is drawn
    snapshots_changed = Signal()  # the list of snapshots (the scrubber's range)

    def __init__(self) -> None:
        self.run_dir: Path | None = None
        self.snapshots: list[Snapshot] = []
        self.metrics: list[dict[str, Any]] = []
        self.index = -1
        self.view = TimelineView()

    @property
    def current(self) -> Snapshot | None:
        return self.snapshots[self.index] if 0 <= self.index < len(self.snapshots) else None

    def set_run(self, run_dir: Path | None) -> None:
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.snapshots, self.metrics, self.index = [], [], -1
        self.snapshots_changed.emit()
        self.changed.emit()

    def update(self, snapshots: list[Snapshot], metrics: list[dict[str, Any]]) -> None:
        """A fresh read of the folder. The newest snapshot stays shown if it was (a live run advances)."""
        if [s.path for s in snapshots] == [s.path for s in self.snapshots] and len(metrics) == len(self.metrics):
            return
        at_end = self.index < 0 or self.index == len(self.snapshots) - 1
        shown = self.current
        self.snapshots, self.metrics = list(snapshots), list(metrics)
        if at_end or shown is None:
            self.index = len(snapshots) - 1
        else:
            steps = [s.step for s in snapshots]
            self.index = steps.index(shown.step) if shown.step in steps else len(snapshots) - 1
        self.snapshots_changed.emit()
        self.changed.emit()

    def show(self, index: int) -> None:
        index = max(0, min(int(index), len(self.snapshots) - 1))
        if index != self.index:
            self.index = index
            self.changed.emit()

    def set_view(self, **changes: Any) -> None:
        view = dataclasses.replace(self.view, **changes)
        if view != self.view:
            self.view = view
            self.changed.emit()
