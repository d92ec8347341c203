"""core/ is what a researcher imports in a notebook: it must never pull in Qt."""

from __future__ import annotations

import subprocess
import sys


def test_core_does_not_import_qt():
    code = (
        "import sys, pkgutil, importlib, waifu_studio.core as core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'waifu_studio.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "import waifu_studio.cli\n"
        "bad = [n for n in sys.modules if n.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"core or cli imported Qt: {result.stdout} {result.stderr[-2000:]}"
