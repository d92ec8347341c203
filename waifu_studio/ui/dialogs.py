"""File dialogs that start in the folder last used for that kind of file.

Each kind ("image", "export", "checkpoint", "dataset", "run", ...) remembers its own folder in the
settings under ``dirs/<kind>``, so exporting a GIF does not move where images are opened from.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QWidget


def last_dir(settings: QSettings, kind: str) -> Path:
    """The folder last used for ``kind`` (home when none, or when it no longer exists)."""
    value = settings.value(f"dirs/{kind}", "")
    folder = Path(str(value)) if value else Path.home()
    return folder if folder.is_dir() else Path.home()


def remember_dir(settings: QSettings, kind: str, path: str | Path, *, is_dir: bool = False) -> None:
    folder = Path(path) if is_dir else Path(path).parent
    settings.setValue(f"dirs/{kind}", str(folder))


def ask_open_path(parent: QWidget, settings: QSettings, kind: str, title: str, file_filter: str) -> Path | None:
    path, _ = QFileDialog.getOpenFileName(parent, title, str(last_dir(settings, kind)), file_filter)
    if not path:
        return None
    remember_dir(settings, kind, path)
    return Path(path)


def ask_save_path(parent: QWidget, settings: QSettings, kind: str, title: str, name: str, file_filter: str,
                  suffix: str) -> Path | None:
    """A save dialog proposing ``name`` in the last folder of ``kind``; ``suffix`` is added when missing."""
    path, _ = QFileDialog.getSaveFileName(parent, title, str(last_dir(settings, kind) / name), file_filter)
    if not path:
        return None
    out = Path(path)
    if out.suffix.lower() != suffix:
        out = out.with_suffix(suffix)
    remember_dir(settings, kind, out)
    return out


def ask_png_path(parent: QWidget, settings: QSettings, title: str, name: str) -> Path | None:
    """Save dialog for an exported PNG (the "export" folder)."""
    return ask_save_path(parent, settings, "export", title, name, "PNG images (*.png)", ".png")


def ask_folder(parent: QWidget, settings: QSettings, kind: str, title: str) -> Path | None:
    path = QFileDialog.getExistingDirectory(parent, title, str(last_dir(settings, kind)))
    if not path:
        return None
    remember_dir(settings, kind, path, is_dir=True)
    return Path(path)
