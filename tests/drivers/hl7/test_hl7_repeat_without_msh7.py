"""A message sent again after a lost ACK is the same message; a sender that leaves MSH-7 empty and numbers every
message alike (a required field missing) sends new values each time, and they are taken."""

from __future__ import annotations

from drivers.hl7.listener import Hl7Decoder
from drivers.transport.mllp import frame

T0 = 1_700_000_000.0


def _message(spo2: int, stamp: str = "") -> bytes:
    segments = [
        f"MSH|^~\\&|MON|ICU|IM|CLINIC|{stamp}||ORU^R01^ORU_R01|1|P|2.6",
        "PID|||MRN123^^^H^MR",
        f"OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||{spo2}|%|||||F",
    ]
    return frame("\r".join(segments) + "\r")


def test_new_values_under_the_same_control_id_without_msh7_are_taken() -> None:
    decoder = Hl7Decoder()
    taken = [r.value for i, spo2 in enumerate((97, 93, 86, 84)) for r in decoder.feed(_message(spo2), T0 + i)]
    assert taken == [97.0, 93.0, 86.0, 84.0]


def test_a_message_sent_again_stores_nothing() -> None:
    decoder = Hl7Decoder()
    assert len(decoder.feed(_message(97, "20231114221320+0000"), T0)) == 1
    assert decoder.feed(_message(97, "20231114221320+0000"), T0 + 1) == []
    assert decoder.results[-1].repeat
    assert len(decoder.feed(_message(97), T0 + 2)) == 1
    assert decoder.feed(_message(97), T0 + 3) == []
