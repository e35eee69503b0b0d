"""What protection costs: argon2id sign-in, AES-GCM identifiers, sealing writes, verifying a 90-minute session.

Prints medians (not a timed unit test). Run: ``.venv/bin/python -m benchmarks.security``.
The key file goes to a temporary folder, never the user's.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmarks.common import median, record_full_session, time_it


def main() -> None:
    """Measure and print each figure with its median."""
    with tempfile.TemporaryDirectory() as folder:
        os.environ["INFUSION_MONITOR_KEY_FILE"] = str(Path(folder) / "keys" / "monitor.key")
        from argon2 import PasswordHasher

        from drivers.core.readings import Parameter, Reading
        from monitor import identifiers
        from monitor.integrity import verify
        from monitor.keys import load_keys
        from monitor.store import Store

        hasher = PasswordHasher()  # the production parameters (RFC 9106 low-memory profile)
        stored = hasher.hash("correct horse 1")
        hashing = [time_it(lambda: hasher.verify(stored, "correct horse 1")) for _ in range(7)]
        print(f"argon2id verify (t={hasher.time_cost}, m={hasher.memory_cost} KiB, p={hasher.parallelism}): "
              f"median {median(hashing) * 1000:.0f} ms")

        keys = load_keys()
        assert keys is not None
        enc = [time_it(lambda: identifiers.decrypt(keys, "p", "mrn", identifiers.encrypt(keys, "p", "mrn", "MRN-1")))
               for _ in range(200)]
        print(f"AES-GCM encrypt+decrypt one identifier: median {median(enc) * 1e6:.0f} µs")

        path = Path(folder) / "bench.db"
        with Store(path) as store:
            session = store.create_session(started_at=0.0, patient_id=None, driver="b", port=None, plan="")
            batches = []
            t = 0.0
            for _ in range(200):
                rows = [Reading(t + i * 0.1, Parameter.HR, 70.0, "b") for i in range(6)]
                t += 1.0
                batches.append(time_it(lambda rows=rows: store.write_batch(session, readings=rows)))
            print(f"write_batch of one second's numerics, sealed: median {median(batches) * 1000:.2f} ms")

        full = Path(folder) / "full.db"
        started = time.perf_counter()
        session_id, _wall, _covered = record_full_session(full)
        print(f"recorded a 90-minute session with pleth in {time.perf_counter() - started:.1f} s")
        with Store(full, readonly=True) as reader:
            whole = [time_it(lambda: verify(reader.db.conn, reader.keys)) for _ in range(3)]
            one = [time_it(lambda: verify(reader.db.conn, reader.keys, session_id=session_id)) for _ in range(3)]
            report = verify(reader.db.conn, reader.keys)
        print(f"verify the whole database ({report.links} links): median {median(whole) * 1000:.0f} ms; "
              f"one session (review, export): median {median(one) * 1000:.0f} ms; ok={report.ok}")


if __name__ == "__main__":
    main()
