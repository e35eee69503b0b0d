"""ORU^R01 messages as real monitors and gateways put them on the wire, through the hl7-mllp decoder."""

from __future__ import annotations

from drivers.core.readings import Flag, Parameter
from drivers.hl7.listener import Hl7Decoder

AT = 1_785_156_264.0  # 2026-07-27 12:44:24 UTC, the MSH-7 of the capture below

# A Mindray VS8 in demo mode, captured on the wire (IHE PCD-01 over MLLP, HL7 2.6): the monitor marks every
# simulated value with OBX-8 (abnormal flags) = DEMO. Byte-exact apart from the segment separators.
MINDRAY_VS8_DEMO = "\r".join([
    "MSH|^~\\&|MINDRAY_VS_SERIES^00A037009B023649^EUI-64|MINDRAY|||20260727124424.0000+0000"
    "||ORU^R01^ORU_R01|1|P|2.6|||AL|NE||UNICODE UTF-8"
    "|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
    "PID|||99999^^^Hospital^PI||^^^^^^L|||||unknownrace",
    "PV1||I",
    "OBR|1|1^MINDRAY_VS_SERIES^00A037009B023649^EUI-64||182777000^monitoring of patient^SCT",
    "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.150456|77|262688^MDC_DIM_PERCENT^MDC||DEMO|||R",
    "OBX|2|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.3.1.149530|50|264864^MDC_DIM_BEAT_PER_MIN^MDC||DEMO|||R",
    "OBX|3|NM|150488^MDC_BLD_PERF_INDEX^MDC|1.3.1.150488|3.06|262688^MDC_DIM_PERCENT^MDC||DEMO|||R",
    "OBX|4|NM|151658^MDC_PULS_OXIM_PLETH_RESP_RATE^MDC|1.3.1.151658|12|264928^MDC_DIM_RESP_PER_MIN^MDC||DEMO|||R",
])


def test_a_mindray_monitor_in_demo_mode_is_not_stored_as_the_patients_values() -> None:
    result = Hl7Decoder().process_text(MINDRAY_VS8_DEMO, AT)
    taken = {r.parameter: r for r in result.readings}
    assert set(taken) == {Parameter.SPO2, Parameter.PR}
    # An SpO2 of 77 % from the monitor's demo generator must carry the demo mark (as an IntelliVue's
    # demo values do), so it is never judged as the patient's desaturation nor taken into the baseline.
    assert all(Flag.DEMO_DATA in r.flags for r in taken.values()), {p: sorted(r.flags) for p, r in taken.items()}
    assert not any(r.reliable for r in taken.values())


def _stamp(t: float) -> str:
    import time

    return time.strftime("%Y%m%d%H%M%S", time.gmtime(t)) + "+0000"


def _vs8(control_id: str, t: float, spo2: int) -> str:
    # The VS8's layout above, live (no DEMO), with the monitor's message counter in MSH-10 (its first message is 1).
    return "\r".join([
        f"MSH|^~\\&|MINDRAY_VS_SERIES^00A037009B023649^EUI-64|MINDRAY|||{_stamp(t)}"
        f"||ORU^R01^ORU_R01|{control_id}|P|2.6|||AL|NE||UNICODE UTF-8"
        "|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
        "PID|||99999^^^Hospital^PI||^^^^^^L|||||unknownrace",
        "PV1||I",
        f"OBR|1|{control_id}^MINDRAY_VS_SERIES^00A037009B023649^EUI-64||182777000^monitoring of patient^SCT"
        f"|||{_stamp(t)}",
        f"OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.150456|{spo2}|262688^MDC_DIM_PERCENT^MDC|||||R|||{_stamp(t)}",
    ])


def test_a_monitor_whose_message_counter_starts_again_is_not_taken_for_a_repeat() -> None:
    # A monitor numbers its messages from 1 (MSH-10 and OBR-2 of the capture above); switched off and on again
    # during the session (a battery change, the patient moved), it numbers them from 1 again. A message sent
    # again after a lost ACK is the same message (same MSH-10 and MSH-7); a new message with a reused number
    # is not, and its values are the patient's now.
    decoder = Hl7Decoder()
    start = AT
    for n in range(1, 4):
        result = decoder.process_text(_vs8(str(n), start + 5 * n, 97), start + 5 * n)
        assert [r.value for r in result.readings] == [97.0]
    later = start + 600  # the monitor was off for ten minutes
    result = decoder.process_text(_vs8("1", later, 84), later)
    assert result.ack_code == "AA"
    # Before: answered AA 'as before' and stored nothing - the desaturation to 84 % is lost, and so is every
    # value until the counter passes the number it had reached before the restart.
    assert [r.value for r in result.readings] == [84.0], (result.repeat, result.readings)


def test_a_message_sent_again_after_a_lost_ack_is_still_stored_once() -> None:
    decoder = Hl7Decoder()
    text = _vs8("7", AT, 95)
    first = decoder.process_text(text, AT)
    again = decoder.process_text(text, AT + 30)
    assert [r.value for r in first.readings] == [95.0]
    assert again.readings == [] and again.ack_code == "AA"


def test_a_message_sent_again_with_a_new_msh7_is_stored_once_and_answered_as_before() -> None:
    # Some senders build the header anew for every attempt: the resend after a lost ACK carries the same MSH-10
    # and the same observations (their own OBR-7 and OBX-14), only MSH-7 is the time of sending.
    decoder = Hl7Decoder()
    first_text = _vs8("12", AT, 93)
    resent = first_text.replace(f"|||{_stamp(AT)}||ORU", f"|||{_stamp(AT + 10)}||ORU", 1)
    assert resent != first_text and resent.split("\r")[1:] == first_text.split("\r")[1:]
    first = decoder.process_text(first_text, AT)
    again = decoder.process_text(resent, AT + 10)
    assert [r.value for r in first.readings] == [93.0]
    assert (again.repeat, again.readings, again.ack_code) == (True, [], "AA")
    # The same number with other observations is a new message (the counter started again).
    restarted = decoder.process_text(_vs8("12", AT + 20, 91), AT + 20)
    assert [r.value for r in restarted.readings] == [91.0]


def test_a_pcd01_message_whose_values_were_kept_is_committed_with_ca() -> None:
    # IHE PCD-01 senders ask for the accept acknowledgment only (MSH-15 AL, MSH-16 NE), as the VS8 above does.
    # HL7 v2: a positive accept acknowledgment (CA) means the receiver committed the message to safe storage and
    # releases the sender from resending it; CE means it did not, and the sender must send it again.
    # A Mindray XH80X sends -999 for a value it has not (here HR, no ECG leads on) beside the values it has.
    hr = f"OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.7.4.147842|-999|264864^MDC_DIM_BEAT_PER_MIN^MDC||||||||{_stamp(AT)}"
    text = _vs8("41", AT, 96) + "\r" + hr
    decoder = Hl7Decoder()
    first = decoder.process_text(text, AT)
    assert [r.value for r in first.readings if r.parameter is Parameter.SPO2] == [96.0]  # committed: SpO2 kept
    # Sent again, as CE asks: nothing stored (it is a repeat), and answered CE again - the sender is never released.
    again = decoder.process_text(text, AT + 5)
    codes = [a.split("\r")[1].split("|")[1] for a in (first.ack, again.ack)]
    assert codes == ["CA", "CA"], codes


# A Mindray eGateway's periodic PCD-01 message (HL7 2.6, times with their offset), as published; the RR
# measured by the ECG leads' impedance is MDC_TTHOR_RESP_RATE (151578), beside the RR derived from the pleth.
MINDRAY_EGATEWAY = "\r".join([
    "MSH|^~\\&|MINDRAY_EGATEWAY^00A03700273EDE18^EUI-64|MINDRAY|||20260912120000.0000+0530||ORU^R01^ORU_R01|23545"
    "|P|2.6|||AL|NE||UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
    "PID|||^^^Hospital^PI|JOHN SMITH|||||unknownrace",
    "PV1||I|ICU^^5^XYZ HOSPITAL^^^^^00-0F-14-50-72-99",
    "OBR|1|23545^MINDRAY_EGATEWAY^00A03700273EDE18^EUI-64|23545^MINDRAY_EGATEWAY^00A03700273EDE18^EUI-64"
    "|182777000^monitoring of patient^SCT|||20260912120000.0000+0530",
    "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.150456|98|262688^MDC_DIM_PERCENT^MDC|||||R|||"
    "20260912120000.0000+0530||||000F14049B507238^BIG_DIPPER^000F14049B507238^EUI-64",
    "OBX|2|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.3.1.149530|65|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||"
    "20260912120000.0000+0530",
    "OBX|3|NM|150488^MDC_BLD_PERF_INDEX^MDC|1.3.1.150488|1.76|262688^MDC_DIM_PERCENT^MDC|||||R|||"
    "20260912120000.0000+0530",
    "OBX|4|NM|151658^MDC_PULS_OXIM_PLETH_RESP_RATE^MDC|1.3.1.151658|19|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R|||"
    "20260912120000.0000+0530",
    "OBX|5|NM|151578^MDC_TTHOR_RESP_RATE^MDC|1.7.1.151578|17|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R|||"
    "20260912120000.0000+0530",
    "OBX|13|NM|147842^MDC_ECG_HEART_RATE^MDC|1.7.4.147842|66|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||"
    "20260912120000.0000+0530",
])


def test_a_mindray_gateways_impedance_respiration_rate_is_recorded() -> None:
    sent = 1_789_194_600.0  # 2026-09-12 12:00 +05:30
    result = Hl7Decoder().process_text(MINDRAY_EGATEWAY, sent + 3)
    taken = {r.parameter: r.value for r in result.readings}
    assert taken[Parameter.SPO2] == 98 and taken[Parameter.HR] == 66
    # Before: answered AA and the RR dropped as an unknown code - the ventilation rules (RR < 8, no breath)
    # never see this monitor's respiration rate.
    assert taken.get(Parameter.RR) == 17, (result.ack_code, taken)
