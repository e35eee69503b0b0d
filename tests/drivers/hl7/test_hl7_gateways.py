"""HL7 ORU^R01 laid out as real monitors and gateways send it (vendors' published examples), through the hl7-mllp
decoder: layouts the project's own HL7 sender never produces."""

from __future__ import annotations

import time

from drivers.core.readings import Parameter
from drivers.hl7.listener import Hl7Decoder

AT = 1_765_000_000.0


def stamp(t: float) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(t)) + "+0000"


def message(control_id: str, sent: float, *obx: str) -> str:
    return "\r".join([
        f"MSH|^~\\&|GW|ACME|||{stamp(sent)}||ORU^R01^ORU_R01|{control_id}|P|2.6",
        "PID|||12345^^^H^MR",
        "OBR|1|||182777000^monitoring of patient^SCT",
        *obx,
    ])


def test_a_structured_numeric_value_is_not_acknowledged_as_taken_and_stored_as_missing() -> None:
    # OBX-2 SN (structured numeric: comparator^number): SpO2 97 % sent as '^97'.
    obx = "OBX|1|SN|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.1|^97|262688^MDC_DIM_PERCENT^MDC|||||F"
    result = Hl7Decoder().process_text(message("M1", AT - 1, obx), AT)
    (reading,) = result.readings
    # Either the value 97 is taken, or the sender is told it was not (AE naming OBX-2/OBX-5).
    # Before: answered AA and stored as a gap marked 'unavailable' (the 97 is lost, the sender is told all is well).
    assert reading.value == 97 or result.ack_code != "AA", (result.ack_code, reading)


def test_a_cuff_result_repeated_in_each_periodic_message_without_its_own_time_is_stored_once() -> None:
    # A gateway that repeats the last NIBP in every periodic message, stamped only by MSH-7.
    decoder = Hl7Decoder()
    stored = []
    for n in range(4):
        at = AT + 5 * n
        obx = "OBX|1|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.3.1.1|182|266016^MDC_DIM_MMHG^MDC|||||F"
        result = decoder.process_text(message(f"M{n}", at, obx), at)
        stored += [r for r in result.readings if r.parameter is Parameter.NIBP_SYS]
    # Before: four cuff measurements 5 s apart are stored (a cuff takes ~30-40 s; the cuff age resets
    # every message, so a failing cuff never becomes 'NIBP overdue').
    assert len(stored) == 1, [(r.t - AT, r.value) for r in stored]


def test_a_b40_message_with_two_respiration_rates_gives_one_rr() -> None:
    # GE B40/B20 HL7 Reference Manual 2062665-001 G, p.24 (PCD-01 example): the same MDC code 151562
    # MDC_RESP_RATE is sent twice in one message, once under the airway VMD (OBX-4 1.20.1.1) and once
    # under the ECG-impedance VMD (1.6.1.1), with different values, no OBX-14, time from OBR-7.
    sent = AT - 2
    text = "\r".join([
        f"MSH|^~\\&|VSP^080019FFFE134535^EUI-64|GE Healthcare|||{stamp(sent)}||ORU^R01^ORU_R01|004097134535|P|2.6"
        "|||NE|AL||UNICODE UTF-8|||PCD_DEC_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
        "PID|||HED12^^^PID^MR||LAZY^KITTY^^^^^L|||",
        "PV1||R|SURGERY^^V2",
        f"OBR|1|X^VSP|X^VSP|182777000^monitoring of patient^SCT|||{stamp(sent)}",
        "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X",
        "OBX|44||69682^MDC_DEV_ANALY_AWAY_MULTI_PARAM_VMD^MDC|1.20.0.0|||||||X",
        "OBX|45|NM|151562^MDC_RESP_RATE^MDC|1.20.1.1|6|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R|||||||080019FFFE0B4020^B40_GE",
        "OBX|46||70666^MDC_DEV_ECG_RESP_VMD^MDC|1.6.0.0|||||||X",
        "OBX|47|NM|151562^MDC_RESP_RATE^MDC|1.6.1.1|30|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R|||||||080019FFFE0B4020^B40_GE",
    ])
    result = Hl7Decoder().process_text(text, AT)
    rr = [(r.t - AT, r.value) for r in result.readings if r.parameter is Parameter.RR]
    # Before: two RR readings with the same time and different values (6 and 30); whichever the
    # monitor takes last (30, the impedance one) hides the airway RR of 6/min (RR < 8 is a high alarm).
    assert len(rr) == 1, rr


def test_the_cuffs_pulse_rate_is_not_recorded_as_the_oximeter_pulse_rate() -> None:
    # A PCD-01 message with the NIBP channel's pulse (MDC_PULS_RATE_NON_INV 149546, a spot value from
    # the last cuff) and the oximeter's pulse (MDC_PULS_OXIM_PULS_RATE 149530, live).  The DINAMAP and
    # IntelliVue drivers deliberately drop the cuff's pulse (README: "a cuff's rate is not a pulse-oximeter
    # pulse, and there is no cuff-pulse value"; IntelliVue 0xF0E5 is 'known unused').
    text = message(
        "P1", AT - 1,
        "OBX|1|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.13.2.1|128|266016^MDC_DIM_MMHG^MDC|||||R",
        "OBX|2|NM|149546^MDC_PULS_RATE_NON_INV^MDC|1.13.2.4|118|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R",
        "OBX|3|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.22.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||R",
        "OBX|4|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.22.1.2|44|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R",
    )
    result = Hl7Decoder().process_text(text, AT)
    pr = [r.value for r in result.readings if r.parameter is Parameter.PR]
    # Before: [118.0, 44.0] - the cuff's old pulse is a second 'pr' at the same time as the oximeter's.
    assert pr == [44.0], pr


def efficia(control_id: str, sent: float, measured: float) -> str:
    # OBX layout of Philips Efficia CM Series Data Export Guide p.3-10 (NBPs and NBPd carry OBX-14, the
    # cuff's time; NBPm has none), sent as the LAN export's ORU^R01 (p.2-7/2-8), local time without offset.
    return "\r".join([
        f"MSH|^~\\&|^EfficiaCM||||{stamp(sent)}||ORU^R01^ORU_R01|{control_id}|P|2.4|||||||||2.16.840.1.113883.9.2.1",
        "PID|||MRN1234||JONES^MARY^A",
        "PV1|||^^LOCATION34|||||||||||||||A|TRANSACTION1234",
        f"OBR||||MONITOR|||{stamp(sent)}|||OPERATOR12",
        "OBX||NM|0002-4bb8^SpO2^MDIL||98|0004-0220^%^MDIL|||||F",
        f"OBX||NM|0002-4a05^NBPs^MDIL||122|0004-0f20^mmHg^MDIL|||||F|||{stamp(measured)}",
        f"OBX||NM|0002-4a06^NBPd^MDIL||85|0004-0f20^mmHg^MDIL|||||F|||{stamp(measured)}",
        "OBX||NM|0002-4a07^NBPm^MDIL||98|0004-0f20^mmHg^MDIL|||||F",
    ])


def test_efficia_periodic_messages_store_one_cuff_and_its_age_grows() -> None:
    from monitor.session import Session

    measured = AT - 30
    session = Session("s", AT - 600)
    decoder = Hl7Decoder()
    nibp = []
    for n in range(3):  # the LAN export sends every minute
        at = AT + 60 * n
        for r in decoder.process_text(efficia(f"E{n}", at, measured), at).readings:
            session.observe(r)
            if r.parameter.value.startswith("nibp"):
                nibp.append((r.parameter.value, r.t - AT, r.value))
    # Before: the mean has no OBX-14, so it takes OBR-7 (the message time): it is stored again with
    # every periodic message, 30 s+ after its systolic/diastolic, and the cuff's age never grows.
    age = session.nibp_age(AT + 120)
    assert age is not None and age >= 150, (age, nibp)  # the cuff measured at AT-30; now is AT+120
    assert sorted(nibp) == [("nibp_dia", -30.0, 85.0), ("nibp_mean", -30.0, 98.0), ("nibp_sys", -30.0, 122.0)], nibp


def test_efficia_pulse_and_resp_are_recognised() -> None:
    # Same guide, p.3-10: pulse as 0002-480a "Pulse" (its source SpO2 in OBX-17) and respiration rate as
    # 0002-5000 "Resp" in rpm (0004-0ae0).
    sent = AT - 1
    text = "\r".join([
        f"MSH|^~\\&|^EfficiaCM||||{stamp(sent)}||ORU^R01^ORU_R01|E9|P|2.4",
        "PID|||MRN1234||JONES^MARY^A",
        f"OBR||||MONITOR|||{stamp(sent)}",
        "OBX||NM|0002-480a^Pulse^MDIL||80|0004-0aa0^bpm^MDIL|||||F||||||0002-4bb8^SpO2^MDIL",
        "OBX||NM|0002-5000^Resp^MDIL||20|0004-0ae0^rpm^MDIL|||||F",
    ])
    result = Hl7Decoder().process_text(text, AT)
    got = {r.parameter.value: r.value for r in result.readings}
    # Before: neither is recognised (counted as unknown codes; the message is answered AE 'nothing usable').
    assert got == {"pr": 80.0, "rr": 20.0}, (got, result.ack_code)


def test_a_structured_numeric_range_or_comparison_is_refused_with_ae() -> None:
    for value in (">^200", "^90^-^95"):
        obx = f"OBX|1|SN|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.1|{value}|262688^MDC_DIM_PERCENT^MDC|||||F"
        result = Hl7Decoder().process_text(message("M1", AT - 1, obx), AT)
        assert result.readings == [] and result.ack_code == "AE", (value, result.readings)
        assert "not one value" in result.problems[0].text


def test_an_untimed_cuff_with_new_values_is_stored_and_a_repeat_of_it_is_not() -> None:
    decoder = Hl7Decoder()
    stored = []
    for n, systolic in enumerate((182, 182, 150, 150, 182)):
        at = AT + 60 * n
        obx = f"OBX|1|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.3.1.1|{systolic}|266016^MDC_DIM_MMHG^MDC|||||F"
        stored += [(r.t - AT, r.value) for r in decoder.process_text(message(f"C{n}", at, obx), at).readings]
    assert stored == [(0.0, 182.0), (120.0, 150.0), (240.0, 182.0)]


def test_an_unavailable_first_rr_does_not_hide_the_second_sources_value() -> None:
    # Airway module RR unavailable (status X: no capnography line), ECG-impedance RR 14: the patient has an RR.
    result = Hl7Decoder().process_text(message(
        "M1", AT - 1,
        "OBX|1|NM|151562^MDC_RESP_RATE^MDC|1.20.1.1||264928^MDC_DIM_RESP_PER_MIN^MDC|||||X",
        "OBX|2|NM|151562^MDC_RESP_RATE^MDC|1.6.1.1|14|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R",
    ), AT)
    rr = [(r.value, sorted(f.name for f in r.flags)) for r in result.readings if r.parameter is Parameter.RR]
    assert any(v == 14 for v, _ in rr), rr


def test_two_cuffs_with_their_own_times_in_one_message_are_both_stored_once() -> None:
    # A gateway sending what it queued during a lost connection: two NIBP measurements, each with its OBX-14.
    old, new = AT - 300, AT - 10

    def cuff(t: float, sys: int, dia: int, n: int) -> list[str]:
        unit = "266016^MDC_DIM_MMHG^MDC"
        return [f"OBX|{n}|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.3.1.1|{sys}|{unit}|||||F|||{stamp(t)}",
                f"OBX|{n + 1}|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.3.1.2|{dia}|{unit}|||||F|||{stamp(t)}"]

    decoder = Hl7Decoder()
    text = message("M1", AT - 1, *cuff(old, 120, 80, 1), *cuff(new, 182, 110, 3))
    result = decoder.process_text(text, AT)
    sys = [(r.t - AT, r.value) for r in result.readings if r.parameter is Parameter.NIBP_SYS]
    assert sys == [(-300, 120), (-10, 182)], sys
    # The same two cuffs in the next periodic message are repeats, both of them.
    again = decoder.process_text(text.replace("|M1|", "|M2|"), AT + 60)
    assert [r for r in again.readings if r.parameter is Parameter.NIBP_SYS] == []
