"""Nonin: one frame's ARTF bit marks a beat, not the packet's SpO2 and pulse rate.

Nonin format #2 (OEM III / 9560 spec; the pez-globo Pufferfish driver's comment): STATUS bit 5 ARTF is set
on a frame "when a detected pulse beat didn't match the current pulse interval" - a per-beat mark. The
oximeter still reports its (4-beat averaged) SpO2; values it cannot give are sent as 127 / 511.
"""

from __future__ import annotations

from drivers.core.readings import Parameter
from drivers.nonin.codec import ARTF, NoninDecoder, encode_packet


def packet_with_one_artifact_frame(spo2: float, pr: float) -> bytes:
    raw = bytearray(encode_packet(spo2, pr, [128] * 25))
    i = 5 * 7  # frame 7 of 25: one mismatched beat in this third of a second
    raw[i + 1] |= ARTF
    raw[i + 4] = sum(raw[i : i + 4]) & 0xFF
    return bytes(raw)


def test_one_artifact_frame_does_not_make_the_packets_spo2_unusable() -> None:
    decoder = NoninDecoder()
    readings = decoder.feed(packet_with_one_artifact_frame(85, 72) * 3, 1000.0)
    spo2 = [r for r in readings if r.parameter is Parameter.SPO2]
    assert spo2 and all(r.value == 85 for r in spo2)
    # Before: every packet's SpO2 carries 'artifact' and is unreliable (no alarm, no baseline).
    assert all(r.reliable for r in spo2), [sorted(f.value for f in r.flags) for r in spo2]
