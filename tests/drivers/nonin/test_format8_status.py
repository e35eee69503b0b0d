"""Nonin data format #8 against the vendor's layout (Nonin 9560 Bluetooth Specification, p.16-17).

Byte 1 STATUS: bit 7 always 1, bit 6 reserved, bit 5 OOT, bit 4 LPRF (low perfusion), bit 3 MPRF
(marginal perfusion), bit 2 ARTF, bits 1-0 HR bits 8-7. Byte 2 HR-D, byte 3 SpO2-D. Byte 4 STATUS2:
bit 5 SPA, bit 3 SNSA (sensor alarm), bit 0 low battery. The values are the display values: when the
finger is removed the last SpO2 and pulse rate are sent for 10 s with SNSA set. The bytes below are
built from that table, not from this project's encoder.
"""

from __future__ import annotations

from drivers.core.readings import Flag, Parameter, Reading
from drivers.nonin.codec import NoninDecoder


def _decode(record: bytes) -> dict[Parameter, Reading]:
    decoder = NoninDecoder(data_format=8)
    readings = decoder.feed(record * 3, 1.0)
    assert decoder.counters.frames_rejected == 0
    return {r.parameter: r for r in readings}


def test_finger_removed_sensor_alarm_makes_the_held_values_unreliable() -> None:
    # 80: no status bits, HR 72 (0x48), SpO2 97 (0x61), STATUS2 08: SNSA, the finger is out.
    got = _decode(bytes.fromhex("80 48 61 08"))
    spo2 = got[Parameter.SPO2]
    assert not spo2.reliable, f"held SpO2-D {spo2.value} with SNSA set is taken as reliable ({spo2.flags})"
    assert not got[Parameter.PR].reliable


def test_low_perfusion_is_low_perfusion_not_out_of_track() -> None:
    # 90: LPRF (bit 4); SpO2 85 %: a real low reading in a poorly perfused finger must still count.
    got = _decode(bytes.fromhex("90 48 55 00"))
    spo2 = got[Parameter.SPO2]
    assert spo2.value == 85.0
    assert Flag.LOW_PERFUSION in spo2.flags
    assert Flag.OUT_OF_TRACK not in spo2.flags
    assert spo2.reliable, f"SpO2 85 % with low perfusion is judged unreliable ({spo2.flags}): no desaturation alarm"


def test_out_of_track_makes_the_values_unreliable() -> None:
    # A0: OOT (bit 5), a sustained period of artifact.
    got = _decode(bytes.fromhex("A0 48 61 00"))
    spo2 = got[Parameter.SPO2]
    assert Flag.OUT_OF_TRACK in spo2.flags
    assert not spo2.reliable


def test_marginal_perfusion_and_artifact_bits() -> None:
    got = _decode(bytes.fromhex("8C 48 61 00"))  # MPRF (bit 3) and ARTF (bit 2)
    flags = got[Parameter.SPO2].flags
    assert Flag.PERFUSION_MARGINAL in flags
    assert Flag.SENSOR_ALARM not in flags
    assert Flag.QUESTIONABLE in flags  # a beat's artifact, as in format #2
