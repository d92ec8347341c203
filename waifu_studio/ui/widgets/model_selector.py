"""The model selector: bundled checkpoints, recent files, the running training, and Open...

Checkpoints load in a worker thread; the session only ever sees a fully loaded model, and a
file that fails to load leaves the previous model in place.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QSizePolicy, QWidget

from ...core.models import FaceModel
from ...state.model import ModelIdentity
from ..dialogs import ask_open_path
from ..session import Session, bundled_checkpoints, recent_labels
from ..workers import Jobs, Task

FAMILY_NAMES = {"dcgan": "DCGAN", "wgan-gp": "WGAN-GP", "ae": "Autoencoder", "vae": "VAE"}
OPEN_ITEM = "open"
TRAINING_LABEL = "Training run (latest checkpoint)"


def _load(path: Path) -> tuple[FaceModel, ModelIdentity]:
    """The model (opened and remembered) and its identity (the file's SHA-256), read off the GUI thread."""
    from ...core.io.known_checkpoints import open_checkpoint

    model = open_checkpoint(path)
    return model, ModelIdentity.of(model, path)


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
        self.jobs = Jobs(self)
        self._loading_path: Path | None = None
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
        recent = []
        for path in self.session.recent_files():
            if str(path.resolve()) not in seen:
                seen.add(str(path.resolve()))
                recent.append(path)
        for path, label in zip(recent, recent_labels(recent), strict=True):
            name = self._labels.get(str(path))
            out.append(("recent", path, label + (f"  ({name})" if name else "")))
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
        if paths and not self.jobs.is_busy("labels"):
            self.jobs.submit("labels", lambda _ctx: _read_labels(paths), on_result=self._on_labels)

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
        path = ask_open_path(self, self.session.settings, "checkpoint", "Open checkpoint",
                             "Checkpoints (*.safetensors)")
        if path is not None:
            self.open_path(path)

    def open_path(self, path: str | Path, kind: str = "opened") -> Task:
        """Load ``path`` in a worker; on success it becomes the session's model."""
        path = Path(path)
        self._loading_path = path
        self.session.status_message.emit(f"Loading {path.name}...")
        self.loading_changed.emit(True)
        # Key "load": a newer choice supersedes this one, whose result is then dropped.
        return self.jobs.submit("load", lambda _ctx: _load(path),
                                on_result=lambda loaded: self._on_loaded(path, kind, *loaded),
                                on_error=lambda msg: self._on_failed(path, msg))

    def is_loading(self) -> bool:
        return self.jobs.is_busy("load")

    def _on_loaded(self, path: Path, kind: str, model: FaceModel, identity: ModelIdentity) -> None:
        self.loading_changed.emit(False)
        # List and select the entry before the model goes live: panels reacting to
        # model_changed may already read the selector.
        self.session.add_recent(path)
        self.rebuild()
        index = self._index_of(path, "training" if kind == "training" else None)
        self.blockSignals(True)
        self.setCurrentIndex(index)
        self.blockSignals(False)
        self.session.set_model(model, path, identity)
        self._read_labels_async()

    def _on_failed(self, path: Path, message: str) -> None:
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
        self.jobs.shutdown()
