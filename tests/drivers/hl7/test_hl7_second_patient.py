"""An ORU^R01 may hold several PATIENT_RESULT groups (PID, then its OBR/OBX); a session takes one patient's."""

from __future__ import annotations

from drivers.core.readings import Parameter
from drivers.hl7.listener import Hl7Decoder
from drivers.transport.mllp import frame

T0 = 1_700_000_000.0
STAMP = "20231114221320+0000"


def _two_patients() -> bytes:
    segments = [
        f"MSH|^~\\&|MON|ICU|IM|CLINIC|{STAMP}||ORU^R01^ORU_R01|M2|P|2.6",
        "PID|||MRN123^^^H^MR",
        f"OBR|1|||x|||{STAMP}",
        "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||97|%|||||F",
        "PID|||MRN999^^^H^MR",
        f"OBR|1|||x|||{STAMP}",
        "OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC||180|/min|||||F",
    ]
    return frame("\r".join(segments) + "\r")


def test_values_under_another_patients_pid_are_not_taken() -> None:
    decoder = Hl7Decoder()
    decoder.gate.identify("MRN123")
    readings = decoder.feed(_two_patients(), T0)
    # The heart rate belongs to MRN999 (the second PATIENT_RESULT group), not to this session's patient.
    assert [r.parameter for r in readings if r.parameter is Parameter.HR] == []


def test_a_message_naming_two_patients_is_refused_before_any_binding() -> None:
    decoder = Hl7Decoder()
    assert decoder.feed(_two_patients(), T0) == []
    (result,) = decoder.results
    assert result.ack_code == "AR"
    assert "more than one patient" in result.problems[0].text
