"""Two ORU^R01 messages in one MLLP block (a gateway that does not wait for each ACK) are two messages: each is
read and answered, the second is not folded into the first as a repeated value."""

from __future__ import annotations

from drivers.hl7.listener import Hl7Decoder
from drivers.transport.mllp import MllpDeframer, frame

T0 = 1_700_000_000.0


def _message(control: str, stamp: str, spo2: int) -> list[str]:
    return [
        f"MSH|^~\\&|MON|ICU|IM|CLINIC|{stamp}||ORU^R01^ORU_R01|{control}|P|2.6",
        "PID|||MRN123^^^H^MR",
        "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||" + str(spo2) + "|%|||||F",
    ]


def test_each_message_of_a_block_is_read_and_answered() -> None:
    decoder = Hl7Decoder()
    block = _message("M1", "20231114221310+0000", 97) + _message("M2", "20231114221315+0000", 84)
    readings = decoder.feed(frame("\r".join(block) + "\r"), T0)
    assert sorted((r.value, r.t - T0) for r in readings) == [(84.0, -5.0), (97.0, -10.0)]
    acks = [a.decode() for a in MllpDeframer().feed(decoder.outgoing(T0))]
    assert ["MSA|AA|M1" in a for a in acks] == [True, False]
    assert ["MSA|AA|M2" in a for a in acks] == [False, True]
