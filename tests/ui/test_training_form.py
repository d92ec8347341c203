"""The training form is generated from the setting declarations: every `train` option is in it, per family,
with the family's defaults; a resume edits exactly what may change; the Train tab fits a 1024x700 window."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QScrollArea, QSpinBox

from tests.core.settings_samples import family_using, sample_value
from tests.ui.helpers import running_threads
from waifu_studio.cli.train import cli_settings
from waifu_studio.core.config import FAMILIES, DataConfig, ModelConfig, RunConfig, TrainConfig
from waifu_studio.ui.main_window import MainWindow
from waifu_studio.ui.widgets.training import TrainingPanel
from waifu_studio.ui.widgets.training_form import RunForm, form_settings

FORM = form_settings()


def _same(shown, value):
    """Equal, numbers within rounding (a spin box keeps 12 decimals)."""
    if isinstance(value, float | tuple) and not isinstance(value, bool):
        return shown == pytest.approx(value, rel=1e-9)
    return shown == value


@pytest.fixture
def form(qtbot):
    widget = RunForm()
    qtbot.addWidget(widget)
    widget.resize(370, 600)
    widget.show()
    return widget


def test_every_train_option_is_in_the_form_or_the_faces_box():
    outside = {d.name for d in cli_settings()} - {d.name for d in FORM}
    assert outside == {"source", "builtin_count"}  # the Faces box's folder choice and count (tested below)


@pytest.mark.parametrize("decl", FORM, ids=[d.name for d in FORM])
def test_each_option_is_shown_for_its_families_and_round_trips(decl, form):
    family = family_using(decl)
    form.family_combo.setCurrentText(family)
    for other in FAMILIES:
        form.family_combo.setCurrentText(other)
        assert form.fields[decl.name].isVisibleTo(form) == decl.used_by(other), other
    form.family_combo.setCurrentText(family)
    value = sample_value(decl, family)
    form.set_field(decl.name, value)
    model, train = form.configs()
    config = RunConfig(model, train, form.data_config(DataConfig(resolution=model.resolution)))
    assert _same(getattr(getattr(config, decl.section), decl.name), value)
    # A stored run shows what it holds (attaching, resuming), whatever the form showed before.
    form.apply_config(RunConfig(ModelConfig(family), TrainConfig.for_family(family), DataConfig()))
    assert not _same(form.field_value(decl.name), value)
    form.apply_config(config)
    assert _same(form.field_value(decl.name), value)


def test_a_family_change_shows_its_defaults_and_labels(form, qtbot):
    for family in FAMILIES:
        form.family_combo.setCurrentText(family)
        for decl in FORM:
            if family in decl.family_defaults:
                assert _same(form.field_value(decl.name), decl.default_for(family)), (family, decl.name)
    form.family_combo.setCurrentText("wgan-gp")
    assert form.form.labelForField(form.fields["lr_d"]).text() == "Critic learning rate"
    assert form.field_value("sample_every") == 100  # the app's declared default, not the CLI's 500


def test_typing_a_number_and_ticking_a_policy(form, qtbot):
    form.family_combo.setCurrentText("dcgan")
    lr = form.fields["lr"]
    lr.lineEdit().selectAll()
    qtbot.keyClicks(lr.lineEdit(), "3e-5")
    qtbot.keyClick(lr.lineEdit(), Qt.Key.Key_Return)
    assert lr.text() == "3e-05"
    augment = form.fields["augment"]
    for name in ("cutout", "color"):  # ticked in this order, applied in this order
        box = augment.boxes[name]
        qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(4, box.height() // 2))
    assert form.configs()[1].augment == "cutout,color" and form.configs()[1].lr == pytest.approx(3e-5)


def test_resume_mode_edits_exactly_what_a_resume_may_change(form):
    stored = RunConfig(ModelConfig("vae", latent_dim=32), TrainConfig.for_family("vae", epochs=3), DataConfig())
    form.apply_config(stored)
    form.set_mode("resume")
    for decl in FORM:
        assert form.fields[decl.name].isEnabled() == decl.may_change_on_resume, decl.name
    assert form.resume_overrides() == {}
    form.set_field("epochs", 5)
    form.set_field("lr", 5e-4)
    form.set_field("device", "cpu")
    assert form.resume_overrides() == {"epochs": 5, "lr": 5e-4, "device": "cpu"}
    form.set_mode("locked")
    assert not any(w.isEnabled() for w in form.fields.values())
    form.set_mode("edit")
    assert all(w.isEnabled() for w in form.fields.values())


# ------------------------------------------------------------------ the Faces box and the whole tab
@pytest.fixture
def panel(qtbot, session):
    widget = TrainingPanel(session)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.dataset_scanned, timeout=20_000):
        widget.builtin_count.setValue(64)
        widget.show()
    yield widget
    widget.shutdown()


def test_the_faces_box_options_reach_the_run_config(panel, tmp_path, qtbot):
    count = next(d for d in cli_settings() if d.name == "builtin_count")
    assert (panel.builtin_count.minimum(), panel.builtin_count.maximum()) == (count.minimum, count.maximum)
    panel.builtin_count.setValue(80)
    assert panel.run_config().data.builtin_count == 80 and panel.run_config().data.source == "builtin"
    panel.set_dataset_folder(tmp_path)
    assert panel.run_config().data.source == str(tmp_path)
    panel.set_field("split", "val")
    assert panel.run_config().data.split == "val"


def test_the_train_tab_fits_1024x700_with_start_visible_for_every_family(qtbot, session, panel, started_threads):
    # The Train tab gets what a 1024x700 main window leaves after its menu, tool, tab and status bars.
    window = MainWindow(session, load_default=False)
    qtbot.addWidget(window)
    window.show()
    page = window.tabs.currentWidget()  # every tab gets the same area
    chrome = window.height() - page.height()
    assert 50 < chrome < 200, chrome
    window.close()
    # Its panels' start-up work may take a while on a busy machine.
    qtbot.waitUntil(lambda: not running_threads(started_threads), timeout=60_000)
    panel.resize(1024, 700 - chrome)
    qtbot.waitUntil(lambda: panel.height() == 700 - chrome, timeout=2000)  # the panel can be that small
    for family in FAMILIES:
        panel.family_combo.setCurrentText(family)
        qtbot.wait(10)
        for button in (panel.start_button, panel.stop_button, panel.resume_button):
            assert button.visibleRegion().boundingRect() == button.rect(), (family, button.text())
            assert panel.rect().contains(button.mapTo(panel, button.rect().bottomRight()))
        # Every field of the family can be scrolled to, and the settings really scroll (they are taller).
        scroll = _scroll_area_of(panel.form)
        assert scroll.widget().height() > scroll.viewport().height()
        assert scroll.widget().width() <= scroll.viewport().width()  # nothing cut off on the right
        for name, widget in panel.form.fields.items():
            if widget.isVisibleTo(panel.form):
                scroll.ensureWidgetVisible(widget)
                assert widget.visibleRegion().boundingRect() == widget.rect(), (family, name)


def _scroll_area_of(widget):
    while not isinstance(widget, QScrollArea):
        widget = widget.parentWidget()
    return widget


def test_widgets_match_the_setting_types(form):
    for decl in FORM:
        widget = form.fields[decl.name]
        if decl.choices is not None or decl.name == "device":
            assert isinstance(widget, QComboBox)
        elif decl.kind is bool:
            assert isinstance(widget, QCheckBox)
        elif decl.kind is int:
            assert isinstance(widget, QSpinBox) and widget.maximum() == decl.maximum
