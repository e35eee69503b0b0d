"""Starting, resuming and closing a session: the recorder with its device, protocol, cuff cycle and alarm engine."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.accounts import KIND_OS_USER, Accounts, Principal
from monitor.app.device import DeviceSpec, OpenedDevice, PortInUse, driver_of, open_device
from monitor.app.errors import AppError, OtherRecordingGoesOn
from monitor.app.profile import active_alarm_profile
from monitor.app.services import server_settings
from monitor.constants import NIBP_INTERVAL_INFUSION_S, NIBP_INTERVAL_RECOVERY_S
from monitor.identifiers import check_typed
from monitor.plan import SessionPlan
from monitor.protocols import Protocol, ProtocolError, load_protocol
from monitor.session import EventKind, NibpSchedule, Phase, SessionEvent, SessionRuleError
from monitor.store import SessionNotFound, Store, StoreError
from monitor.store.held_file import cut_off_text, pending_recovery_files, write_held
from monitor.wall_clock import clock_text

if TYPE_CHECKING:
    from monitor.alarms.engine import AlarmEngine
    from monitor.recorder import Recorder


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """A session to start (or, with ``resume``, to continue) and the device it is recorded from."""

    device: DeviceSpec = field(default_factory=DeviceSpec)
    #: Phases advanced by session time (``--plan``); None: the nurse advances them, the protocol's plan applies.
    plan: SessionPlan | None = None
    patient: str | None = None
    #: The name typed with ``--nurse`` (not checked); the signed-in account names who records.
    nurse: str | None = None
    resume: str | None = None
    protocol: str | None = None
    nibp_infusion_min: float | None = None
    nibp_recovery_min: float | None = None
    #: ``--profile``: the clinic alarm profile file (None: INFUSION_MONITOR_PROFILE, config, or built in).
    profile: str | None = None
    #: Whether ``device`` was asked for (``--driver``); a resumed session otherwise continues with the device it
    #: was last recorded from, with every option it had.
    device_given: bool = True
    #: ``--change-device``: the person confirmed resuming with another device than the one last recorded from.
    change_device: bool = False
    #: ``--beside-recording``: start a new session although another process on this computer is recording one in
    #: the same database (two devices on purpose, a test); audited.
    beside_recording: bool = False


class OtherDeviceAtResume(AppError):
    """Resuming a session with another device than the one it was last recorded from, not confirmed."""

    def __init__(self, recorded: DeviceSpec, given: DeviceSpec) -> None:
        super().__init__(
            f"this session was last recorded from {recorded.describe()}, not {given.describe()}: resume it with that "
            "device (leave out --driver), or confirm the other device with --change-device (recorded as a device "
            "change)"
        )
        self.recorded = recorded
        self.given = given


#: The option that starts a second session on purpose beside a live one (see :func:`check_not_recorded_here`).
BESIDE_RECORDING_OPTION = "--beside-recording"


def check_not_recorded_here(store: Store, spec: SessionSpec) -> list[dict[str, Any]]:
    """Refuse (:class:`OtherRecordingGoesOn`) a new session while another live process on this computer records
    one in the same database: a second launch (the launcher double-clicked) would start a second session for the
    chair without a word. With ``spec.beside_recording`` the sessions found are returned, for the audit log; a
    resume is never refused here (its own session's lock decides)."""
    if spec.resume:
        return []
    live = store.recorded_by_others_here()
    if not live or spec.beside_recording:
        return live
    said = "; ".join(f"session {row['id'][:8]} (pid {row['owner_pid']}, recording since "
                     f"{clock_text(float(row['started_at']), '%Y-%m-%d %H:%M')})" for row in live)
    raise OtherRecordingGoesOn(
        f"a session is already being recorded in this database by another program on this computer: {said}. "
        "Go back to that window (or terminal): it goes on recording. To record a second session in this database "
        f"at the same time on purpose (another device), start with {BESIDE_RECORDING_OPTION}"
    )


#: The longest ``--nurse`` text taken: longer is a paste or a prank, not a name (an account's name is 40 at most),
#: and every timeline row would repeat it.
NURSE_TEXT_MAX = 200


def check_nurse_text(typed: str | None) -> None:
    """Refuse (:class:`AppError`) a ``--nurse`` text longer than :data:`NURSE_TEXT_MAX` characters."""
    if typed is not None and len(typed) > NURSE_TEXT_MAX:
        raise AppError(f"--nurse: a name of at most {NURSE_TEXT_MAX} characters, not {len(typed):,}")


def recording_name(typed: str | None, principal: Principal) -> str:
    """Who records, as far as anything was checked: the account, or the OS user with the typed name unverified."""
    if principal.authenticated:
        return principal.name
    return f"{typed} (unverified; {principal.name})" if typed else principal.name


def session_protocol(spec: SessionSpec, store: Store | None = None) -> Protocol:
    """The protocol of ``spec`` (for a resumed session: the one it was started with)."""
    name = spec.protocol
    if name is None and store is not None and spec.resume:
        with contextlib.suppress(SessionNotFound):
            name = store.session_row(spec.resume).get("protocol")
    try:
        return load_protocol(name)
    except ProtocolError as exc:
        raise AppError(str(exc)) from None


def nibp_schedule(spec: SessionSpec, protocol: Protocol | None = None) -> NibpSchedule:
    """The cuff cycle: the protocol's, changed by the spec's minutes for the infusion and recovery."""
    schedule = protocol.cuff if protocol is not None else NibpSchedule(
        infusion_s=NIBP_INTERVAL_INFUSION_S, recovery_s=NIBP_INTERVAL_RECOVERY_S
    )
    if spec.nibp_infusion_min is not None:
        schedule = replace(schedule, infusion_s=spec.nibp_infusion_min * 60)
    if spec.nibp_recovery_min is not None:
        schedule = replace(schedule, recovery_s=spec.nibp_recovery_min * 60)
    return schedule


def check_device_named(spec: SessionSpec) -> None:
    """Refuse (:class:`AppError`) a device that cannot be opened as named: an unknown driver, one without the port
    it needs, an unknown scenario. Asked before anything is made for the recording (a new database, its key file),
    which a refusal after would leave behind; a resumed session without ``--driver`` opens its own device."""
    if spec.resume and not spec.device_given:
        return
    driver = driver_of(spec.device)
    port = spec.device.port or ""
    # A device file that is not there fails the open all the same, only after the database was made for it.
    if driver.needs_port and port.startswith("/") and not os.path.exists(port):
        raise AppError(f"cannot open {spec.device.driver}: there is no {port} on this computer (see "
                       "`infusion-monitor ports`)")


def start_session(
    spec: SessionSpec, store: Store, principal: Principal, warn: Callable[[str], None],
    opened: OpenedDevice | None = None,
) -> Recorder:
    """A recorder, with the alarm engine of the approved profile in force, for a new or resumed session.

    ``warn`` is told when the requested alarm profile is not used (the built-in one is then in force).
    ``opened``: the device of a resume, opened already (apart from a window's thread, from
    :func:`resume_opening`'s choice); without it the device is opened here. A refused session closes it.
    """
    from monitor.alarms.engine import AlarmEngine
    from monitor.alarms.profile import default_profile
    from monitor.approval import decide
    from monitor.recorder import Recorder

    if opened is not None and not spec.resume:
        opened.source.close()
        raise AppError("only a resumed session takes a device opened beforehand")
    try:
        check_nurse_text(spec.nurse)
        if spec.resume:
            check_may_resume(store, principal)
        beside = check_not_recorded_here(store, spec)
        nurse = recording_name(spec.nurse, principal)
        requested, problem = active_alarm_profile(spec.profile)
        decision = decide(store, None if problem else requested, default_profile(), user=principal)
        problem = problem or decision.problem
        if problem:
            warn(f"warning: alarm profile not used: {problem}; the built-in profile is in force")
        profile = decision.profile
        engine = AlarmEngine(profile)
        protocol = session_protocol(spec, store)
        schedule = nibp_schedule(spec, protocol)
    except BaseException:
        if opened is not None:
            opened.source.close()
        raise
    if spec.resume:
        recorder = _resume(spec, store, nurse, engine, schedule, protocol, opened)
    else:
        try:
            device = open_device(spec.device)
        except PortInUse as taken:
            raise refusal_named(taken, store) from None
        try:
            mrn = check_typed(spec.patient, "MRN")
        except ValueError as exc:  # an identifier the store refuses (a control character)
            device.source.close()
            raise AppError(f"--patient: {exc}") from None
        recorder = Recorder.new_session(
            store, device.source, driver=device.driver.name, port=spec.device.port,
            plan=spec.plan or protocol.plan(), nurse=nurse,
            autopilot=spec.plan is not None, alarms=engine, nibp_schedule=schedule, protocol=protocol,
            device_spec=spec.device.record(),
        )
        if mrn:
            _identify_at_start(recorder, nurse, mrn)
    detail: dict[str, Any] = {
        "profile": profile.name, "label": decision.label, "source": profile.source, "sha256": profile.sha256,
        "approved_by": decision.approval.approved_by if decision.approval else None,
    }
    if problem:
        detail["rejected"] = problem
        engine.report("profile_not_used", recorder.session.now, detail=problem)
    store.audit("alarm_profile_loaded", user=nurse, session_id=recorder.session.id, **detail)
    if beside:
        store.audit("session_started_beside_recording", user=nurse, session_id=recorder.session.id,
                    recording=[{"session": row["id"], "pid": row["owner_pid"]} for row in beside])
    recorder.principal = principal
    recorder.profile_label = decision.label
    return recorder


def _identify_at_start(recorder: Recorder, nurse: str | None, mrn: str) -> None:
    """The patient given with ``--patient``, identified as **Identify…** does (the same checks, the timeline's
    ``patient_identified`` and the audit's ``identify_patient``), before the first reading; a refusal closes the
    session just opened and says why."""
    try:
        recorder.identify_before_start(nurse, mrn)
    except (SessionRuleError, ValueError) as exc:
        recorder.close()
        raise AppError(f"--patient: {exc}") from None


#: Said when a resume is asked for without a sign-in on a database that has accounts.
RESUME_NEEDS_ACCOUNT = "resuming a session needs a signed-in account: give --user NAME"
#: Said when a close is asked for without a sign-in on a database that has accounts.
CLOSE_NEEDS_ACCOUNT = "closing a session needs a signed-in account: give --user NAME"


def check_may_resume(store: Store, principal: Principal) -> None:
    """Refuse (:class:`AppError`) a resume by someone not signed in where the database has accounts.

    A resume continues a session someone else may have started and ends it later, as ``close`` ends it: the audit
    log must name an account, not whoever is at the keyboard. A database without accounts keeps the chair's own
    resume as the operating-system user (there is no account to give)."""
    _check_signed_in(store, principal, RESUME_NEEDS_ACCOUNT)


def check_may_close(store: Store, principal: Principal) -> None:
    """Refuse (:class:`AppError`) a close by someone not signed in where the database has accounts, as a resume
    is refused. A database without accounts (a chair that only runs ``record``) has no account to give: there the
    operating-system user closes, as it may resume, and the audit log and the timeline name it."""
    _check_signed_in(store, principal, CLOSE_NEEDS_ACCOUNT)


def _check_signed_in(store: Store, principal: Principal, refusal: str) -> None:
    if principal.kind == KIND_OS_USER and Accounts(store).has_accounts():
        raise AppError(refusal)


def check_resumable(store: Store, session: str) -> None:
    """Refuse (:class:`AppError`, saying why) to resume ``session`` when it cannot be: not unfinished, or its last
    rows still wait in a recovery file. What a window asks before it offers to record the session again."""
    _unfinished_row(store, session, "resumed")


def check_not_finished_on_server(store: Store, session: str, server: str | None, verb: str) -> None:
    """Refuse (:class:`AppError`) to close or resume (``verb``) a session of an older copy of the chair's file (it took
    a new origin id) that the clinic's server (``server``, or the one configured) holds as finished; the local
    refusals come first. Without a server, or when it cannot be asked, nothing is refused here (the server keeps its
    own version of a finished session whatever a chair sends)."""
    row = _unfinished_row(store, session, verb)
    url, _name = server_settings(server, None)
    if url is None:
        return
    from monitor.replication.chair import finished_on_server

    found = finished_on_server(url, store.path, str(row["id"]))
    if found is not None:
        raise AppError(found.refusal(verb))


def _unfinished_row(store: Store, session: str, verb: str) -> dict[str, Any]:
    """The stored row of an unfinished session; any other session cannot be ``verb`` (AppError)."""
    try:
        row = store.session_row(session)
    except SessionNotFound as exc:
        raise AppError(str(exc)) from None
    status = store.status_of(row)
    if status != "unfinished":
        raise AppError(f"session {row['id'][:8]} is {status}; only an unfinished session can be {verb}")
    pending = pending_recovery_files(store.path, row["id"])
    if pending:
        # Its last rows (and its own end) wait in the file: written after a resume or a close, they would
        # land behind newer rows and end the session a second time.
        files = ", ".join(str(p) for p in pending)
        raise AppError(
            f"session {row['id'][:8]} cannot be {verb} yet: rows it could not write wait in {files}; write them "
            f"first with `infusion-monitor write-held FILE --db {store.path}`"
        )
    return row


@dataclass(frozen=True, slots=True)
class WaitingRowsWritten:
    """What :func:`write_waiting_rows` did: the files whose rows it wrote, oldest first, and how many rows."""

    session_id: str
    files: tuple[Path, ...]
    rows: int
    #: Lines after a file's last seal, not written (an addition a crash cut off).
    unsealed_lines: int = 0

    def text(self) -> str:
        """One line for the user."""
        names = ", ".join(p.name for p in self.files)
        if not self.rows:
            said = f"the rows of {names} were in the record already; nothing was written again"
        else:
            said = f"{self.rows} rows of session {self.session_id[:8]} written into the record from {names}"
        return "; ".join(filter(None, [said, cut_off_text(self.unsealed_lines)]))


def rows_waiting(db_path: str | Path, sessions: Iterable[str]) -> frozenset[str]:
    """Those of ``sessions`` (unfinished ones, say) whose last rows wait in a recovery file: they can be neither
    resumed nor closed before :func:`write_waiting_rows` has put them in."""
    return frozenset(s for s in sessions if pending_recovery_files(db_path, s))


def write_waiting_rows(db_path: str | Path, session: str, user: str | None) -> WaitingRowsWritten:
    """Write the rows ``session`` could not write, which wait in its recovery files, into the database at
    ``db_path``, oldest file first, each audited under ``user``: what ``write-held`` does, for every file of the
    session. Once they are in, an unfinished session can be resumed or closed. AppError when there is none, or when
    a file is refused (its rows changed, the database still refuses writes); the files before it stay written."""
    files = pending_recovery_files(db_path, session)
    if not files:
        raise AppError(f"session {session[:8]} has no rows waiting in a recovery file")
    done: list[Path] = []
    rows = unsealed = 0
    for path in files:
        try:
            written = write_held(db_path, path, user=user)
        except (OSError, ValueError, StoreError) as exc:
            said = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
            before = f" (the rows of {', '.join(p.name for p in done)} were written)" if done else ""
            raise AppError(said + before) from None
        done.append(path)
        rows += written.rows
        unsealed += written.unsealed_lines
    return WaitingRowsWritten(session, tuple(done), rows, unsealed)


def recorded_device(store: Store, session: str) -> DeviceSpec:
    """The device a session was last recorded from, with every option it had: the spec on its newest start,
    resume or device change; for a session recorded before specs were kept, that event's driver and port (else the
    session row's)."""
    from monitor.session import EventKind

    row = store.session_row(session)
    kinds = (EventKind.SESSION_STARTED, EventKind.SESSION_RESUMED, EventKind.DEVICE_CHANGED)
    for event in reversed(store.events(row["id"])):
        if event.kind not in kinds:
            continue
        if isinstance(event.detail.get("device_spec"), dict):
            return DeviceSpec.from_record(event.detail["device_spec"])
        if event.detail.get("driver") and "port" in event.detail:
            return DeviceSpec.from_record(event.detail)
    return DeviceSpec.from_record({"driver": row.get("driver"), "port": row.get("port")})


def resume_device(spec: SessionSpec, recorded: DeviceSpec) -> DeviceSpec:
    """The device a resume opens: the recorded one unless another was asked for. The same device given again
    keeps its recorded driver settings unless new ones are given; another device must be confirmed."""
    if not spec.device_given:
        # A session on the simulated monitor (training, tests) takes the command line's simulator options.
        return spec.device if recorded.driver == spec.device.driver == "simulated" else recorded
    if spec.device.same_device(recorded):
        return spec.device if spec.device.settings else replace(
            spec.device, settings=recorded.settings, settings_by_driver=recorded.settings_by_driver)
    if not spec.change_device:
        raise OtherDeviceAtResume(recorded, spec.device)
    return spec.device


@dataclass(frozen=True, slots=True)
class ResumeOpening:
    """What resuming a session opens: the device chosen for it and the time its clock starts at."""

    session_id: str
    #: The device the session was last recorded from, and the one the resume opens (the same unless another was
    #: asked for and confirmed).
    recorded: DeviceSpec
    device: DeviceSpec
    start_time: float
    #: When the session's last stored data is from (None: it has none).
    last_data_at: float | None


def resume_opening(spec: SessionSpec, store: Store) -> ResumeOpening:
    """The device a resume (``spec.resume``) opens, and from when; refused (:class:`AppError`) when the session
    cannot be resumed. Asked by :func:`start_session`, and by a window before it opens the device apart from its
    thread (the session is then started with the device opened, which is checked against this choice again)."""
    assert spec.resume is not None
    row = _unfinished_row(store, spec.resume, "resumed")
    recorded = recorded_device(store, row["id"])
    chosen = resume_device(spec, recorded)
    # A session replayed faster than real time is ahead of the wall clock: its time must not run backwards, nor
    # stamp its first values at the instant of the last ones stored (two values of a parameter at one moment).
    last = store.last_data_at(row["id"])
    start = time.time() if last is None else max(time.time(), last + SIMULATED_RESUME_STEP_S)
    return ResumeOpening(str(row["id"]), recorded, chosen, start, last)


def refusal_named(refused: BaseException, store: Store) -> BaseException:
    """Why a device was not opened, naming the session of this database recorded from its port when another
    process has it (:meth:`PortInUse.naming`)."""
    return refused.naming(store.recorded_by_others_here()) if isinstance(refused, PortInUse) else refused


def _resume(
    spec: SessionSpec, store: Store, nurse: str, engine: AlarmEngine, schedule: NibpSchedule, protocol: Protocol,
    opened: OpenedDevice | None = None,
) -> Recorder:
    from monitor.recorder import Recorder

    try:
        opening = resume_opening(spec, store)
        if opened is not None and opened.spec != opening.device:
            # The session changed while its device opened (resumed or changed elsewhere meanwhile).
            raise AppError(f"session {opening.session_id[:8]} is now recorded from {opening.device.describe()}, not "
                           f"{opened.spec.describe()}: resume it again")
    except BaseException:
        if opened is not None:
            opened.source.close()
        raise
    if opened is None:
        try:
            opened = open_device(opening.device, start_time=opening.start_time)
        except PortInUse as taken:
            raise refusal_named(taken, store) from None
    chosen, recorded = opening.device, opening.recorded
    try:
        recorder = Recorder.resume_session(
            store, opened.source, opening.session_id, nurse=nurse, autopilot=spec.plan is not None, alarms=engine,
            nibp_schedule=schedule, protocol=protocol, device_spec=chosen.record(),
            changed_from=None if chosen.same_device(recorded) else recorded.describe(),
        )
    except BaseException as exc:  # the session's lock held elsewhere, a store that refuses: nobody reads it
        opened.source.close()
        if isinstance(exc, SessionRuleError):
            raise AppError(str(exc)) from None
        raise
    engine.close_interrupted(store.alarms(opening.session_id), recorder.session.now, stopped_at=opening.last_data_at)
    return recorder


def ending_notes(recorder: Recorder, to_server: bool = False) -> list[str]:
    """What the end of a recording leaves to be done, one line each: the database that left its place while
    recording, rows the store never took (kept in a recovery file, or lost where none could be written), and with
    ``to_server`` (the chair sends its record to the clinic's server) that those rows are not on the server either.
    Said by ``record`` and by the window."""
    writer = recorder.writer
    notes: list[str] = []
    if writer.path != writer.configured_path:
        notes.append(f"the database is now {writer.path}: it left {writer.configured_path} while recording "
                     "(see the README, 'Where data is kept')")
    if recorder.recovery_file:
        notes.append(f"rows that could not be written to the database are kept in {recorder.recovery_file}")
        notes.append(f"write them into it once it can be written again: 'Write waiting rows' in the window's session "
                     f"list, or infusion-monitor write-held {recorder.recovery_file} --db {writer.path}")
        if to_server:
            notes.append("they are not on the clinic's server either, and the nurse station says so: write-held "
                         "with --server (or the server configured) sends them there too; else the next recording "
                         "with --server does")
    elif recorder.rows_not_written:
        notes.append(f"{recorder.rows_not_written} rows could not be written to the database nor to a recovery file "
                     "(no folder could be written): they are lost")
    if writer.set_aside_path is not None:
        notes.append(f"rows the database refused for what they hold were set aside in {writer.set_aside_path} (the "
                     "reason is on each of its lines and on the timeline); once that is put right, infusion-monitor "
                     f"write-held {writer.set_aside_path} --db {writer.path} writes them")
    return notes


#: A simulated session resumed ahead of the wall clock goes on this long after its last stored data: one period of
#: the simulated monitor's numerics.
SIMULATED_RESUME_STEP_S = 1.0


def _phase_of(row: dict[str, Any]) -> Phase:
    """The phase a stored session row was in (the first phase for a value this program does not know)."""
    try:
        return Phase(str(row.get("phase")))
    except ValueError:
        return next(iter(Phase))


def close_unfinished(store: Store, session: str, user: str | None) -> str:
    """Close a session left unfinished by a crash, without resuming it; returns its id.

    Nothing stored is removed: the session ends at its last stored reading and the audit log
    says who closed it. Shared by ``infusion-monitor close`` and the session browser.
    """
    from monitor.alarms.model import AlarmState

    row = _unfinished_row(store, session, "closed")
    last = store.last_data_at(row["id"])
    end = row["started_at"] if last is None else last
    # Alarms the crash left open end with the record, saying so, as a resumed recording ends them.
    left_open = [
        replace(alarm, ended_at=alarm.ended_at if alarm.ended_at is not None else max(end, alarm.started_at),
                message=f"{alarm.message} (recording interrupted)", state=AlarmState.ENDED)
        for alarm in store.alarms(row["id"]) if alarm.state is not AlarmState.ENDED
    ]
    # The timeline says so too, not only the audit log: a report read later shows where the recording stopped
    # unexpectedly, and who closed it when.
    closed = SessionEvent(end, EventKind.CLOSED_AFTER_CRASH, _phase_of(row), user,
                          {"phase": str(row.get("phase") or ""), "closed_at": round(time.time(), 3)})
    store.write_batch(row["id"], events=[closed], alarms=left_open)
    store.end_session(row["id"], "closed", end)
    store.audit("session_closed_after_crash", user=user, session_id=row["id"])
    return str(row["id"])
