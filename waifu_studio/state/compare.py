"""The comparison view's state: two models and the one set of seeds, morph and offset they share (no Qt)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from psygnal import Signal

from ..core.explore.compare import CompareView

SIDES = ("A", "B")


class CompareState:
    """Model A and model B (each with the file it came from) and the shared :class:`CompareView`."""

    changed = Signal(str)  # "A", "B" (that side's model changed) or "view"

    def __init__(self) -> None:
        self.models: dict[str, Any] = {side: None for side in SIDES}
        self.paths: dict[str, Path | None] = {side: None for side in SIDES}
        self.view = CompareView()

    def set_model(self, side: str, model: Any, path: Path | None = None) -> None:
        if side not in SIDES:
            raise ValueError(f"side must be 'A' or 'B', not {side!r}")
        self.models[side], self.paths[side] = model, Path(path) if path is not None else None
        self.changed.emit(side)

    def set_view(self, **changes: Any) -> None:
        view = dataclasses.replace(self.view, **changes)
        if view != self.view:
            self.view = view
            self.changed.emit("view")
