"""Tabs as drop targets: dragging a face over a tab shows that tab; dropping on it hands the face over."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QTabWidget

from .face_tile import DraggedFace, face_from_mime

# (tab title, dropped face or None, image path or None, Shift held) -> True when the tab used it
DropHandler = Callable[[str, DraggedFace | None, str | None, bool], bool]


def drop_payload(event: QDropEvent) -> tuple[DraggedFace | None, str | None]:
    """The face and the first local file a drag carries (each None when absent)."""
    mime = event.mimeData()
    face = face_from_mime(mime)
    files = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []
    return face, (files[0] if files else None)


class TabDropTarget(QObject):
    """Watches a tab bar: a drag that carries a face or a file switches to the tab under it."""

    def __init__(self, tabs: QTabWidget, on_drop: DropHandler) -> None:
        super().__init__(tabs)
        self._tabs, self._on_drop = tabs, on_drop
        bar = tabs.tabBar()
        bar.setAcceptDrops(True)
        bar.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if kind not in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop):
            return super().eventFilter(watched, event)
        assert isinstance(event, QDropEvent)
        face, path = drop_payload(event)
        index = self._tabs.tabBar().tabAt(event.position().toPoint())
        if (face is None and path is None) or index < 0:
            event.ignore()
            return True
        if kind == QEvent.Type.Drop:
            shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            if self._on_drop(self._tabs.tabText(index), face, path, shift):
                event.acceptProposedAction()
            else:
                event.ignore()
            return True
        self._tabs.setCurrentIndex(index)  # hovering a tab shows it, so the drop can land in the panel
        event.acceptProposedAction()
        return True
