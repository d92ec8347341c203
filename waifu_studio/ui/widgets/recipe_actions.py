"""Save and "Copy as command" for any panel: files are rendered from their recipe, never from the screen.

A panel describes what it shows as a recipe (cheap: seeds, f16 latents, settings; see
``core/explore/reproduce.py``); saving renders that recipe in a worker thread with the exact
(fp32) decode and writes it with the recipe inside, so the app's file equals the CLI's file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtWidgets import QApplication

from ...core.explore.recipe_command import recipe_command
from ...core.explore.reproduce import write_recipe_file
from ...core.io.recipe import Recipe
from ..session import Session
from ..workers import Jobs, Task


def save_recipe(jobs: Jobs, session: Session, recipe: Recipe, models: Sequence, path: str | Path,
                on_saved: Callable[[Path], None] | None = None) -> Task:
    """Write ``recipe`` rendered by ``models`` to ``path`` as one of ``jobs`` (the panel's); status or error."""

    def saved(written: Path) -> None:
        session.status_message.emit(f"Saved {written}")
        if on_saved is not None:
            on_saved(written)

    models, path = list(models), Path(path)
    return jobs.submit(f"save {path}", lambda _ctx: write_recipe_file(recipe, models, path), on_result=saved,
                       on_error=lambda msg: session.report_error("Cannot save image", msg))


def copy_command(session: Session, recipe: Recipe, checkpoints: Sequence[str | Path], out_name: str) -> str:
    """Put the CLI command that writes ``recipe``'s file on the clipboard and return it."""
    command = recipe_command(recipe, [str(p) for p in checkpoints], out_name)
    QApplication.clipboard().setText(command)
    session.status_message.emit("Copied the command line that writes this file")
    return command
