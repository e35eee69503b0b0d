"""Screenshots of the real live window as an X server shows it (run under Xvfb, one screen size per run).

    xvfb-run -s "-screen 0 1280x800x24" .venv/bin/python docs/take_screenshots.py docs/screenshot-live-1280x800.png
    xvfb-run -s "-screen 0 1920x1080x24" .venv/bin/python docs/take_screenshots.py docs/screenshot-live.png

A simulated hypertension session runs at 60 times real speed with the planned phases, a patient
with a long accented name, notes and scores; about 40 s in (infusion minute ~34, high blood
pressure alarms active) the whole screen is grabbed from the X server.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.plan import parse_plan
from monitor.recorder import Recorder
from monitor.session import Phase
from monitor.store import Store

PATIENT = "Maëlys-Éléonore Øverås-Nuñez de la Peña y Çelik-Großmann Ünlü"
WAIT_MS = 40_000


def main(out: str) -> int:
    """Run the session, grab the screen into ``out`` and quit."""
    app = QApplication(sys.argv[:1])
    from ui.bridge import RecorderBridge
    from ui.dialogs import SignedInUser
    from ui.live_window import LiveWindow

    folder = Path(tempfile.mkdtemp())
    store = Store(folder / "screens.db")
    plan = parse_plan("baseline:2,infusion:40,recovery:30")
    patient = store.create_patient("MRN-00482913", PATIENT, "1961-02-03")
    recorder = Recorder.new_session(
        store, SimulatedSource(scenario="hypertension", seed=3, speed=60.0, plan=plan), driver="simulated",
        port=None, plan=plan, autopilot=True, nurse="AB", patient_id=patient, alarms=AlarmEngine(),
    )
    charted: set[str] = set()

    def chart(r: Recorder) -> bool:
        elapsed = r.session.infusion_elapsed() / 60 if r.session.phase is Phase.INFUSION else -1
        for minute, name, command, args in (
            (3, "note", "note", {"text": "Patient calm, eyes closed"}),
            (10, "moaas", "score", {"scale": "MOAA/S", "value": 4}),
            (11, "dose", "quick_event", {"what": "dose_change", "text": "Dose/rate change: 0.6 mg/kg/h"}),
            (25, "anxiety", "quick_event", {"what": "anxiety", "text": "Anxiety"}),
        ):
            if elapsed >= minute and name not in charted:
                charted.add(name)
                r.submit(command, "AB", **args)
        return False

    bridge = RecorderBridge(recorder)
    window = LiveWindow(bridge, SignedInUser("AB", "nurse"), sound=False)
    screen = app.primaryScreen().geometry()
    window.setGeometry(screen)
    window.show()
    bridge.start()
    bridge.updates.connect(lambda _batch: chart(recorder))

    def grab() -> None:
        app.primaryScreen().grabWindow(0).save(out)
        print(f"saved {out} ({screen.width()}x{screen.height()}), window {window.width()}x{window.height()}")
        window.force_close()
        app.quit()

    QTimer.singleShot(WAIT_MS, grab)
    app.exec()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
