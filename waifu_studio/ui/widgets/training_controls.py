"""The Training panel's run buttons; which of them a user may press follows the panel's state.

States: "idle" (a new run can be set up), "training" (a run is training in this process),
"attached" (watching a run folder another process writes), "resume" (a run's settings are in
the form, waiting for "Resume training").
"""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QWidget

STATES = ("idle", "training", "attached", "resume")


class RunControls(QWidget):
    """Start/Pause/Stop, Resume, Attach and timelapse export; the panel connects their clicks."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.stop_button = QPushButton("Stop")
        self.resume_button = QPushButton("Resume run...")
        self.resume_button.setToolTip("Continue a stopped or finished run; raise Epochs to train it longer")
        self.attach_button = QPushButton("Attach to run folder...")
        self.attach_button.setCheckable(True)
        self.gif_button = QPushButton("Export timelapse GIF...")
        self.resume_label = QLabel("")  # what the "resume" state is about to continue
        self.resume_label.setWordWrap(True)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.start_button, 0, 0)
        layout.addWidget(self.pause_button, 0, 1)
        layout.addWidget(self.stop_button, 0, 2)
        layout.addWidget(self.resume_button, 1, 0)
        layout.addWidget(self.attach_button, 1, 1, 1, 2)
        layout.addWidget(self.resume_label, 2, 0, 1, 3)
        layout.addWidget(self.gif_button, 3, 0, 1, 3)

    def set_state(self, state: str, *, has_run: bool) -> None:
        """Enable and label the buttons for ``state``; ``has_run``: a run folder to export from."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        idle, training, attached, resume = (state == s for s in STATES)
        self.start_button.setEnabled(idle or resume)
        self.start_button.setText("Resume training" if resume else "Start")
        self.resume_button.setEnabled(idle or resume)
        self.resume_button.setText("Cancel resume" if resume else "Resume run...")
        self.resume_label.setVisible(resume)
        self.attach_button.setEnabled(not training)
        self.attach_button.setChecked(attached)
        self.attach_button.setText("Detach from run folder" if attached else "Attach to run folder...")
        self.stop_button.setEnabled(training)
        self.pause_button.setEnabled(training)
        if not training:
            self.pause_button.setChecked(False)
        self.gif_button.setEnabled(has_run)
