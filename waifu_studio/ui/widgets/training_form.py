"""The "Model and training" form: family, model size and training settings, device, run folder.

The form turns its fields into a :class:`ModelConfig` and :class:`TrainConfig`, and shows a
stored :class:`RunConfig` (a resumed run). When a run is about to be resumed only the settings
that may change between sessions of a run stay editable (see :data:`RESUME_FIELDS`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ...core.config import (
    FAMILIES,
    GAN_FAMILIES,
    KL_SCHEDULES,
    PRECISIONS,
    RESOLUTIONS,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from ...core.devices import available_devices

# name, label, kind, families (None: every family), (min, max) or choices, decimals
_FIELDS: list[tuple[str, str, str, tuple[str, ...] | None, Any, int]] = [
    ("resolution", "Resolution", "choice", None, RESOLUTIONS, 0),
    ("latent_dim", "Latent dim", "int", None, (2, 4096), 0),
    ("width", "Width", "int", None, (4, 1024), 0),
    ("epochs", "Epochs", "int", None, (1, 100_000), 0),
    ("max_steps", "Max steps", "int", None, (0, 100_000_000), 0),
    ("batch_size", "Batch size", "int", None, (2, 8192), 0),
    ("lr", "Learning rate", "float", None, (1e-6, 1.0), 6),
    ("lr_d", "D learning rate", "float", GAN_FAMILIES, (1e-6, 1.0), 6),
    ("kl_beta", "KL beta", "float", ("vae",), (0.0, 1000.0), 3),
    ("kl_schedule", "KL schedule", "choice", ("vae",), KL_SCHEDULES, 0),
    ("kl_warmup_steps", "KL warm-up steps", "int", ("vae",), (0, 10_000_000), 0),
    ("real_label", "Real label target", "float", ("dcgan",), (0.0, 1.0), 2),
    ("fake_label", "Fake label target", "float", ("dcgan",), (0.0, 1.0), 2),
    ("n_critic", "Critic steps (n_critic)", "int", ("wgan-gp",), (1, 100), 0),
    ("gp_weight", "GP weight", "float", ("wgan-gp",), (0.0, 1000.0), 2),
    ("ema_decay", "EMA decay", "float", GAN_FAMILIES, (0.0, 0.99999), 5),
    ("sample_every", "Sample every (steps)", "int", None, (1, 10_000_000), 0),
    ("log_every", "Log every (steps)", "int", None, (1, 1_000_000), 0),
    ("precision", "Precision", "choice", None, PRECISIONS, 0),
]
_MODEL_FIELDS = ("resolution", "latent_dim", "width")
_FAMILY_FIELDS = ("epochs", "lr", "lr_d")  # the settings TrainConfig.for_family changes per family
RESUME_FIELDS = ("epochs", "max_steps")  # what a resumed run may change (the CLI's --resume --epochs/--max-steps)
GUI_SAMPLE_EVERY = 100  # the CLI's 500 leaves a live view without a new face for minutes on a CPU


class RunForm(QGroupBox):
    """Model family and settings; :meth:`configs` builds the configs the fields describe."""

    resolution_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Model and training", parent)
        self.form = QFormLayout(self)
        self.form.setVerticalSpacing(3)
        self.family_combo = QComboBox()
        self.family_combo.addItems(FAMILIES)
        self.form.addRow("Family", self.family_combo)
        self.fields: dict[str, QWidget] = {}
        for name, label, kind, _fams, bounds, decimals in _FIELDS:
            if kind == "choice":
                widget: QWidget = QComboBox()
                widget.addItems([str(c) for c in bounds])
            elif kind == "int":
                widget = QSpinBox(minimum=bounds[0], maximum=bounds[1])
            else:
                widget = QDoubleSpinBox(minimum=bounds[0], maximum=bounds[1], decimals=decimals)
                widget.setSingleStep(10 ** -decimals if decimals > 2 else 0.1)
            self.fields[name] = widget
            self.form.addRow(label, widget)
        self.fields["max_steps"].setSpecialValueText("no limit")
        self.device_combo = QComboBox()
        for value, text in available_devices():
            self.device_combo.addItem(text, value)
        self.form.addRow("Device", self.device_combo)
        self.run_dir_edit = QLineEdit()
        self.run_dir_edit.setPlaceholderText("~/WaifuStudio/runs/<family>-<time>")
        self.run_dir_button = QPushButton("...")
        self.run_dir_button.setFixedWidth(32)
        row = QHBoxLayout()
        row.addWidget(self.run_dir_edit)
        row.addWidget(self.run_dir_button)
        self.form.addRow("Run folder", row)
        self._set_defaults()
        self.family_combo.currentTextChanged.connect(self._on_family_changed)
        self.fields["resolution"].currentTextChanged.connect(
            self._on_resolution_changed)  # type: ignore[attr-defined]
        self.run_dir_button.clicked.connect(self._choose_run_dir)
        self._on_family_changed()

    # ------------------------------------------------------------------ fields
    def _set_defaults(self) -> None:
        model, train = ModelConfig("ae"), TrainConfig.for_family("ae", sample_every=GUI_SAMPLE_EVERY)
        for name in self.fields:
            self.set_field(name, getattr(model if name in _MODEL_FIELDS else train, name))

    def set_field(self, name: str, value: Any) -> None:
        """Set one form field (tests, resumed runs)."""
        widget = self.fields[name]
        if isinstance(widget, QComboBox):
            widget.setCurrentText(str(value))
        else:
            widget.setValue(value)  # type: ignore[attr-defined]

    def field_value(self, name: str) -> Any:
        widget = self.fields[name]
        if isinstance(widget, QComboBox):
            text = widget.currentText()
            return int(text) if name == "resolution" else text
        return widget.value()  # type: ignore[attr-defined]

    def _on_family_changed(self, *_: Any) -> None:
        family = self.family_combo.currentText()
        defaults = TrainConfig.for_family(family)
        for name in _FAMILY_FIELDS:
            self.set_field(name, getattr(defaults, name))
        for name, _label, _kind, families, _b, _d in _FIELDS:
            self.form.setRowVisible(self.fields[name], families is None or family in families)
        gan = family in GAN_FAMILIES
        self.form.labelForField(self.fields["lr"]).setText("G learning rate" if gan else "Learning rate")
        self.form.labelForField(self.fields["lr_d"]).setText("Critic learning rate" if family == "wgan-gp"
                                                             else "D learning rate")

    def _on_resolution_changed(self, *_: Any) -> None:
        self.resolution_changed.emit(self.field_value("resolution"))

    def configs(self) -> tuple[ModelConfig, TrainConfig]:
        """The model and training configs the fields describe (ConfigError if a value is invalid)."""
        family = self.family_combo.currentText()
        values = {name: self.field_value(name) for name in self.fields}
        model = ModelConfig(family, **{k: values.pop(k) for k in _MODEL_FIELDS})
        return model, TrainConfig.for_family(family, device=self.device_combo.currentData(), **values)

    def apply_config(self, config: RunConfig) -> None:
        """Show a run's stored settings."""
        self.family_combo.setCurrentText(config.model.family)  # first: it resets the family defaults
        for name in self.fields:
            self.set_field(name, getattr(config.model if name in _MODEL_FIELDS else config.train, name))

    def set_mode(self, mode: str) -> None:
        """Which fields are editable: "edit" all, "locked" none (training), "resume" :data:`RESUME_FIELDS`."""
        self.setEnabled(mode != "locked")
        for widget in (self.family_combo, self.device_combo, self.run_dir_edit, self.run_dir_button):
            widget.setEnabled(mode == "edit")
        for name, widget in self.fields.items():
            widget.setEnabled(mode == "edit" or (mode == "resume" and name in RESUME_FIELDS))

    def _choose_run_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for the new run", str(Path.home()))
        if path:
            self.run_dir_edit.setText(path)
