"""The recovery file: rows a recording held while its database refused them, kept on disk, and ``write-held``,
which puts a file's rows into the database.

A writer puts what it holds in its run's file from the first failed write on: written whole once, then what came
since added every second, each part sealed with a keyed hash of all the file before it
(:class:`RecoveryText`). The file goes beside the database, else to the user's data folder, else to the temporary
folder (:func:`~monitor.store.elsewhere.places_for`); it is readable by its owner only, and a patient's
identifiers in it are encrypted as in the database. :func:`write_held` writes a file's rows in once, skipping what
the audit log says the run wrote itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.core.readings import Parameter, Reading, flags_text, parse_flags
from monitor import identifiers
from monitor.keys import Keys, ensure_private_dir, open_part
from monitor.session import EventKind, Phase, SessionEvent
from monitor.store import runs
from monitor.store.database import Store
from monitor.store.elsewhere import places_for
from monitor.store.errors import StoreError
from monitor.store.operations import AuditEntry, Batch, Operation, StoreCall, apply_operation
from monitor.store.rows import alarm_from_row, alarm_row

log = logging.getLogger(__name__)


def _op_json(op: Operation) -> dict[str, Any]:
    if isinstance(op, Batch):
        return {
            "op": "batch",
            "readings": [[r.t, r.parameter.value, r.value, r.unit, flags_text(r.flags), r.source] for r in op.readings],
            "events": [[e.t, e.kind.value, e.phase.value, e.user, dict(e.detail)] for e in op.events],
            "alarms": [alarm_row(a) for a in op.alarms],
            "session_update": op.session_update,
        }
    if isinstance(op, AuditEntry):
        return {"op": "audit", "at": op.at, "action": op.action, "user": op.user, "session_id": op.session_id,
                "detail": op.detail}
    return {"op": "call", "method": op.method, "args": list(op.args), "kwargs": op.kwargs}


#: The identifiers among a held call's arguments, in order, sealed in a recovery file.
_PATIENT_FIELDS = ("mrn", "name", "birth_date")
#: The calls that carry them, and where they begin among the call's arguments.
_PATIENT_CALLS = {"create_patient": 0, "attach_patient": 1}


def _with_identifiers(data: dict[str, Any], change: Callable[[str, str, str | None], str | None]) -> dict[str, Any]:
    """``data`` (a held call's JSON form) with its identifier arguments passed through ``change(patient id, field,
    value)``: encrypted when the file is written, decrypted when it is read."""
    first = _PATIENT_CALLS[data["method"]]
    args = list(data["args"])
    patient_id = str(data["kwargs"]["patient_id"])
    args[first:first + len(_PATIENT_FIELDS)] = [
        change(patient_id, name, value)
        for name, value in zip(_PATIENT_FIELDS, args[first:first + len(_PATIENT_FIELDS)], strict=True)]
    return {**data, "args": args}


def _sealed(op: Operation, keys: Keys | None) -> dict[str, Any]:
    """An operation's JSON form with the patient's identifiers encrypted as the database keeps them."""
    data = _op_json(op)
    if isinstance(op, StoreCall) and op.method in _PATIENT_CALLS:
        if keys is None:  # never for a store that writes; kept rather than lost, in a file only its owner reads
            log.error("no identifier key: the patient's identifiers are kept unsealed in the recovery file")
            return data
        data = _with_identifiers(data, lambda patient, name, value: identifiers.encrypt(keys, patient, name, value))
        data["sealed"] = True
    return data


def write_recovery_file(db_path: str | Path, session_id: str, ops: list[Operation], keys: Keys | None = None, *,
                        run: str | None = None, numbers: list[int] | None = None,
                        replacing: Path | None = None) -> str | None:
    """Write held operations as JSON lines beside the database, else in the user's data folder, else in the
    temporary folder (:func:`~monitor.store.elsewhere.places_for`); the path or None.

    Used while the store refuses and when it never came back before the recording ended: the rows are not thrown
    away. The file is readable by its owner only, and a patient's identifiers in it are encrypted with ``keys``
    (the database's identifier key), as in the database. The data folder comes before the temporary one, which
    some systems empty at a restart: the likely next step after the disk under a database failed.

    With ``run`` (a writer's run) the file says whose it is and numbers its operations (``numbers``), so that
    ``write-held`` skips what the audit log says that run wrote already; it is written whole under a temporary
    name and then put in place of ``replacing`` (the run's file written before), never leaving half a file.
    """
    written = write_whole(db_path, session_id, ops, keys, run=run, numbers=numbers, replacing=replacing)
    return None if written is None else str(written[0])


class RecoveryText:
    """The text of a recovery file as it is written, with the keyed hash of all of it so far: each part written
    (the whole file, then each addition) ends with a seal line over everything before it, so that an addition
    costs only its own lines."""

    def __init__(self, keys: Keys | None) -> None:
        self._mac = hmac.new(keys.integrity, _SEAL_PREFIX, hashlib.sha256) if keys is not None else None

    @property
    def sealed(self) -> bool:
        """True when the text is sealed (written with keys)."""
        return self._mac is not None

    def part(self, session_id: str, ops: list[Operation], keys: Keys | None, numbers: list[int] | None,
             header: dict[str, str] | None = None, refusals: list[str] | None = None) -> str:
        """The lines of ``ops`` (numbered with ``numbers``; with ``refusals``, each with why the database refused
        it), after ``header`` if given, and their seal."""
        lines = [json.dumps(header) + "\n"] if header is not None else []
        for index, op in enumerate(ops):
            data = _sealed(op, keys)
            if numbers is not None:
                data["n"] = numbers[index]
            if refusals is not None:
                data["refused"] = refusals[index]
            lines.append(json.dumps(data, default=str) + "\n")
        text = "".join(lines)
        if self._mac is not None:
            # A keyed hash of the whole file so far: rows changed in the file are not written back as ours.
            self._mac.update(text.encode("utf-8"))
            seal = json.dumps({"op": _FILE_SEAL, "mac": self._mac.hexdigest()}) + "\n"
            self._mac.update(seal.encode("utf-8"))
            text += seal
        return text


def write_whole(db_path: str | Path, session_id: str, ops: list[Operation], keys: Keys | None, *,
                 run: str | None, numbers: list[int] | None,
                 replacing: Path | None, refusals: list[str] | None = None) -> tuple[Path, RecoveryText] | None:
    """:func:`write_recovery_file`, returning the path and the text's seal (to add to the file later), or None.

    With ``refusals`` (why the database refused each operation) it is a set-aside file instead
    (:data:`SET_ASIDE`): its rows are not waiting for the database to come back, and they hold up nothing."""
    db = Path(db_path)
    stamp = run if run is not None else str(int(time.time()))
    kind = SET_ASIDE if refusals is not None else "recovery"
    name = replacing.name if replacing is not None else f"{db.name}.{kind}-{session_id[:8]}-{stamp}.jsonl"
    recovery = RecoveryText(keys)
    header = {"op": _HELD_OF, "session_id": session_id, "run": run} if run is not None else None
    text = recovery.part(session_id, ops, keys, numbers, header, refusals)
    folders = list(places_for(db))
    if replacing is not None:
        folders.insert(0, replacing.parent)
    for folder in dict.fromkeys(folders):
        target = folder / name
        part: Path | None = None
        try:
            if folder != db.parent and not folder.is_dir():
                ensure_private_dir(folder)  # the data folder, made as at a first start
            if replacing is None and os.path.lexists(target):
                raise FileExistsError(target)
            # A new file under a name nobody can guess: the temporary folder is everyone's.
            out, part = open_part(target, "w", encoding="utf-8")
            with out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(part, target)
        except FileExistsError:
            log.error("the recovery file %s exists already", target)
            continue
        except OSError as exc:
            log.error("cannot write the recovery file %s: %s", target, exc)
            if part is not None:
                with contextlib.suppress(OSError):
                    part.unlink()
            continue
        if replacing is not None and replacing != target:
            # Written elsewhere this time: the file written before holds nothing this one does not.
            with contextlib.suppress(OSError):
                replacing.unlink()
        return target, recovery
    return None


def append_to(path: Path, text: str) -> None:
    """Add ``text`` at the end of the existing file ``path`` and make it durable (OSError when it cannot be; a
    file gone since is never made again here, headless)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        data = text.encode("utf-8")
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)


def pending_recovery_files(db_path: str | Path, session_id: str) -> list[Path]:
    """Recovery files of a session not written yet (wherever :func:`write_recovery_file` puts them), oldest
    first."""
    db = Path(db_path)
    pattern = f"{db.name}.recovery-{session_id[:8]}-*.jsonl"
    found: set[Path] = set()
    for folder in places_for(db):
        with contextlib.suppress(OSError):
            found.update(p for p in folder.glob(pattern) if p.is_file())
    return sorted(found, key=lambda p: p.name)


#: What the name of a file of rows the database refused for what they hold says (``<db>.set-aside-…``), in place of
#: "recovery": the writer set them aside and wrote the rows after them (:class:`monitor.store.writer.StoreWriter`).
#: ``write-held`` takes it like a recovery file, once what made the database refuse them is put right.
SET_ASIDE = "set-aside"

#: The ``op`` of a recovery file's last line: the keyed hash of the lines before it.
_FILE_SEAL = "file_seal"
#: The ``op`` of a writer's recovery file's first line: the session and the writer's run it holds rows of.
_HELD_OF = "held_of"


#: What the keyed hash of a recovery file's text starts from.
_SEAL_PREFIX = b"recovery file\0"


def _check_file_seals(path: str | Path, lines: list[str], keys: Keys) -> tuple[list[str], int]:
    """The lines up to the file's last seal, once every seal shows the text before it as this program wrote it,
    and how many lines came after that seal (an addition cut off by a crash: they are not taken)."""
    mac = hmac.new(keys.integrity, _SEAL_PREFIX, hashlib.sha256)
    body: list[str] = []
    pending: list[str] = []
    seals = 0
    for line in lines:
        seal = _seal_of(line)
        if seal is None:
            pending.append(line)
            mac.update(line.encode("utf-8"))
            continue
        if not hmac.compare_digest(seal, mac.hexdigest()):
            raise ValueError(f"{path}: the file was changed after this program wrote it (its keyed hash does not "
                             "match); it is not written into the record")
        body += pending
        pending = []
        mac.update(line.encode("utf-8"))
        seals += 1
    if not seals:
        raise ValueError(f"{path}: the file has no keyed hash of its rows, so they cannot be told from rows written "
                         "by something else; it is not written into the record")
    return body, len(pending)


def _seal_of(line: str) -> str | None:
    """The keyed hash a seal line holds (None: not a seal line)."""
    if _FILE_SEAL not in line:
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("op") == _FILE_SEAL:
        return str(data.get("mac", ""))
    return None


@dataclass(frozen=True, slots=True)
class HeldFile:
    """What a recovery file holds: its operations, oldest first, and (from a writer's run) whose they are."""

    ops: list[Operation]
    #: The operations' numbers in their run (None: a file without them, written before runs were numbered).
    numbers: list[int] | None = None
    session_id: str | None = None
    run: str | None = None
    #: Lines after the file's last seal, not taken: an addition a crash cut off (its rows are lost, never forged).
    unsealed_lines: int = 0


def read_recovery_file(path: str | Path, keys: Keys | None = None) -> list[Operation]:
    """The operations a recovery file holds, oldest first (the inverse of :func:`write_recovery_file`;
    ``keys`` open the patient's identifiers and check the file's keyed hash)."""
    return read_held_file(path, keys).ops


def read_held_file(path: str | Path, keys: Keys | None = None) -> HeldFile:
    """A recovery file whole: its operations, and their numbers and run where the file gives them."""
    lines: list[str] = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise ValueError(f"{path}, line {number}: not a held operation (not UTF-8 text)") from None
    unsealed = 0
    if keys is not None:
        lines, unsealed = _check_file_seals(path, lines, keys)
        if unsealed:
            log.warning("%s: %d lines after its last keyed hash (an addition cut off) are not taken", path, unsealed)
    ops: list[Operation] = []
    numbers: list[int] = []
    header: dict[str, Any] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if isinstance(data, dict) and data.get("op") == _FILE_SEAL:
                continue
            if isinstance(data, dict) and data.get("op") == _HELD_OF:
                header = {"session_id": str(data["session_id"]), "run": str(data["run"])}
                continue
            ops.append(_op_from_json(data, keys))
            if "n" in data:
                numbers.append(int(data["n"]))
        except (ValueError, KeyError, TypeError, identifiers.IdentifierError) as exc:
            raise ValueError(f"{path}, line {number}: not a held operation ({exc})") from None
    if numbers and len(numbers) != len(ops):
        raise ValueError(f"{path}: some held operations are numbered and some are not")
    return HeldFile(ops, numbers or None, header.get("session_id"), header.get("run"), unsealed)


def _op_from_json(data: dict[str, Any], keys: Keys | None = None) -> Operation:
    kind = data["op"]
    if data.get("sealed"):
        if keys is None:
            raise ValueError("the patient's identifiers are sealed: the database's key file is needed")
        data = _with_identifiers(data, lambda patient, name, value: identifiers.decrypt(keys, patient, name, value))
    if kind == "batch":
        readings = tuple(
            Reading(float(t), Parameter(parameter), value, source, parse_flags(status))
            for t, parameter, value, _unit, status, source in data["readings"]
        )
        events = tuple(
            SessionEvent(float(t), EventKind(event_kind), Phase(phase), user, detail)
            for t, event_kind, phase, user, detail in data["events"]
        )
        return Batch(readings, events, tuple(alarm_from_row(a) for a in data["alarms"]), dict(data["session_update"]))
    if kind == "audit":
        return AuditEntry(float(data["at"]), data["action"], data["user"], data["session_id"], dict(data["detail"]))
    if kind == "call" and data["method"] in REPLAYABLE_CALLS:
        return StoreCall(data["method"], tuple(data["args"]), dict(data["kwargs"]))
    raise ValueError(f"unknown operation {kind!r}")


#: Store methods a recovery file may ask for (nothing else is ever called from a file).
REPLAYABLE_CALLS = frozenset({"attach_patient", "create_patient", "assign_patient", "end_session"})


@dataclass(frozen=True, slots=True)
class HeldWritten:
    """What :func:`write_held` did: the session the file belongs to, and how many rows it wrote (0: the file's
    rows were written before)."""

    session_id: str
    rows: int
    #: Lines after the file's last seal, not written: an addition to it that a crash cut off.
    unsealed_lines: int = 0


def cut_off_text(lines: int) -> str:
    """What is said of ``lines`` lines after a recovery file's last seal ('' for none)."""
    if not lines:
        return ""
    return (f"{lines} line{'s' if lines != 1 else ''} at the end of the file, added as the program stopped and never "
            "sealed, were not written (they cannot be told from lines written by something else)")


def write_held(db_path: str | Path, recovery_file: str | Path, *, user: str | None = None) -> HeldWritten:
    """Write the operations of a recovery file into the database, in order, in one transaction (audited under
    ``user``, who had it done). ValueError for a file that cannot be written in; StoreError when the database does
    not take it (its disk still full or failing): nothing of it is written then, and the file stays."""
    try:
        return _write_held(db_path, recovery_file, user)
    except sqlite3.Error as exc:
        raise StoreError(f"{db_path} does not take the held rows: {exc}") from None


def _write_held(db_path: str | Path, recovery_file: str | Path, user: str | None) -> HeldWritten:
    digest = hashlib.sha256(Path(recovery_file).read_bytes()).hexdigest()
    store = Store(db_path)
    try:
        held = read_held_file(recovery_file, store.keys)
        ops = held.ops
        sessions = {op.session_id for op in ops if isinstance(op, AuditEntry) and op.session_id}
        if held.session_id is not None:
            sessions.add(held.session_id)
        if len(sessions) != 1:
            raise ValueError(f"{recovery_file} does not name exactly one session")
        (session_id,) = sessions
        row = store.session_row(session_id)  # raises SessionNotFound for the wrong database
        if store.status_of(row) == "recording":
            # Its writer still holds these rows and writes them itself once the database takes them: written here
            # too, they would be in the record twice.
            raise ValueError(f"session {session_id[:8]} is still recording: its recording writes the rows of "
                             f"{Path(recovery_file).name} itself once the database takes them again (the file then "
                             "goes); run write-held only on a file left after the recording ended")
        with store.transaction():
            # The file's digest is audited in the same transaction as its rows: a run that ended before the
            # file was renamed (killed, or the rename refused) is known here and never writes them twice.
            if store.db.execute(
                "SELECT 1 FROM audit WHERE action = ? AND session_id = ? AND json_extract(detail, '$.sha256') = ?",
                [HELD_ROWS_WRITTEN, session_id, digest],
            ).fetchone():
                written = 0
            else:
                if held.run is not None and held.numbers is not None:
                    # What the run itself wrote once the store came back (or an earlier file of it put in) stays.
                    done = _run_written_through(store, session_id, held.run)
                    ops = [op for op, n in zip(ops, held.numbers, strict=True) if n > done]
                through: dict[str, Any] = (
                    {"run": held.run, "through": max(held.numbers)} if held.run and held.numbers else {}
                )
                store.audit(HELD_ROWS_WRITTEN, user=user, session_id=session_id,
                            file=Path(recovery_file).name, sha256=digest, **through)
                for op in ops:
                    apply_operation(store, session_id, op)
                if held.run and held.numbers:
                    runs.note(store.db.conn, session_id, held.run, max(held.numbers))
                written = sum(op.rows() for op in ops)
    finally:
        store.close()
    # Written once only: the file is renamed so that it cannot be written a second time by mistake.
    os.replace(recovery_file, f"{recovery_file}.written")
    return HeldWritten(session_id, written, held.unsealed_lines)


#: The audit action that says a recovery file's rows were written (detail: its name and SHA-256; for a writer's
#: file, its run and the number of its last operation).
HELD_ROWS_WRITTEN = "held_rows_written"
#: The audit action a writer adds to each transaction that writes rows it had put in its recovery file (detail:
#: its run, and the number of the last operation written).
HELD_ROWS_DRAINED = "held_rows_drained"


def _run_written_through(store: Store, session_id: str, run: str) -> int:
    """The number of the last operation of the writer's ``run`` already in the database (0: none): what the run
    noted with every transaction (:mod:`monitor.store.runs`; a commit it was told failed that went in all the same
    counts), or, in a database written before it noted that, what the audit log says."""
    found = store.db.execute(
        "SELECT MAX(CAST(json_extract(detail, '$.through') AS INTEGER)) FROM audit WHERE session_id = ? "
        "AND action IN (?, ?) AND json_extract(detail, '$.run') = ?",
        [session_id, HELD_ROWS_DRAINED, HELD_ROWS_WRITTEN, run],
    ).fetchone()
    return max(int(found[0] or 0), runs.written_through(store.db.conn, session_id, run))
