"""The "Model and training" form, generated from the setting declarations in ``core/config.py``.

Every ``train`` option has a field here (the Faces box draws the data source and built-in count),
grouped as declared, shown for the families that use it, with the family's defaults on a family
change (the Train panel scrolls it, with the run buttons outside the scroll). When a run is
about to be resumed exactly the settings a resume may change stay editable, and
:meth:`RunForm.resume_overrides` hands over the ones the user changed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from ...core.config import SETTING_GROUPS, SETTINGS, DataConfig, ModelConfig, RunConfig, TrainConfig
from ...core.devices import available_devices
from ...core.settings import UNSET, Setting
from .setting_fields import get_value, make_field, set_value

_FACES_GROUP = "Faces"  # drawn by the Faces box (training_data.py): the source folder and the built-in count


def form_settings() -> tuple[Setting, ...]:
    """The declared settings this form shows: every ``train`` option outside the Faces box."""
    return tuple(s for s in SETTINGS if s.cli_flag is not None and s.group != _FACES_GROUP)


class RunForm(QGroupBox):
    """Model family and settings; :meth:`configs` builds the configs the fields describe."""

    resolution_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Model and training", parent)
        self.settings = {s.name: s for s in form_settings()}
        self.fields: dict[str, QWidget] = {}
        self._headers: dict[str, QLabel] = {}
        self._applied: dict[str, Any] = {}  # what apply_config showed: a resume passes on only what changed
        self.form = QFormLayout(self)
        self.form.setVerticalSpacing(3)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for group in SETTING_GROUPS:
            decls = [s for s in self.settings.values() if s.group == group]
            if not decls:
                continue
            header = QLabel(f"<b>{group}</b>")
            self._headers[group] = header
            self.form.addRow(header)
            for decl in decls:
                widget = self._device_field(decl) if decl.name == "device" else make_field(decl)
                self.fields[decl.name] = widget
                self.form.addRow(decl.label, widget)
        self.run_dir_edit = QLineEdit()
        self.run_dir_edit.setPlaceholderText("~/WaifuStudio/runs/<family>-<time>")
        self.run_dir_button = QPushButton("...")
        self.run_dir_button.setFixedWidth(32)
        row = QHBoxLayout()
        row.addWidget(self.run_dir_edit)
        row.addWidget(self.run_dir_button)
        self.form.addRow("Run folder", row)
        self.family_combo: QComboBox = self.fields["family"]  # type: ignore[assignment]
        self.device_combo: QComboBox = self.fields["device"]  # type: ignore[assignment]
        for name, decl in self.settings.items():
            if decl.default is not UNSET:  # the family has none: the combo starts at the first
                set_value(self.fields[name], decl.default_for("ae", gui=True))
        self.family_combo.currentTextChanged.connect(self._on_family_changed)
        self.fields["resolution"].currentTextChanged.connect(self._on_resolution_changed)  # type: ignore[attr-defined]
        self.run_dir_button.clicked.connect(self._choose_run_dir)
        self._on_family_changed()

    @staticmethod
    def _device_field(decl: Setting) -> QComboBox:
        """Devices are the machine's, not a fixed list: the combo offers what this computer has."""
        combo = QComboBox()
        for value, text in available_devices():
            combo.addItem(text, value)
        combo.setToolTip(decl.help)
        # GPU names are long: the combo shows what fits and lists them in full when opened.
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(10)
        return combo

    # ------------------------------------------------------------------ fields
    def set_field(self, name: str, value: Any) -> None:
        """Set one form field (tests, resumed runs)."""
        set_value(self.fields[name], value)

    def field_value(self, name: str) -> Any:
        return get_value(self.fields[name])

    def family(self) -> str:
        return self.family_combo.currentData()

    def _on_family_changed(self, *_: Any) -> None:
        family = self.family()
        shown_groups = set()
        for name, decl in self.settings.items():
            if family in decl.family_defaults:
                self.set_field(name, decl.default_for(family))
            used = decl.used_by(family)
            self.form.setRowVisible(self.fields[name], used)
            label = self.form.labelForField(self.fields[name])
            if isinstance(label, QLabel):
                label.setText(decl.label_for(family))
            if used:
                shown_groups.add(decl.group)
        for group, header in self._headers.items():
            self.form.setRowVisible(header, group in shown_groups)

    def _on_resolution_changed(self, *_: Any) -> None:
        self.resolution_changed.emit(self.field_value("resolution"))

    def _values(self, section: str) -> dict[str, Any]:
        return {name: self.field_value(name) for name, decl in self.settings.items() if decl.section == section}

    def configs(self) -> tuple[ModelConfig, TrainConfig]:
        """The model and training configs the fields describe (ConfigError if a value is invalid)."""
        model = ModelConfig(**self._values("model"))
        return model, TrainConfig.for_family(model.family, **self._values("train"))

    def data_config(self, faces: DataConfig) -> DataConfig:
        """The Faces box's data settings with the form's own (which faces of the split to use)."""
        return dataclasses.replace(faces, **self._values("data"))

    def apply_config(self, config: RunConfig) -> None:
        """Show a run's stored settings."""
        self.set_field("family", config.model.family)  # first: it resets the family defaults
        for name, decl in self.settings.items():
            self.set_field(name, getattr(getattr(config, decl.section), name))
        self._applied = {name: self.field_value(name) for name in self.settings}

    def resume_overrides(self) -> dict[str, Any]:
        """The settings a resume may change that differ from the run's (setting name -> value)."""
        return {name: self.field_value(name) for name, decl in self.settings.items()
                if decl.may_change_on_resume and self.field_value(name) != self._applied.get(name)}

    def set_mode(self, mode: str) -> None:
        """Which fields are editable: "edit" all, "locked" none (training), "resume" those a resume may change."""
        for widget in (self.run_dir_edit, self.run_dir_button):
            widget.setEnabled(mode == "edit")
        for name, widget in self.fields.items():
            widget.setEnabled(mode == "edit" or (mode == "resume" and self.settings[name].may_change_on_resume))

    def _choose_run_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for the new run", str(Path.home()))
        if path:
            self.run_dir_edit.setText(path)
