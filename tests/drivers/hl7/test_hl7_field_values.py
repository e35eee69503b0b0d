"""What MSH and OBX fields say about a value, read as HL7 v2 defines them.

OBX-5 of an NM value is an optional sign, ASCII digits and an optional decimal point (data type NM). MSH-11
(processing ID, HL7 table 0103): P production, T training, D debugging; a training or debugging message carries no
patient's values: they are kept as test data, never judged by the alarms or taken into the baseline."""

from __future__ import annotations

import pytest

from drivers.core.readings import Flag
from drivers.hl7.listener import Hl7Decoder
from drivers.transport.mllp import frame

T0 = 1_700_000_000.0
STAMP = "20231114221320+0000"


def _hr(value: str, processing: str = "P") -> bytes:
    segments = [
        f"MSH|^~\\&|MON|ICU|IM|CLINIC|{STAMP}||ORU^R01^ORU_R01|M1|{processing}|2.6",
        "PID|||MRN123^^^H^MR",
        f"OBR|1|||x|||{STAMP}",
        f"OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC||{value}|/min|||||F",
    ]
    return frame("\r".join(segments) + "\r")


@pytest.mark.parametrize("text", ["1e2", "1_52", "١٥٢", "１５２"])
def test_a_value_that_is_not_an_hl7_number_is_not_taken(text: str) -> None:
    decoder = Hl7Decoder()
    readings = decoder.feed(_hr(text), T0)
    assert [r.value for r in readings if r.value is not None] == []
    assert decoder.results[-1].ack_code == "AE"


@pytest.mark.parametrize(("text", "number"), [("152", 152.0), ("+152", 152.0), ("152.", 152.0), ("72.5", 72.5)])
def test_hl7_numbers_are_read(text: str, number: float) -> None:
    readings = Hl7Decoder().feed(_hr(text), T0)
    assert [r.value for r in readings] == [number]


@pytest.mark.parametrize("text", ["152~88", "152^88"])
def test_an_nm_field_holding_two_values_is_not_read_as_the_first(text: str) -> None:
    decoder = Hl7Decoder()
    readings = decoder.feed(_hr(text), T0)
    assert [r.value for r in readings if r.value is not None] == []
    assert decoder.results[-1].ack_code == "AE"


@pytest.mark.parametrize("processing", ["T", "D", "T^A"])
def test_training_and_debugging_messages_are_not_patient_values(processing: str) -> None:
    (reading,) = Hl7Decoder().feed(_hr("84", processing), T0)
    assert Flag.TEST_DATA in reading.flags
    assert not reading.reliable


@pytest.mark.parametrize("processing", ["P", ""])
def test_production_messages_are_patient_values(processing: str) -> None:
    (reading,) = Hl7Decoder().feed(_hr("84", processing), T0)
    assert reading.reliable
