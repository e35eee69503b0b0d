"""MSH-11 (processing ID, HL7 table 0103): P production, T training, D debugging. A training or debugging message
carries no patient's values: they are kept as test data, never judged by the alarms or taken into the baseline."""

from __future__ import annotations

import pytest

from drivers.core.readings import Flag
from drivers.hl7.listener import Hl7Decoder
from drivers.transport.mllp import frame

T0 = 1_700_000_000.0
STAMP = "20231114221320+0000"


def _message(processing: str) -> bytes:
    segments = [
        f"MSH|^~\\&|MON|ICU|IM|CLINIC|{STAMP}||ORU^R01^ORU_R01|M1|{processing}|2.6",
        "PID|||MRN123^^^H^MR",
        f"OBR|1|||x|||{STAMP}",
        "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||84|%|||||F",
    ]
    return frame("\r".join(segments) + "\r")


@pytest.mark.parametrize("processing", ["T", "D", "T^A"])
def test_training_and_debugging_messages_are_not_patient_values(processing: str) -> None:
    (reading,) = Hl7Decoder().feed(_message(processing), T0)
    assert Flag.TEST_DATA in reading.flags
    assert not reading.reliable


@pytest.mark.parametrize("processing", ["P", ""])
def test_production_messages_are_patient_values(processing: str) -> None:
    (reading,) = Hl7Decoder().feed(_message(processing), T0)
    assert reading.reliable
