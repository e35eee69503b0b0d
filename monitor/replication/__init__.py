"""Copying a chair's record to the clinic's PostgreSQL and reading it back.

* :mod:`monitor.store.outbox` – triggers in the chair's SQLite put every written row on a local outbox,
  in the same transaction as the row itself, so nothing recorded can miss the copy.
* :mod:`.schema` – the server's tables, ordered migrations, and the roles with row-level security.
* :mod:`.server_writes` and :mod:`.server_store` – the statements a chair writes and every read
  (review, station, comparison): with :mod:`.schema`, the only SQL for the server.
* :mod:`.replicator` – the thread that ships the outbox in order, idempotently, and the chair's
  live status for the nurse station.
* :mod:`.waits` – how long a chair's or the station's statement may wait on the server, and what is said when
  it waited too long.
* :mod:`.compare` – row counts and checksums per session on both sides (the proof of a copy).
"""
