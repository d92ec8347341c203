"""Drive the real app (run_app's styling) in a window and save one screenshot per panel."""
import sys
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import QApplication

out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
from waifu_studio.ui.app import configure_application
from waifu_studio.ui.main_window import MainWindow

app = QApplication.instance() or QApplication(sys.argv)
configure_application(app)
win = MainWindow()
win.resize(1280, 800)
win.show()

def pump(seconds, until=None):
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.02)
        if until is not None and until():
            break

def shot(name):
    win.grab().save(str(out / f"{name}.png")); print("saved", name, flush=True)

tabs = win.tabs
panels = {tabs.tabText(i): tabs.widget(i) for i in range(tabs.count())}
pump(5)
win.model_selector.open_path("checkpoints/wgan-gp.safetensors") if hasattr(win, "model_selector") else None
pump(6)
tabs.setCurrentWidget(panels["Generate"]); pump(3); shot("generate")
m = panels["Morph"]; tabs.setCurrentWidget(m)
m.set_endpoint_from_seed("A", 14); m.set_endpoint_from_seed("B", 27); pump(4)
m.slider.setValue(450); pump(3); shot("morph")
d = panels["Directions"]; tabs.setCurrentWidget(d); pump(15)
try:
    d.pc_sliders[0].setValue(int(d.pc_sliders[0].maximum() * 0.7))
except Exception as e:
    print("directions slider:", e)
pump(5); shot("directions")
lm = panels["Latent map"]; tabs.setCurrentWidget(lm)
lm.compute(source="prior", n=3000, method="tsne"); pump(150, until=lambda: lm.layout() is not None and lm.progress.value() >= 100 if hasattr(lm, "progress") else False)
pump(3)
try:
    idx = lm.colour_box.findText("Hair hue") if hasattr(lm, "colour_box") else -1
    if idx >= 0: lm.colour_box.setCurrentIndex(idx)
except Exception as e:
    print("colour:", e)
pump(8); lm.click_point(17); pump(3); shot("latent-map")
win.model_selector.open_path("checkpoints/ae.safetensors"); pump(6)
r = panels["Reconstructions"]; tabs.setCurrentWidget(r); r.set_folder("/tmp/ws/valfaces"); r.compute(); pump(30)
shot("reconstructions")
t = panels["Train"]; tabs.setCurrentWidget(t)
for k, v in dict(resolution=32, width=16, latent_dim=64, batch_size=32, sample_every=20, log_every=5).items():
    try:
        t.set_field(k, v)
    except Exception as e:
        print("field", k, e)
pump(2); t.start_training(); pump(75); shot("train")
t.stop_training(); pump(10)
win.close(); pump(3)
