"""A second start at a chair that is already being recorded: the launcher double-clicked, or a second window
opened on the same device.

Before, a second window on the same chair database opened without a word and started a second session beside the
live one (both 'recording'); a second one on a serial port already read said "Monitoring has not started at this
chair" with the system's error number, and on an HL7 port "[Errno 98] Address already in use". Now both say that
another recording is already doing it, which (pid, session), and that it goes on.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.app.device import DeviceSpec, PortInUse, open_device
from monitor.store import Store
from tests.drivers.ptys import PtyEnd
from tests.faults.helpers import REPO_ROOT, CommandLine, recording

LIVE = re.compile(r"a session is already being recorded in this database by another program on this computer: "
                  r"session (\w{8}) \(pid (\d+), recording since \d{4}-\d\d-\d\d \d\d:\d\d\)\. Go back to that window "
                  r"\(or terminal\): it goes on recording\. To record a second session in this database at the same "
                  r"time on purpose \(another device\), start with --beside-recording")


def _audited(db: Path, action: str) -> list[dict[str, object]]:
    with Store(db, readonly=True) as store:
        return [a for a in store.audit_log() if a["action"] == action]


def test_a_second_record_on_a_database_being_recorded_is_refused_and_the_first_goes_on(db_path: Path) -> None:
    with recording("--db", str(db_path), "--speed", "30", "--duration", "12") as first:
        session_id = first.wait_for("session ", timeout=5).split()[1]
        second = CommandLine("record", "--db", str(db_path), "--duration", "2")
        assert second.finish() == 1
        said = LIVE.search("\n".join(second.output()))
        assert said is not None, second.output()
        assert said.groups() == (session_id[:8], str(first.process.pid))
        assert first.process.poll() is None
        on_purpose = CommandLine("record", "--db", str(db_path), "--speed", "30", "--duration", "1",
                                 "--beside-recording")
        assert on_purpose.finish() == 0, on_purpose.output()
    assert first.finish() == 0, first.output()
    [beside] = _audited(db_path, "session_started_beside_recording")
    assert f'"session": "{session_id}"' in str(beside["detail"])
    after = CommandLine("record", "--db", str(db_path), "--speed", "max", "--duration", "1")  # one after the other
    assert after.finish() == 0, after.output()


def test_a_second_window_on_a_database_being_recorded_is_refused_before_anyone_signs_in(db_path: Path) -> None:
    """Before, the second window asked for a sign-in and then recorded a second session (here the offscreen
    sign-in dialog waits for ever: the run times out)."""
    with recording("--db", str(db_path), "--speed", "30", "--duration", "20") as first:
        session_id = first.wait_for("session ", timeout=5).split()[1]
        window = subprocess.run([sys.executable, "-m", "monitor.cli", "gui", "--db", str(db_path)], cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=60,
                                env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
        assert window.returncode == 1
        said = LIVE.search(window.stderr)
        assert said is not None, window.stderr
        assert said.group(1) == session_id[:8]
        first.kill()


def test_a_second_recording_on_a_serial_port_being_recorded_names_that_recording(tmp_path: Path) -> None:
    device = PtyEnd()
    db = tmp_path / "monitor.db"
    first = CommandLine("record", "--db", str(db), "--driver", "masimo-ascii", "--port", device.path,
                        "--duration", "20")
    try:
        session_id = first.wait_for("session ", timeout=30).split()[1]
        second = CommandLine("record", "--db", str(db), "--driver", "masimo-ascii", "--port", device.path,
                             "--duration", "2", "--beside-recording")
        assert second.finish() == 1
        said = "\n".join(second.output())
        # The holder's command line is shortened to 80 characters.
        assert f"cannot open masimo-ascii: another program (pid {first.process.pid}: python -m monitor.cli record " \
               f"--db {str(db)[:20]}" in said, said
        assert (f") already reads {device.path}, recording session {session_id[:8]} of this database. Two programs "
                "cannot share one device (each would get part of its values). If that is this chair's recording it "
                "goes on: use its window. Otherwise end that program, or choose another port") in said, said
        assert first.process.poll() is None
    finally:
        first.kill()
        os.close(device.master)


def test_an_hl7_address_already_listened_on_is_refused_as_such() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    address = f"127.0.0.1:{taken.getsockname()[1]}"
    try:
        with pytest.raises(PortInUse) as refused:
            open_device(DeviceSpec(driver="hl7-mllp", port=address))
    finally:
        taken.close()
    assert str(refused.value) == (
        f"cannot open hl7-mllp: another program already listens on {address}. Two programs cannot share one device "
        "(each would get part of its values). If that is this chair's recording it goes on: use its window. "
        "Otherwise end that program, or choose another port")
