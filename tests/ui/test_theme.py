"""Issue 10, bug 10: low-contrast radio buttons on Train (an unchecked one was all but invisible)."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QRadioButton

from waifu_studio.ui.app import dark_palette, indicator_palette
from waifu_studio.ui.images import qimage_to_array

# WCAG asks 3:1 for the parts of a control a user must see; on a dark window that means a
# luminance step of about 40 of 255. The old indicator differed from the window by 13.
MIN_STEP = 40


def indicator_step(qtbot, palette) -> float:  # noqa: ANN001
    """The largest luminance difference between an unchecked radio button's indicator and its window."""
    radio = QRadioButton("Folder")
    qtbot.addWidget(radio)
    radio.setStyleSheet("")
    radio.setPalette(palette)
    radio.setAutoFillBackground(True)
    radio.show()
    image = qimage_to_array(radio.grab().toImage()).astype(float)
    luminance = image @ np.array([0.2126, 0.7152, 0.0722])
    side = image.shape[0]
    return float(np.abs(luminance[:, :side] - luminance[0, -1]).max())


def test_an_unchecked_radio_button_stands_out_from_the_window(qtbot, qapp):
    qapp.setStyle("Fusion")
    assert indicator_step(qtbot, dark_palette()) < MIN_STEP  # the bug, as the app drew it before
    assert indicator_step(qtbot, indicator_palette(dark_palette())) >= MIN_STEP
