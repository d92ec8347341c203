"""The main window: model selector, one tab per panel, menus, status bar, error dialogs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QTabWidget,
    QToolBar,
    QWidget,
)

from . import persistence, workers
from .dialogs import ask_folder, ask_png_path
from .recipe_drop import RecipeDrop
from .session import Session, recent_labels
from .widgets.compare import ComparePanel
from .widgets.directions import DirectionsPanel
from .widgets.face_tile import DraggedFace
from .widgets.fit_prior import open_fit_prior_dialog
from .widgets.generator import GeneratorPanel
from .widgets.latent_map import LatentMapPanel
from .widgets.memorisation import MemorisationPanel
from .widgets.model_selector import ModelSelector
from .widgets.morph import MorphPanel
from .widgets.reconstructions import ReconstructionsPanel
from .widgets.tab_drop import TabDropTarget
from .widgets.timeline import TimelinePanel
from .widgets.training import TrainingPanel

DEFAULT_SIZE = (1280, 800)  # the first window; smaller screens get their free area


def _make_panels(session: Session) -> list[tuple[str, QWidget]]:
    """(tab title, panel) in tab order."""
    return [
        ("Generate", GeneratorPanel(session)),
        ("Morph", MorphPanel(session)),
        ("Latent map", LatentMapPanel(session)),
        ("Directions", DirectionsPanel(session)),
        ("Reconstructions", ReconstructionsPanel(session)),
        ("Train", TrainingPanel(session)),
        ("Timeline", TimelinePanel(session)),
        ("Compare", ComparePanel(session)),
        ("Memorisation", MemorisationPanel(session)),
    ]


class MainWindow(QMainWindow):
    """Waifu Studio's window. ``last_error`` holds the newest (title, message) shown in a dialog."""

    def __init__(self, session: Session | None = None, load_default: bool = True) -> None:
        super().__init__()
        self.session = session or Session()
        self.last_error: tuple[str, str] | None = None
        self.stopping: QProgressDialog | None = None  # shown while a close waits for training to stop
        self._dialogs: list[QMessageBox] = []
        self._fit_default_size()

        self.model_selector = ModelSelector(self.session)
        self.model_info = QLabel("")
        self.model_info.setEnabled(False)
        toolbar = QToolBar("Model")
        toolbar.setMovable(False)
        toolbar.setFloatable(False)
        toolbar.setContextMenuPolicy(Qt.ContextMenuPolicy.PreventContextMenu)
        toolbar.addWidget(QLabel(" Model  "))
        toolbar.addWidget(self.model_selector)
        toolbar.addWidget(QLabel("   "))
        toolbar.addWidget(self.model_info)
        self.addToolBar(toolbar)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.panels: dict[str, QWidget] = {}
        for title, panel in _make_panels(self.session):
            self.panels[title] = panel
            self.tabs.addTab(panel, title)
        self.setCentralWidget(self.tabs)
        # "Drag a face onto the Morph tab": hovering a tab shows it, dropping on Morph sets an endpoint.
        self.tab_drops = TabDropTarget(self.tabs, self._drop_on_tab)
        self.generator: GeneratorPanel = self.panels["Generate"]  # type: ignore[assignment]
        self.directions: DirectionsPanel = self.panels["Directions"]  # type: ignore[assignment]
        self.generator.edit_requested.connect(lambda: self.show_tab("Directions"))
        self.generator.nearest_requested.connect(lambda face: (self.show_tab("Memorisation"),
                                                               self.panels["Memorisation"].show_nearest(face)))

        self._build_menus()
        self.recipe_drop = RecipeDrop(self)  # drop a file the app wrote: back to what made it
        self.statusBar().showMessage("Ready")
        self.session.status_message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.session.error_raised.connect(self.show_error)
        self.session.model_changed.connect(self._on_model_changed)
        self.session.models_listed.connect(self._rebuild_recent_menu)
        self._on_model_changed(self.session.model)
        self._restore_state(load_default)

    def _fit_default_size(self) -> None:
        """1280x800, or the screen's free area when it is smaller (a 1024x768 laptop, a VNC session)."""
        width, height = DEFAULT_SIZE
        screen = QGuiApplication.primaryScreen()
        if screen is not None:
            area = screen.availableGeometry()
            width, height = min(width, area.width()), min(height, area.height())
        self.resize(width, height)

    # ---------------------------------------------------------------- restarts
    def _restore_state(self, load_model: bool) -> None:
        """The last session's window, tab, generator settings, endpoints and (with ``load_model``) model."""
        settings = self.session.settings
        geometry = persistence.saved_geometry(settings)
        if geometry is not None:
            self.restoreGeometry(geometry)
        self.show_tab(persistence.saved_tab(settings))
        persistence.restore_generator(settings, self.session.generator)
        morph = self.panels.get("Morph")
        if isinstance(morph, MorphPanel):
            morph.endpoints.pending = persistence.restore_endpoints(settings)
        if load_model and self.session.model is None:
            path = persistence.saved_model_path(settings)
            if path is not None:
                self.model_selector.open_path(path, "recent")
            else:
                self.model_selector.load_default()

    def _save_state(self) -> None:
        settings = self.session.settings
        persistence.save_window(settings, self.saveGeometry(), self.tabs.tabText(self.tabs.currentIndex()),
                                self.session.model_path)
        persistence.save_generator(settings, self.session.generator)
        persistence.save_endpoints(settings, self.session.morph.sources())

    # ------------------------------------------------------------------ menus
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Open checkpoint...", self.model_selector.ask_open, QKeySequence.StandardKey.Open)
        self._action(file_menu, "Open &dataset folder...", self.ask_dataset_folder)
        self._action(file_menu, "Refit sampling &prior (AE/VAE)...",
                     lambda: open_fit_prior_dialog(self, self.session, self.model_selector.open_path))
        self.recent_menu = file_menu.addMenu("&Recent checkpoints")
        self._rebuild_recent_menu()
        file_menu.addSeparator()
        self._action(file_menu, "&Export current view as PNG...", self.ask_export, "Ctrl+E")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        view_menu = self.menuBar().addMenu("&View")
        for i, title in enumerate(self.panels):
            self._action(view_menu, title, lambda t=title: self.show_tab(t), f"Ctrl+{i + 1}")

        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&About Waifu Studio", self.show_about)

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.session.recent_files()
        for path, label in zip(recent, recent_labels(recent), strict=True):
            action = self.recent_menu.addAction(label, lambda p=path: self.model_selector.open_path(p, "recent"))
            action.setToolTip(str(path))
        self.recent_menu.setEnabled(bool(recent))

    # ---------------------------------------------------------------- actions
    def show_tab(self, title: str) -> None:
        if title in self.panels:
            self.tabs.setCurrentWidget(self.panels[title])

    def _drop_on_tab(self, title: str, face: DraggedFace | None, path: str | None, shift: bool) -> bool:
        """A face or an image file dropped on tab ``title``; True when it was used."""
        morph = self.panels.get("Morph")
        if title != "Morph" or not isinstance(morph, MorphPanel):
            return False
        which = "B" if shift else "A"
        if face is not None:
            morph.endpoints.from_face(which, face)
        elif path is not None:
            morph.drop_image_file(which, path)
        return True

    def current_panel(self) -> QWidget:
        return self.tabs.currentWidget()

    def ask_dataset_folder(self) -> None:
        folder = ask_folder(self, self.session.settings, "dataset", "Open dataset folder")
        if folder is not None:
            self.open_dataset_folder(folder)

    def open_dataset_folder(self, folder: str | Path) -> None:
        panel = self.panels.get("Train")
        if panel is None or not hasattr(panel, "set_dataset_folder"):
            self.show_error("Training unavailable", "The Train panel is not available in this build.")
            return
        self.show_tab("Train")
        panel.set_dataset_folder(Path(folder))

    def ask_export(self) -> None:
        panel = self.current_panel()
        if not hasattr(panel, "export_png"):
            self.show_error("Nothing to export", f"The {self.tabs.tabText(self.tabs.currentIndex())} tab has "
                            "no image to export.")
            return
        name = self.tabs.tabText(self.tabs.currentIndex()).lower().replace(" ", "_") + ".png"
        path = ask_png_path(self, self.session.settings, "Export current view as PNG", name)
        if path is not None:
            self.export_current_view(path)

    def export_current_view(self, path: str | Path):
        """Ask the current tab to write itself as a PNG (no dialog; used by the menu and tests)."""
        panel = self.current_panel()
        if hasattr(panel, "export_png"):
            return panel.export_png(Path(path))
        return None

    def show_error(self, title: str, message: str) -> None:
        """Non-modal warning: the app keeps running and tests never block on it."""
        self.last_error = (title, message)
        self._open_dialog(QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self))

    def show_about(self) -> None:
        import numpy
        import pyqtgraph
        import PySide6
        import torch

        from .. import __version__
        from ..core.devices import describe_device, select_device

        text = (f"<h3>Waifu Studio {__version__}</h3>"
                "<p>Train generative models of anime faces and explore their latent space.</p>"
                f"<p>torch {torch.__version__}<br>PySide6 {PySide6.__version__}<br>"
                f"pyqtgraph {pyqtgraph.__version__}<br>numpy {numpy.__version__}<br>"
                f"Device: {describe_device(select_device('auto'))}</p>")
        box = QMessageBox(QMessageBox.Icon.NoIcon, "About Waifu Studio", text, QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.RichText)
        self._open_dialog(box)

    def _open_dialog(self, box: QMessageBox) -> None:
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r, b=box: self._dialogs.remove(b) if b in self._dialogs else None)
        self._dialogs.append(box)
        box.open()

    def _on_model_changed(self, model) -> None:
        if model is None:
            self.model_info.setText("No model loaded")
            self.setWindowTitle("")
            return
        encoder = "with encoder" if model.has_encoder else "generator only"
        self.model_info.setText(f"{model.family}  \u00b7  {model.resolution}px  \u00b7  latent {model.latent_dim}"
                                f"  \u00b7  {encoder}")
        name = self.session.model_path.name if self.session.model_path else model.family
        # Qt adds the application's display name ("Waifu Studio") to the title bar itself.
        self.setWindowTitle(name)

    # ------------------------------------------------------------------ close
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Close; while training, ask, then stop it without blocking: the window stays responsive and
        shows its progress until the trainer has saved its checkpoint, then closes itself."""
        train = self.panels.get("Train")
        if isinstance(train, TrainingPanel) and train.is_training():
            event.ignore()
            if self.stopping is None and self.confirm_stop_training():
                self._stop_training_then_close(train)
            return
        if self.stopping is not None:
            self.stopping.close()
        self._save_state()
        self.shutdown()
        super().closeEvent(event)

    def _stop_training_then_close(self, train: TrainingPanel) -> None:
        text = "Stopping training and saving a checkpoint..."
        self.statusBar().showMessage(text)
        self.stopping = QProgressDialog(text, "", 0, 0, self)
        self.stopping.setWindowTitle("Closing Waifu Studio")
        self.stopping.setCancelButton(None)  # the checkpoint is being written: nothing to cancel
        self.stopping.setMinimumDuration(0)
        self.stopping.setWindowModality(Qt.WindowModality.WindowModal)
        self.stopping.show()
        train.training_finished.connect(self._close_after_training)
        train.stop_training()

    def _close_after_training(self) -> None:
        train = self.panels["Train"]
        train.training_finished.disconnect(self._close_after_training)
        QTimer.singleShot(0, self.close)  # once this event is over: Qt ignores a close nested in a close

    def confirm_stop_training(self) -> bool:
        """Ask before stopping a training run (tests replace this to answer without a dialog)."""
        answer = QMessageBox.question(
            self, "Stop training and quit?",
            "A model is training. Stop it (its checkpoint is saved) and quit?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def shutdown(self) -> None:
        """Stop every panel's workers and join every thread."""
        for dialog in list(self._dialogs):
            dialog.close()
        self.model_selector.shutdown()
        for panel in self.panels.values():
            if hasattr(panel, "shutdown"):
                panel.shutdown()
        workers.shutdown_all()
