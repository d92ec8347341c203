"""One input widget per declared setting (``core/settings.py``), built from its declaration.

:func:`make_field` picks the widget from the setting's type: a combo box for choices, a check box
for a switch, a spin box for whole numbers, :class:`FloatField` for numbers, :class:`NumbersField`
for a pair such as Adam's betas and :class:`SubsetField` for a comma-separated policy.
:func:`set_value` and :func:`get_value` read and write any of them.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QSpinBox,
    QWidget,
)

from ...core.settings import Setting, split_subset

_INT32_MAX = 2**31 - 1  # QSpinBox holds a C int


class FloatField(QDoubleSpinBox):
    """A number shown with its significant digits (0.0002, 1e-05), checked against its declaration."""

    def __init__(self, decl: Setting, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.decl = decl
        self.setDecimals(12)  # Qt rounds values to this; the text shows significant digits instead
        low = -1e12 if decl.minimum is None else decl.minimum
        high = 1e12 if decl.maximum is None else decl.maximum
        # Open bounds: the arrows stop just inside (0.99999 for an EMA decay below 1).
        step = 10.0 ** -decl.decimals
        self.setRange(low + (step if decl.exclusive_minimum else 0), high - (step if decl.exclusive_maximum else 0))
        self.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt override
        return f"{value:.{max(self.decl.decimals, 4)}g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 - Qt override
        if text and text == self.specialValueText():
            return self.minimum()
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> QValidator.State:
        if text and text == self.specialValueText():
            return QValidator.State.Acceptable
        try:
            value = float(text)
        except ValueError:
            return QValidator.State.Intermediate  # "1e-" on the way to "1e-4"
        if self.decl.item_problem(value) if self.decl.kind is tuple else self.decl.problem(value):
            return QValidator.State.Intermediate
        return QValidator.State.Acceptable


class NumbersField(QWidget):
    """A fixed number of floats side by side (Adam's beta1, beta2)."""

    def __init__(self, decl: Setting, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.parts = [FloatField(decl) for _ in range(decl.length)]
        for part in self.parts:
            row.addWidget(part)

    def value(self) -> tuple[float, ...]:
        return tuple(part.value() for part in self.parts)

    def setValue(self, value: tuple[float, ...]) -> None:  # noqa: N802 - the spin-box name
        for part, item in zip(self.parts, value, strict=True):
            part.setValue(item)


class SubsetField(QWidget):
    """Check boxes for a comma-separated subset ("color,translation"), keeping the order it was given in."""

    def __init__(self, decl: Setting, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        assert decl.subset_of is not None
        self.options = decl.subset_of
        self._order: list[str] = []
        grid = QGridLayout(self)  # two columns: the form column of the Train panel is narrow
        grid.setContentsMargins(0, 0, 0, 0)
        self.boxes = {name: QCheckBox(name) for name in self.options}
        for i, (name, box) in enumerate(self.boxes.items()):
            grid.addWidget(box, i // 2, i % 2)
            box.toggled.connect(lambda on, name=name: self._toggled(name, on))

    def _toggled(self, name: str, on: bool) -> None:
        if on and name not in self._order:
            self._order.append(name)
        elif not on and name in self._order:
            self._order.remove(name)

    def value(self) -> str:
        return ",".join(self._order) or "none"

    def setValue(self, text: str) -> None:  # noqa: N802 - the spin-box name
        self._order = []
        parts = split_subset(text, self.options)
        for box in self.boxes.values():
            box.setChecked(False)
        for name in parts:
            self.boxes[name].setChecked(True)  # appends in the given order


def make_field(decl: Setting) -> QWidget:
    """The input widget for one declared setting, with its help and range as the tooltip."""
    widget: QWidget
    if decl.choices is not None:
        widget = QComboBox()
        for choice in decl.choices:
            widget.addItem(str(choice), choice)
    elif decl.kind is bool:
        widget = QCheckBox()
    elif decl.kind is int:
        widget = QSpinBox()
        widget.setRange(int(decl.minimum or 0), int(min(decl.maximum or _INT32_MAX, _INT32_MAX)))
    elif decl.kind is float:
        widget = FloatField(decl)
    elif decl.kind is tuple:
        widget = NumbersField(decl)
    elif decl.subset_of is not None:
        widget = SubsetField(decl)
    else:
        raise TypeError(f"no widget for setting {decl.name} of kind {decl.kind.__name__}")
    if decl.zero_text and isinstance(widget, QSpinBox | QDoubleSpinBox) and decl.minimum == 0:
        widget.setSpecialValueText(decl.zero_text)  # shown at the minimum, 0
    limits = decl.range_text()
    widget.setToolTip(decl.help + (f" [{limits}]" if limits else "") + (f"\nIn the app: {decl.gui_why}."
                                                                       if decl.gui_why else ""))
    return widget


def set_value(widget: QWidget, value: Any) -> None:
    """Show ``value`` in a widget :func:`make_field` built (a combo box gains a value it lacks)."""
    if isinstance(widget, QComboBox):
        index = widget.findData(value)
        if index < 0:  # e.g. a run's "cuda:3" on a machine without it: shown, and resuming says why it fails
            widget.addItem(str(value), value)
            index = widget.count() - 1
        widget.setCurrentIndex(index)
    elif isinstance(widget, QCheckBox):
        widget.setChecked(bool(value))
    else:
        widget.setValue(value)  # type: ignore[attr-defined]


def get_value(widget: QWidget) -> Any:
    if isinstance(widget, QComboBox):
        return widget.currentData()
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    return widget.value()  # type: ignore[attr-defined]
