"""The model selector: bundled checkpoints, recent files, the running training, and Open...

Checkpoints load in a worker thread; the session only ever sees a fully loaded model, and a
file that fails to load leaves the previous model in place.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QSizePolicy, QWidget

from ..session import Session, bundled_checkpoints
from ..workers import Task, start_task

FAMILY_NAMES = {"dcgan": "DCGAN", "wgan-gp": "WGAN-GP", "ae": "Autoencoder", "vae": "VAE"}
OPEN_ITEM = "open"
TRAINING_LABEL = "Training run (latest checkpoint)"


def _load(path: Path):
    from ...core.io.known_checkpoints import open_checkpoint

    return open_checkpoint(path)


def _read_labels(paths: list[Path]) -> dict[str, str]:
    """'DCGAN 64px' per readable checkpoint: headers only, so this is quick."""
    from ...core.errors import WaifuError
    from ...core.io.checkpoint import read_info

    labels = {}
    for path in paths:
        try:
            info = read_info(path)
        except (WaifuError, OSError):
            continue
        labels[str(path)] = f"{FAMILY_NAMES.get(info.family, info.family)} {info.config.resolution}px"
    return labels


class ModelSelector(QComboBox):
    """Combo box of checkpoints; choosing one loads it into the session."""

    loading_changed = Signal(bool)  # a load started (True) or ended (False)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._labels: dict[str, str] = {}  # path -> "DCGAN 64px", read from headers
        self._load_task: Task | None = None
        self._label_task: Task | None = None
        self._loading_path: Path | None = None
        self._load_token = 0
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(260)
        self.setToolTip("Model to explore (Ctrl+O opens a checkpoint file)")
        self.rebuild()
        self.activated.connect(self._on_activated)
        session.models_listed.connect(self.rebuild)
        session.training_checkpoint.connect(self._on_training_checkpoint)
        self._read_labels_async()

    # ------------------------------------------------------------------ items
    def entries(self) -> list[tuple[str, Path, str]]:
        """(kind, path, label) for every checkpoint offered, in display order."""
        out: list[tuple[str, Path, str]] = []
        for path in bundled_checkpoints():
            name = self._labels.get(str(path), FAMILY_NAMES.get(path.stem, path.stem))
            out.append(("bundled", path, f"{name} (bundled)"))
        training = self.session.training_checkpoint_path
        if training is not None:
            out.append(("training", training, TRAINING_LABEL))
        seen = {str(p.resolve()) for _, p, _ in out}
        for path in self.session.recent_files():
            if str(path.resolve()) in seen:
                continue
            seen.add(str(path.resolve()))
            name = self._labels.get(str(path))
            out.append(("recent", path, f"{path.name}" + (f"  \u2014 {name}" if name else "")))
        return out

    def rebuild(self) -> None:
        self.blockSignals(True)
        self.clear()
        for kind, path, label in self.entries():
            self.addItem(label, (kind, str(path)))
            self.setItemData(self.count() - 1, str(path), Qt.ItemDataRole.ToolTipRole)
        self.insertSeparator(self.count())
        self.addItem("Open checkpoint...", (OPEN_ITEM, ""))
        self.blockSignals(False)
        self._select_current()

    def _index_of(self, path: Path | None, kind: str | None = None) -> int:
        if path is None:
            return -1
        want = str(Path(path).resolve())
        for i in range(self.count()):
            data = self.itemData(i)
            if data and data[0] != OPEN_ITEM and str(Path(data[1]).resolve()) == want:
                if kind is None or data[0] == kind:
                    return i
        return -1

    def _select_current(self) -> None:
        current = self.itemData(self.currentIndex())
        if current and current[0] == "training" and self.session.model_path == self.session.training_checkpoint_path:
            return
        index = self._index_of(self.session.model_path)
        self.blockSignals(True)
        self.setCurrentIndex(index)
        self.blockSignals(False)

    def _read_labels_async(self) -> None:
        paths = [p for _, p, _ in self.entries() if str(p) not in self._labels]
        if paths and (self._label_task is None or not self._label_task.is_running()):
            self._label_task = start_task(_read_labels, paths, on_result=self._on_labels)

    def _on_labels(self, labels: dict[str, str]) -> None:
        self._labels.update(labels)
        self.rebuild()

    # ---------------------------------------------------------------- loading
    def _on_activated(self, index: int) -> None:
        data = self.itemData(index)
        if not data:
            return
        kind, path = data
        if kind == OPEN_ITEM:
            self._select_current()  # the combo keeps showing the current model while the dialog is up
            self.ask_open()
        elif Path(path) != self.session.model_path or kind == "training":
            self.open_path(path, kind)

    def ask_open(self) -> None:
        start = self.session.settings.value("checkpoint_dir", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", str(start), "Checkpoints (*.safetensors)")
        if path:
            self.session.settings.setValue("checkpoint_dir", str(Path(path).parent))
            self.open_path(path)

    def open_path(self, path: str | Path, kind: str = "opened") -> Task:
        """Load ``path`` in a worker; on success it becomes the session's model."""
        path = Path(path)
        self._load_token += 1
        token = self._load_token
        self._loading_path = path
        self.session.status_message.emit(f"Loading {path.name}...")
        self.loading_changed.emit(True)
        self._load_task = start_task(_load, path, on_result=lambda model: self._on_loaded(token, path, kind, model),
                                     on_error=lambda msg: self._on_failed(token, path, msg))
        return self._load_task

    def is_loading(self) -> bool:
        return self._load_task is not None and self._load_task.is_running()

    def _on_loaded(self, token: int, path: Path, kind: str, model) -> None:
        if token != self._load_token:
            return  # a newer load was asked for meanwhile
        self.loading_changed.emit(False)
        # List and select the entry before the model goes live: panels reacting to
        # model_changed may already read the selector.
        self.session.add_recent(path)
        self.rebuild()
        index = self._index_of(path, "training" if kind == "training" else None)
        self.blockSignals(True)
        self.setCurrentIndex(index)
        self.blockSignals(False)
        self.session.set_model(model, path)
        self._read_labels_async()

    def _on_failed(self, token: int, path: Path, message: str) -> None:
        if token != self._load_token:
            return
        self.loading_changed.emit(False)
        self._select_current()  # back to the model that is still loaded
        self.session.status_message.emit(f"Could not open {path.name}")
        self.session.report_error("Cannot open checkpoint", message)

    def _on_training_checkpoint(self, path: Path) -> None:
        current = self.itemData(self.currentIndex())
        if current and current[0] == "training":
            self.open_path(path, "training")

    def load_default(self) -> Task | None:
        """Open the first bundled checkpoint (DCGAN when present), else the newest recent file."""
        bundled = bundled_checkpoints()
        if bundled:
            return self.open_path(bundled[0], "bundled")
        recent = [p for p in self.session.recent_files() if p.exists()]
        return self.open_path(recent[0], "recent") if recent else None

    def shutdown(self) -> None:
        for task in (self._load_task, self._label_task):
            if task is not None:
                task.cancel()
                if task.is_running():  # its queued quit cannot reach this blocked thread
                    task.thread.quit()
                task.wait()
