"""Qt-free engine of Waifu Studio: data, models, training, checkpoints, latent tools.

Everything here can be used from a notebook without a window. Nothing in this package may
depend on PySide6 or pyqtgraph (a test enforces it).
"""

from __future__ import annotations
