"""The audio output fails during a session (the device unplugged, the sound server gone)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.alarms.model import Priority


@pytest.mark.qt_log_ignore("pipewire")  # the audio backend's probing of sound servers this machine lacks
def test_an_audio_output_that_fails_while_an_alarm_sounds_is_shown_as_no_sound(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    # `tasks.py test` installs PulseAudio's client library where it can (and stops a CI run where it cannot).
    multimedia = pytest.importorskip("PySide6.QtMultimedia", reason="QtMultimedia needs libpulse0 (PulseAudio's "
                                     "client library)", exc_type=ImportError)
    from ui.alarm_sound import _quietly

    w = make_window(scenario="desaturation", speed=120.0, plan="baseline:1,infusion:40,recovery:30", first_status=True)
    player = w.sound
    assert player is not None
    # The machine had a working output when the window opened; the device has gone since: a real QAudioSink on it.
    fmt = multimedia.QAudioFormat()
    fmt.setSampleRate(44100)
    fmt.setChannelCount(1)
    fmt.setSampleFormat(multimedia.QAudioFormat.SampleFormat.Int16)
    sink = _quietly(lambda: multimedia.QAudioSink(multimedia.QAudioDevice(), fmt, player))
    player._sink = sink
    player.available, player.detail = True, "Built-in Audio"
    w.alarm_bar.set_audio_output(True, "")
    assert "NO SOUND" not in w.alarm_bar.audio_label.text()

    qtbot.waitUntil(lambda: player.sounding is Priority.HIGH, timeout=60_000)
    qtbot.wait(2000)
    assert player.bursts_played >= 1
    assert sink.error().name == "OpenError"  # the output refused every burst
    assert sink.state().name == "StoppedState"
    assert "NO SOUND" in w.alarm_bar.audio_label.text(), (
        f"a high alarm is 'sounding' ({player.bursts_played} bursts counted) on an output that failed with "
        f"{sink.error()}, and the bar says {w.alarm_bar.audio_label.text()!r}")
