"""The live feed of a session whose patient was identified after the baseline."""

from __future__ import annotations

from pathlib import Path

from monitor.feed import Feed, FeedConfig
from monitor.store import Store, feed_queue
from tests.monitor.records.lifecycle import advance, new, run


def _queued_texts(store: Store, session_id: str) -> list[str]:
    rows = store.db.execute("SELECT control_id, message FROM feed_queue ORDER BY id").fetchall()
    return [feed_queue._opened(store, session_id, str(cid), str(text)) for cid, text in rows]


def test_the_baseline_reaches_the_clinic_under_the_patient_identified_later(db_path: Path) -> None:
    feed = Feed(db_path, FeedConfig("127.0.0.1", 9))
    with Store(db_path) as store:
        rec = new(store)
        feed_queue.follow(store, rec.session.id, rec.session.now)
        advance(rec, 5)
        run(rec, "start_baseline")
        advance(rec, 120)
        rec.flush()
        feed.queue_new(store)  # the feed queues what was stored, as it runs beside the recording
        run(rec, "identify_patient", mrn="MRN-LATE-FEED")
        advance(rec, 120)
        rec.stop()
        rec.close()
        feed.queue_new(store)
        texts = _queued_texts(store, rec.session.id)
    vitals = [t for t in texts if "ORU^R01" in t]
    assert vitals
    without = [t.split("\r")[1] for t in vitals if "MRN-LATE-FEED" not in t]
    assert not without, f"{len(without)} of {len(vitals)} messages without the patient, e.g. {without[0]}"


def test_the_feed_names_the_device_that_measured_after_a_device_change(db_path: Path) -> None:
    import math

    from drivers.simulated.driver import SimulatedSource

    feed = Feed(db_path, FeedConfig("127.0.0.1", 9))
    with Store(db_path) as store:
        rec = new(store, patient="MRN-FEED-DEVICE")
        feed_queue.follow(store, rec.session.id, rec.session.now)
        advance(rec, 60)
        replacement = SimulatedSource(seed=9, speed=math.inf, start_time=rec.session.now)
        run(rec, "change_source", source=replacement, driver="simulated", port=None)
        advance(rec, 120)
        rec.stop()
        rec.close()
        feed.queue_new(store)
        texts = _queued_texts(store, rec.session.id)
    last_obx = [seg for seg in texts[-1].split("\r") if seg.startswith("OBX")][-1]
    assert last_obx.split("|")[18] == replacement.device
