"""Start the desktop app: QApplication, a calm dark Fusion theme, the main window."""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication


def dark_palette() -> QPalette:
    """A dark palette: faces read best on a dark, neutral background."""
    window, base, text = QColor(37, 38, 43), QColor(28, 29, 33), QColor(222, 224, 230)
    accent = QColor(232, 121, 160)  # a soft pink highlight
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor(44, 45, 51),
        QPalette.ColorRole.ToolTipBase: QColor(50, 51, 58),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: QColor(130, 132, 140),
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor(52, 53, 60),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Link: accent,
        QPalette.ColorRole.Highlight: accent,
        QPalette.ColorRole.HighlightedText: QColor(20, 20, 24),
        QPalette.ColorRole.Light: QColor(70, 72, 80),
        QPalette.ColorRole.Midlight: QColor(58, 60, 66),
        QPalette.ColorRole.Mid: QColor(45, 46, 52),
        QPalette.ColorRole.Dark: QColor(24, 25, 28),
        QPalette.ColorRole.Shadow: QColor(10, 10, 12),
    }
    for role, color in roles.items():
        palette.setColor(role, color)
    muted = QColor(125, 127, 135)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, muted)
    return palette


def indicator_palette(palette: QPalette) -> QPalette:
    """Check boxes and radio buttons: Fusion fills their indicators with Base, which on this dark
    palette is within a few levels of the window, so an unchecked radio button was invisible."""
    out = QPalette(palette)
    out.setColor(QPalette.ColorRole.Base, QColor(104, 106, 118))
    return out


def configure_application(app: QApplication) -> None:
    app.setApplicationName("WaifuStudio")
    app.setOrganizationName("WaifuStudio")
    app.setApplicationDisplayName("Waifu Studio")
    app.setStyle("Fusion")
    palette = dark_palette()
    app.setPalette(palette)
    for widget_class in ("QRadioButton", "QCheckBox"):
        QApplication.setPalette(indicator_palette(palette), widget_class)


def freeze_startup_objects() -> None:
    """Take everything alive once the window is built out of the garbage collector's full passes.

    A full (generation 2) collection walks every tracked object, and with torch, Qt and pyqtgraph
    loaded that is about 500,000 of them: 60-90 ms with the GIL held. Whichever thread's
    allocations set it off (a map job listing 20,000 files), the window froze for that long.
    Objects made later are collected as before; start-up's objects live as long as the app.
    """
    gc.freeze()


def run_app(argv: list[str] | None = None) -> int:
    """Open the main window and run the event loop; returns the exit code."""
    app = QApplication.instance()
    if app is None:
        # Fractional scale factors (125%, 150%) render as asked instead of rounding to 1x or 2x.
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(list(sys.argv if argv is None else argv))
    configure_application(app)

    from .main_window import MainWindow  # after QApplication: widgets need it

    window = MainWindow()
    window.show()
    freeze_startup_objects()
    return int(app.exec())
