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
