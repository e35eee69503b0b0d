"""Patient 2 at the same chair: an MRN typed wrong that is patient 1's does not put patient 2 in patient 1's record
when the name and birth date the nurse typed say it is someone else."""

from __future__ import annotations

import math
from pathlib import Path

from drivers.simulated.driver import SimulatedSource
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store

T0 = 1_790_000_000.0


def _identify(db_path: Path, start: float, **patient: str) -> tuple[str, BaseException | None]:
    store = Store(db_path)
    try:
        rec = Recorder.new_session(store, SimulatedSource(seed=1, speed=math.inf, start_time=start),
                                   driver="simulated", port=None, plan=SessionPlan(5, 40, 30), nurse="RN")
        future = rec.submit("identify_patient", "RN", **patient)
        rec.step()
        error = future.exception(timeout=0)
        rec.run(until=lambda r: True)
        return rec.session.id, error
    finally:
        store.close()


def test_a_known_mrn_with_another_name_and_birth_date_is_not_silently_patient_1(db_path: Path) -> None:
    first, _ = _identify(db_path, T0, mrn="MRN-1001", patient_name="Tom Okafor", birth_date="1979-11-02")
    # Patient 2, directly after: the nurse types the MRN from the last label on the desk, with patient 2's own
    # name and birth date.
    second, error = _identify(db_path, T0 + 3 * 3600, mrn="MRN-1001", patient_name="Jane Roe",
                              birth_date="1990-04-17")
    with Store(db_path, readonly=True) as reader:
        patients = [reader.session_row(s)["patient_id"] for s in (first, second)]
        shown = reader.patient_row(patients[1])
    assert error is not None or patients[0] != patients[1], (
        f"patient 2 (Jane Roe, 1990-04-17) was put in patient 1's record without a word: the session now belongs "
        f"to {shown.get('name')}, born {shown.get('birth_date')}")


def test_a_returning_patient_is_found_by_mrn_with_or_without_the_name(db_path: Path) -> None:
    first, _ = _identify(db_path, T0, mrn="MRN-1001", patient_name="Tom Okafor", birth_date="1979-11-02")
    again, error = _identify(db_path, T0 + 3 * 86_400, mrn="MRN-1001", patient_name="tom  okafor",
                             birth_date="1979-11-02")
    alone, error_alone = _identify(db_path, T0 + 6 * 86_400, mrn="MRN-1001")
    assert error is None and error_alone is None
    with Store(db_path, readonly=True) as reader:
        assert len({reader.session_row(s)["patient_id"] for s in (first, again, alone)}) == 1
