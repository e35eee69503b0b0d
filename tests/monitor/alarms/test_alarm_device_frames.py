"""Alarms from frames as real devices send them, through the real decoders: layouts the project's own emulators
never produce (a GE B40's two respiration rates in one HL7 message, a Nonin's per-beat artifact bit)."""

from __future__ import annotations

import time

from drivers.hl7.listener import Hl7Decoder
from drivers.masimo.codec import MasimoAsciiDecoder
from drivers.nonin.codec import ARTF, NoninDecoder, encode_packet
from tests.monitor.alarms.conftest import Bed


def _stamp(t: float) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(t)) + "+0000"


def _b40_minute(bed: Bed, airway: str, impedance: str) -> None:
    """A minute of GE B40 messages every 5 s, both respiration rates as MDC_RESP_RATE (OBX-5|OBX-6|...|OBX-11)."""
    decoder = Hl7Decoder()
    start = bed.now
    for n in range(13):
        at = start + 5 * n
        text = "\r".join([
            f"MSH|^~\\&|VSP^080019FFFE134535^EUI-64|GE Healthcare|||{_stamp(at)}||ORU^R01^ORU_R01|B{n}|P|2.6",
            "PID|||HED12^^^PID^MR",
            f"OBR|1|X^VSP|X^VSP|182777000^monitoring of patient^SCT|||{_stamp(at)}",
            f"OBX|45|NM|151562^MDC_RESP_RATE^MDC|1.20.1.1|{airway}",
            f"OBX|47|NM|151562^MDC_RESP_RATE^MDC|1.6.1.1|{impedance}",
        ])
        bed.decoded(decoder.process_text(text, at).readings, at)


RPM = "264928^MDC_DIM_RESP_PER_MIN^MDC"


def test_a_b40_sending_airway_and_impedance_rr_raises_rr_low_for_an_airway_rr_of_6(bed: Bed) -> None:
    """GE B40/B20 HL7 Reference Manual (2062665-001 G, the PCD-01 example): MDC_RESP_RATE twice in one message,
    from the airway module (OBX-4 1.20.1.1) and from the ECG leads (1.6.1.1), no OBX-14. Airway RR 6/min for a
    minute must raise rr_low (high priority) whatever the impedance RR says after it."""
    _b40_minute(bed, f"6|{RPM}|||||R", f"30|{RPM}|||||R")
    assert bed.logged("rr_low"), "no RR < 8 alarm during a minute of airway RR 6/min"


def test_a_b40_whose_airway_rr_is_unavailable_gives_the_impedance_rr(bed: Bed) -> None:
    """No capnography line (the airway RR sent with OBX-11 X): the RR from the ECG leads is the respiration
    data, so no "no respiration value" alarm while it comes."""
    _b40_minute(bed, f"|{RPM}|||||X", f"14|{RPM}|||||R")
    assert not bed.logged("no_data"), [(r.condition, r.message) for r in bed.logged("no_data")]


def _packet_with_one_artifact_frame(spo2: float, pr: float) -> bytes:
    """A format #2 packet whose frame 7 of 25 has ARTF set (one beat off the pulse interval)."""
    raw = bytearray(encode_packet(spo2, pr, [128] * 25))
    i = 5 * 7
    raw[i + 1] |= ARTF
    raw[i + 4] = sum(raw[i: i + 4]) & 0xFF
    return bytes(raw)


def test_a_desaturation_with_an_irregular_beat_in_every_packet_raises_the_spo2_alarm(bed: Bed) -> None:
    """Nonin format #2: ARTF marks a beat, not the averaged SpO2. 90 s at 85 % with one such beat in each packet
    (an irregular rhythm) must alarm as 85 % does without it."""
    decoder = NoninDecoder()
    start = bed.now
    for second in range(90):
        at = start + second
        bed.decoded(decoder.feed(_packet_with_one_artifact_frame(85, 72) * 3, at), at)
    active = sorted(a.condition for a in bed.snapshot().active if a.parameter == "spo2")
    assert any(c.startswith("spo2_low") for c in active), active


#: A Rad-8's lines as captured from a real device (yahnatan/pulseox; remkolems/masimo-datacapture): a good
#: reading, and the sensor-off record (dashes, EXC 0x1) it sends while the probe is off the finger.
RAD8_GOOD = (
    b"02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- "
    b"ALARM=0000 EXC=000800\r\n"
)
RAD8_NO_SENSOR = b"03/19/16 13:37:12 SN=0000093112 SPO2=---% BPM=--- DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000001\r\n"


def _rad8_seconds(bed: Bed, pattern: list[bytes], seconds: int) -> None:
    decoder = MasimoAsciiDecoder()
    start = bed.now + 1
    for i in range(seconds):
        at = start + i
        bed.decoded(decoder.feed(pattern[i % len(pattern)], at), at)


def test_a_probe_that_drops_out_every_six_seconds_keeps_one_alarm_that_rises_in_the_infusion(bed: Bed) -> None:
    """A loose Rad-8 probe: one sensor-off line in six for two minutes. One technical alarm, not one per
    drop-out; it is lost data for the whole time, so in the infusion it rises to high after 60 s."""
    bed.take_baseline()
    _rad8_seconds(bed, [RAD8_NO_SENSOR] + [RAD8_GOOD] * 5, 121)  # ends on a sensor-off line
    (row,) = bed.logged("sensor_off")
    assert row.ended_at is None
    assert row.priority.label == "high"
    assert row.escalations[-1].at - row.started_at <= 66
    # Back on the finger: the alarm ends after the end hold with good lines, at the 6th of them.
    _rad8_seconds(bed, [RAD8_GOOD], 10)
    (row,) = bed.logged("sensor_off")
    hold = bed.engine.profile.end_hold_s
    back = bed.now - 10 + 1
    assert row.ended_at == back + hold
    assert bed.shown("sensor_off") is None


def test_dashes_after_the_sensor_off_line_do_not_end_its_alarm(bed: Bed) -> None:
    """Dashes without the sensor-off bit are still no value: the probe is not back until its values are."""
    dashes = RAD8_NO_SENSOR.replace(b"EXC=000001", b"EXC=000000")
    _rad8_seconds(bed, [RAD8_NO_SENSOR] * 3 + [dashes] * 20, 23)
    assert bed.shown("sensor_off") is not None
    assert not bed.logged("no_data"), "the probe's own alarm already says why there is no value"
