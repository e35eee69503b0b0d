"""HL7 export parsed back with python-hl7 and checked against the stored readings."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime

import hl7
import pytest

from drivers.core.readings import NIBP_PARAMETERS
from monitor.exports.data import load
from monitor.store import Store
from tests.conftest import account
from tests.monitor.records.sessions import DEVICE, MRN, RecordedSession, export_bytes

PROFILE = "PCD_DEC_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"


def hl7_time(text: str) -> float:
    return datetime.strptime(text, "%Y%m%d%H%M%S.%f%z").astimezone(UTC).timestamp()


@pytest.fixture(scope="module")
def signed_copy(recorded: RecordedSession, tmp_path_factory: pytest.TempPathFactory) -> RecordedSession:
    """A copy of the recorded session's database, for the account that exports it: the package's own stays without
    accounts, where any test exports it as the operating-system user (with one, it would need a sign-in)."""
    path = tmp_path_factory.mktemp("hl7-db") / "monitor.db"
    shutil.copy(recorded.path, path)
    return RecordedSession(path, recorded.session_id)


@pytest.fixture(scope="module")
def exported(signed_copy: RecordedSession, tmp_path_factory: pytest.TempPathFactory) -> hl7.File:
    out = tmp_path_factory.mktemp("hl7") / "session.hl7"
    with pytest.MonkeyPatch.context() as patch:  # who exports signs in
        patch.setenv("INFUSION_MONITOR_SECRET", account(signed_copy.path, "dr-k"))
        raw = export_bytes(signed_copy, out, "hl7", "--user", "dr-k")
    assert b"\n" not in raw  # segments end with CR only
    return hl7.parse_file(raw.decode("utf-8"))


def test_one_message_per_observation_set(
    exported: hl7.File, recorded: RecordedSession, store_of: Callable[..., Store]
) -> None:
    store = store_of(recorded)
    (batch,) = exported
    # The device's values (the scores entered at the chair go out in messages of their own, with local codes).
    messages = [m for m in batch if str(m.segments("OBX")[0](3)(1)(3)) == "LN"]
    numeric_seconds = store.db.execute(
        "SELECT COUNT(DISTINCT t) FROM readings WHERE session_id = ? AND parameter IN ('hr', 'pr', 'spo2') "
        "AND value IS NOT NULL AND status = ''",
        [recorded.session_id],
    ).fetchone()[0]
    cuffs = store.db.execute(
        "SELECT COUNT(*) FROM readings WHERE session_id = ? AND parameter = 'nibp_sys' AND value IS NOT NULL",
        [recorded.session_id],
    ).fetchone()[0]
    assert cuffs >= 4
    assert len(messages) == numeric_seconds + cuffs
    assert str(batch.trailer(0)) == "BTS"
    assert str(batch.trailer(1)) == str(len(batch))
    obx_total = sum(len(m.segments("OBX")) for m in messages)
    values = store.db.execute(
        "SELECT COUNT(*) FROM readings WHERE session_id = ? AND value IS NOT NULL AND status = ''",
        [recorded.session_id],
    ).fetchone()[0]
    assert obx_total == values
    control_ids = [str(m.segment("MSH")(10)) for m in messages]
    assert len(set(control_ids)) == len(control_ids)


def test_headers_follow_pcd01(exported: hl7.File, recorded: RecordedSession) -> None:
    message = exported[0][0]
    assert [str(s(0)) for s in message] == ["MSH", "PID", "PV1", "OBR", "OBX", "OBX", "OBX"]
    msh = message.segment("MSH")
    assert str(msh(9)) == "ORU^R01^ORU_R01"
    assert str(msh(12)) == "2.6"
    assert str(msh(21)) == PROFILE
    pid = message.segment("PID")
    assert str(pid(3)) == f"{MRN}^^^&urn:infusion-monitor:mrn&URI^MR"
    assert str(pid(5)) == "Quillfeather^Jane"
    assert str(pid(7)) == "19840317"
    assert str(message.segment("PV1")(19)) == recorded.session_id


def test_observations_carry_codes_units_ranges_flags_and_times(
    exported: hl7.File, recorded: RecordedSession, store_of: Callable[..., Store]
) -> None:
    record = load(store_of(recorded), recorded.session_id)
    by_key = {(r.t, r.parameter.value): r.value for r in record.readings if r.reliable}
    expected_codes = {
        "8867-4": {"147842"},
        "8889-8": {"149530"},
        "59408-5": {"150456"},
        "8480-6": {"150021"},
        "8462-4": {"150022"},
        "8478-0": {"150023"},
    }
    units = {
        "8867-4": "/min",
        "8889-8": "/min",
        "59408-5": "%",
        "8480-6": "mm[Hg]",
        "8462-4": "mm[Hg]",
        "8478-0": "mm[Hg]",
    }
    names = {
        "147842": "hr",
        "149530": "pr",
        "150456": "spo2",
        "150021": "nibp_sys",
        "150022": "nibp_dia",
        "150023": "nibp_mean",
    }
    seen: set[str] = set()
    nibp_messages = 0
    for message in exported[0]:
        obxs = message.segments("OBX")
        if str(obxs[0](3)(1)(3)) != "LN":
            continue  # a score entered at the chair
        if str(obxs[0](3)(1)(1)) == "8480-6":
            nibp_messages += 1
            assert len(obxs) == 3
        for obx in obxs:
            code = obx(3)(1)
            loinc, mdc = str(code(1)), str(code(4))
            assert str(code(3)) == "LN"
            assert str(code(6)) == "MDC"
            assert mdc in expected_codes[loinc]
            seen.add(loinc)
            assert str(obx(2)) == "NM"
            assert str(obx(6)(1)(1)) == units[loinc]
            assert str(obx(6)(1)(3)) == "UCUM"
            assert str(obx(11)) == "R"
            assert str(obx(18)) == DEVICE
            t = hl7_time(str(obx(14)))
            value = float(str(obx(5)))
            assert by_key[(t, names[mdc])] == value
            flag = str(obx(8))
            if names[mdc] in ("hr", "pr"):
                assert str(obx(7)) == "50-120"
                assert flag == ("H" if value > 120 else "L" if value < 50 else "N")
            elif names[mdc] == "spo2":
                assert str(obx(7)) == "92-100"
                assert flag == ("L" if value < 92 else "N")
            elif names[mdc] == "nibp_sys":
                assert str(obx(7)) == "90-164"
            elif names[mdc] == "nibp_dia":
                assert str(obx(7)) == "<100"
                assert flag == ("H" if value >= 100 else "N")
    assert seen == set(expected_codes)
    assert nibp_messages == sum(1 for r in record.readings if r.parameter is NIBP_PARAMETERS[0] and r.reliable)


def test_export_is_audited(exported: hl7.File, signed_copy: RecordedSession, store_of: Callable[..., Store]) -> None:
    entries = [e for e in store_of(signed_copy).audit_log(signed_copy.session_id) if e["action"] == "export"]
    assert any(e["user"] == "dr-k" and '"format": "hl7"' in e["detail"] for e in entries)
