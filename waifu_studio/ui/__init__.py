"""Qt front end: thin widgets that hold core objects and draw them."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal


def pin_bool_refcounts() -> bool:
    """Work around PySide6 6.12.0 on CPython < 3.12: ``SignalInstance.emit`` returns ``True`` without a
    new reference, so every Python-side emit drops one reference to ``True`` and the process aborts
    ("bool_dealloc") after a few hundred emits. Give the bools a huge refcount; 3.12+ bools are immortal.

    Returns True when the leak was detected and the pin applied. Belongs in the app's bootstrap.
    """
    import ctypes
    import sys

    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(4):
        probe.ping.emit()
    if sys.getrefcount(True) >= before:
        return False
    for flag in (True, False):
        ctypes.c_ssize_t.from_address(id(flag)).value += 1 << 40  # ob_refcnt is the first field
    return True




pin_bool_refcounts()
