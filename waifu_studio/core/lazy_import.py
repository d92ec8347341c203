"""Import a slow module in a helper thread while the caller does other work, and cancellably.

torch takes 1-2 s to import, openTSNE (scikit-learn, scipy) 1-3 s, umap (numba) 2-4 s. Started
before numpy's PCA or the neighbour search, an import overlaps that work; and an import cannot
be interrupted, so waiting through ``module(cancelled)`` lets a cancelled caller return at once
while the helper thread only finishes filling ``sys.modules`` on its own.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable
from types import ModuleType


class BackgroundImport:
    """``BackgroundImport("openTSNE")`` starts the import now; ``module()`` waits for it."""

    def __init__(self, name: str, prepare: Callable[[], None] | None = None) -> None:
        self.name = name
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        if name in sys.modules:
            return
        self._thread = threading.Thread(target=self._load, args=(prepare,), name=f"import {name}", daemon=True)
        self._thread.start()

    def _load(self, prepare: Callable[[], None] | None) -> None:
        try:
            if prepare is not None:
                prepare()
            else:
                importlib.import_module(self.name)
        except BaseException as err:  # noqa: BLE001 - re-raised in the waiting thread by module()
            self._failure = err

    def module(self, cancelled: Callable[[], None] | None = None) -> ModuleType:
        """The imported module; ``cancelled()`` is polled while waiting and may raise to give up."""
        if self._thread is not None:
            while self._thread.is_alive():
                self._thread.join(0.05)
                if cancelled is not None:
                    cancelled()
            if self._failure is not None:
                raise self._failure
        return importlib.import_module(self.name)
