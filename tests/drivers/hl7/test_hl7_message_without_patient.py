"""Once the session's patient is identified, a message that names no patient (no PID, or an empty PID-3) is refused.

A gateway that serves several beds under one MSH-3^MSH-4 sends a bed without an admitted patient with no PID: its
values (here SpO2 80 %, pulse 40) are another person's and must never reach this patient's display, alarms and
record. Every exchange is written out byte for byte: what the listener answers, then what the gateway sends.
"""

from __future__ import annotations

import socket
import time

from drivers.base import LinkEventKind
from drivers.hl7.listener import Hl7Decoder, Hl7MllpSource, Hl7Settings
from drivers.transport.mllp import frame
from tests.drivers.exchange import expected_protocol
from tests.drivers.sockets import mllp_answer

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
STAMP = "20231114221320+0000"

#: An IntelliVue Information Center's MSH (IHE PCD-01, MDIL codes), as in the gateway tests.
PIIC_MSH = (
    "MSH|^~\\&|PIIC^0009FB0000000001^EUI-64|PHILIPS|||{stamp}||ORU^R01^ORU_R01|{control}|P|2.6|||||8859/1"
    "|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
)


def piic(control: str, spo2: int, pulse: int, pid: str | None) -> bytes:
    """One periodic ORU^R01 of the gateway for one bed; ``pid`` None leaves the PID segment out."""
    segments = [PIIC_MSH.format(stamp=STAMP, control=control)]
    if pid is not None:
        segments.append(pid)
    segments += [
        "PV1||I|ICU^^BED1",
        f"OBR|1|{control}^PIIC||182777000^monitoring of patient^SCT|||{STAMP}",
        f"OBX|1|NM|0002-4bb8^SpO2^MDIL||{spo2}|0004-0220^%^MDIL|||||R",
        f"OBX|2|NM|0002-4822^Pulse^MDIL||{pulse}|0004-0aa0^bpm^MDIL|||||R",
    ]
    return frame("\r".join(segments) + "\r")


ACK_HEAD = "\x0bMSH|^~\\&|INFUSION-MONITOR||PIIC^0009FB0000000001^EUI-64|PHILIPS|{stamp}||ACK^R01^ACK|{ack_id}|P|2.6\r"
REASON = "the message names no patient (no PID-3) and this session's patient is identified"


def accepted(stamp: str, ack_id: str, control: str) -> bytes:
    return (ACK_HEAD.format(stamp=stamp, ack_id=ack_id) + f"MSA|AA|{control}\r\x1c\r").encode()


def refused(stamp: str, ack_id: str, control: str) -> bytes:
    return (
        ACK_HEAD.format(stamp=stamp, ack_id=ack_id)
        + f"MSA|AR|{control}|{REASON}\r"
        + f"ERR||PID^1^3|204^Unknown key identifier^HL70357|E||||{REASON}\r\x1c\r"
    ).encode()


def test_a_message_without_pid_from_the_bound_gateway_is_refused_once_the_patient_is_identified() -> None:
    decoder = Hl7Decoder()
    decoder.gate.identify("MRN100")
    exchanges = [
        (T0, b"", piic("A1", 97, 70, "PID|||MRN100^^^HOSP^MR||Doe^Jane")),
        # The same gateway, the same sender name, another bed with nobody admitted: no PID segment.
        (T0 + 1, accepted("20231114221320+0000", "IM700000000000001", "A1"), piic("A2", 80, 40, None)),
        # A PID whose PID-3 is empty names nobody either.
        (T0 + 2, refused("20231114221321+0000", "IM700000001000002", "A2"), piic("A3", 80, 40, "PID|||^^^HOSP^MR")),
        (T0 + 3, refused("20231114221322+0000", "IM700000002000003", "A3"),
         piic("A4", 96, 71, "PID|||MRN100^^^HOSP^MR")),
        (T0 + 4, accepted("20231114221323+0000", "IM700000003000004", "A4"), b""),
    ]
    with expected_protocol(decoder, exchanges) as talk:
        talk.play()
    assert sorted((r.parameter.value, r.value) for r in talk.readings) == [
        ("pr", 70.0), ("pr", 71.0), ("spo2", 96.0), ("spo2", 97.0),
    ]
    assert [r.refusal.condition for r in decoder.take_refusals() if r.refusal] == ["hl7_no_patient"] * 2
    assert decoder.rejects == 2


def test_before_the_patient_is_identified_a_message_without_pid_is_still_taken() -> None:
    # Many monitors send no PID until a patient is admitted at them; the session then binds to the sender alone.
    decoder = Hl7Decoder()
    with expected_protocol(decoder, [
        (T0, b"", piic("B1", 95, 66, None)),
        (T0 + 1, accepted("20231114221320+0000", "IM700000000000001", "B1"), b""),
    ]) as talk:
        talk.play()
    assert len(talk.readings) == 2


def test_a_mindray_monitor_asking_for_a_commit_ack_gets_cr_for_a_message_without_pid() -> None:
    # A Mindray VS8 asks for the commit ACK only (MSH-15 AL, MSH-16 NE): a refused message is answered CR.
    msh = (
        "MSH|^~\\&|MINDRAY_VS_SERIES^00A037009B023649^EUI-64|MINDRAY|||20231114221320+0000"
        "||ORU^R01^ORU_R01|{n}|P|2.6|||AL|NE||UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
    )
    obx = "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.150456|{spo2}|262688^MDC_DIM_PERCENT^MDC|||||R"

    def vs8(n: int, spo2: int, pid: str | None) -> bytes:
        segments = [msh.format(n=n), *([pid] if pid else []), "PV1||I", obx.format(spo2=spo2)]
        return frame("\r".join(segments))

    head = (
        "\x0bMSH|^~\\&|INFUSION-MONITOR||MINDRAY_VS_SERIES^00A037009B023649^EUI-64|MINDRAY|{stamp}||ACK^R01^ACK"
        "|{ack_id}|P|2.6\r"
    )
    decoder = Hl7Decoder()
    decoder.gate.identify("99999")
    commit_refused = (
        head.format(stamp="20231114221321+0000", ack_id="IM700000001000002")
        + f"MSA|CR|2|{REASON}\rERR||PID^1^3|204^Unknown key identifier^HL70357|E||||{REASON}\r\x1c\r"
    ).encode()
    with expected_protocol(decoder, [
        (T0, b"", vs8(1, 97, "PID|||99999^^^Hospital^PI||^^^^^^L|||||unknownrace")),
        (T0 + 1, (head.format(stamp="20231114221320+0000", ack_id="IM700000000000001") + "MSA|CA|1\r\x1c\r").encode(),
         vs8(2, 80, None)),
        (T0 + 2, commit_refused, b""),
    ]) as talk:
        talk.play()
    assert [r.value for r in talk.readings] == [97.0]


def test_the_refusal_is_a_technical_event_on_the_timeline() -> None:
    source = Hl7MllpSource(Hl7Settings("127.0.0.1", 0))
    source.open()
    try:
        source.set_patient("MRN100")
        with socket.create_connection(source.address, timeout=5) as gateway:
            assert b"MSA|AA|A1\r" in mllp_answer(gateway, piic("A1", 97, 70, "PID|||MRN100^^^HOSP^MR"))
            assert b"MSA|AR|A2|" in mllp_answer(gateway, piic("A2", 80, 40, None))
        events = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not events:
            events = [e for e in source.take_link_events() if e.kind is LinkEventKind.TECHNICAL]
            time.sleep(0.02)
        assert [e.condition for e in events] == ["hl7_no_patient"]
        assert events[0].detail.startswith("HL7 message A2 from PIIC^PHILIPS (127.0.0.1:")
        assert events[0].detail.endswith(f"refused: {REASON}")
        assert source.counters.frames_rejected == 1
    finally:
        source.close()
