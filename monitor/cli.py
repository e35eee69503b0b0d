"""The ``infusion-monitor`` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from monitor import __version__
from monitor.accounts import Principal, os_user
from monitor.app.errors import AppError
from monitor.app.exports import (
    export_course,
    export_session,
    mark_rems_submitted,
    read_course,
    reference_ranges,
    rems_worksheet,
)
from monitor.app.services import (
    patient_id_system,
    send_close_to_server,
    send_held_to_server,
    send_sign_off_to_server,
)
from monitor.app.stores import database_file, open_reader, open_store, record_source
from monitor.config import ConfigError, UserConfig
from monitor.constants import NIBP_INTERVAL_RANGE_MIN
from monitor.plan import PlanError, SessionPlan, parse_plan
from monitor.security_cli import (
    acting_principal,
    add_db_option,
    add_identity_options,
    build_security_parsers,
    cmd_backup,
    cmd_keys,
    cmd_profiles,
    cmd_users,
    cmd_verify,
    reading_principal,
)
from monitor.session import Phase, length_text, minutes_seconds, time_ago
from monitor.sign_off import SignOff, awaiting_among, sign_offs_of
from monitor.sign_off import status_text as sign_off_text
from monitor.store import SessionNotFound, Store, StoreError
from monitor.text_rules import terminal_text
from monitor.wall_clock import clock_text

if TYPE_CHECKING:
    from monitor.alarms.model import AlarmRecord
    from monitor.recorder import Recorder
    from monitor.rems import PendingForm
    from monitor.store.queries import SessionSummary
    from monitor.terminal_output import Lines, TerminalOutput

EXIT_OK = 0
EXIT_ERROR = 1
#: ``record`` ended, but rows of the session are not in the database (in a recovery file, or lost).
EXIT_NOT_STORED = 3


#: A problem the user can fix; printed as one line, never a traceback (the application layer's error).
CliError = AppError


# -- argument helpers ------------------------------------------------------------------------


def _number(text: str, what: str) -> float:
    """``text`` as a float; otherwise an argument error saying it is not ``what``."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not {what}") from None


def _speed(text: str) -> float:
    if text.lower() in ("max", "inf"):
        return math.inf
    value = _number(text, "a number (or 'max')")
    if not value > 0 or math.isnan(value):
        raise argparse.ArgumentTypeError("speed must be greater than 0")
    return value


def _plan(text: str) -> SessionPlan:
    try:
        return parse_plan(text)
    except PlanError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> float:
    value = _number(text, "a number of seconds")
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError("duration must be a positive number of seconds")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("give 1 or more (or --all for every session)")
    return value


#: How many sessions `sessions` lists unless told otherwise: the newest, as a nurse looks for them (a clinic's year
#: of 12,000 took 3.4-4.1 s and 12,000 lines to list whole).
SESSIONS_LISTED = 50

#: Serial line speeds a port can be set to (pyserial's standard rates run from 50 to 4,000,000 baud).
BAUD_RANGE = (50, 4_000_000)


def _baud(text: str) -> int:
    low, high = BAUD_RANGE
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise argparse.ArgumentTypeError(f"'{text}' is not a baud rate ({low} to {high:,})")
    return int(value)


def _cuff_minutes(text: str) -> float:
    value = _number(text, "a number of minutes")
    low, high = NIBP_INTERVAL_RANGE_MIN
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"the cuff cycle must be between {low:g} and {high:g} minutes")
    return value


def _key_value(text: str) -> tuple[str, str]:
    from monitor.app.device import key_value

    try:
        return key_value(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _resample(text: str) -> float:
    if text.lower() in ("all", "0"):
        return 0.0
    value = _number(text, "a number of seconds (or 'all')")
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError("resampling must be a positive number of seconds, or 'all'")
    return value


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    add_db_option(parser)
    parser.add_argument("--driver", help="device driver (see `infusion-monitor drivers`; default simulated; with "
                                          "--resume: the device the session was last recorded from)")
    parser.add_argument("--port", metavar="URL", help="serial port or URL, e.g. /dev/ttyUSB0, COM3, socket://host:port")
    from drivers.patient.model import SCENARIOS

    parser.add_argument("--scenario", default="normal", metavar="NAME",
                        help="simulator scenario (simulated driver): " + ", ".join(SCENARIOS) + " (default normal)")
    parser.add_argument("--speed", type=_speed, default=1.0, help="simulated clock speed-up, e.g. 60 (or max)")
    parser.add_argument("--seed", type=int, default=1, help="simulator seed")
    parser.add_argument("--pleth", action="store_true", help="simulate the 75 Hz pleth waveform")
    parser.add_argument("--plan", type=_plan,
                        help="advance phases by session time, e.g. baseline:5,infusion:40,recovery:30")
    parser.add_argument("--patient", metavar="ID", help="patient identifier (MRN); kept apart from session data; "
                                                        f"{ASK_HELP}")
    parser.add_argument("--nurse", metavar="NAME",
                        help="who is recording, not checked (actions are recorded as the operating-system user "
                             "unless --user signs in to an account)")
    add_identity_options(parser)
    parser.add_argument("--resume", metavar="SESSION", help="continue an unfinished session instead of starting one")
    parser.add_argument("--change-device", action="store_true",
                        help="with --resume and --driver: continue with that device although the session was last "
                             "recorded from another (recorded as a device change)")
    parser.add_argument("--beside-recording", action="store_true",
                        help="start a new session although another program on this computer is recording one in "
                             "this database (refused without it; audited)")
    parser.add_argument("--set", dest="settings", type=_key_value, action="append", default=[],
                        metavar="KEY=VALUE", help="driver setting (repeatable), e.g. format=8")
    parser.add_argument("--profile", metavar="FILE",
                        help="clinic alarm profile, TOML (default: INFUSION_MONITOR_PROFILE or built in)")
    parser.add_argument("--baud", type=_baud, help="override the driver's baud rate")
    parser.add_argument("--parity", choices=["N", "E", "O", "M", "S"], help="override the driver's parity")
    parser.add_argument("--flow", choices=["none", "xonxoff", "rtscts"], help="override the driver's flow control")
    parser.add_argument("--protocol", metavar="NAME|FILE",
                        help="treatment protocol: a name from `infusion-monitor protocols` or a .toml file "
                             "(default ketamine-iv)")
    parser.add_argument("--nibp-infusion", type=_cuff_minutes, default=None,
                        metavar="MIN", help="cuff cycle during the infusion in minutes (default: the protocol's, "
                                            "5 for ketamine-iv; 10 is common)")
    parser.add_argument("--nibp-recovery", type=_cuff_minutes, default=None,
                        metavar="MIN", help="cuff cycle during recovery in minutes (default: the protocol's, "
                                            "15 for ketamine-iv)")
    parser.add_argument("--link-lost-after", dest="link_lost_after", type=_seconds, default=5.0, metavar="SECONDS",
                        help="report the device link as lost after this long without data (default 5)")
    parser.add_argument("--feed", metavar="HOST:PORT",
                        help="send observations as HL7 ORU^R01 over MLLP to this receiver "
                             "(default: INFUSION_MONITOR_FEED; off when unset)")
    parser.add_argument("--server", metavar="URL",
                        help="copy everything recorded to the clinic's PostgreSQL, e.g. postgresql://chair2@db/im "
                             "(default: INFUSION_MONITOR_SERVER or config 'server'; password from a file, never here)")
    parser.add_argument("--chair", metavar="NAME", help="this chair's name at the nurse station (default: host name)")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    from drivers.patient.model import SCENARIOS

    parser = argparse.ArgumentParser(
        prog="infusion-monitor",
        description="Vital-sign monitoring and recording for the ketamine-infusion chair.",
        epilog="simulator scenarios (--scenario NAME with the simulated driver):\n"
        + "\n".join(f"  {name:<14} {what}" for name, what in SCENARIOS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the monitor window (the default)")
    _add_source_options(gui)

    record = sub.add_parser("record", help="record a session without a window")
    _add_source_options(record)
    record.add_argument("--duration", type=_seconds, metavar="WALL_SECONDS",
                        help="stop after this many wall-clock seconds")
    record.add_argument("--quiet", action="store_true", help="no progress line")

    sessions = sub.add_parser("sessions", help="list recorded sessions")
    add_db_option(sessions)
    sessions.add_argument("--json", action="store_true", help="machine-readable output")
    sessions.add_argument("--server", metavar="URL",
                          help="list every chair's sessions from the clinic's PostgreSQL (a reader login)")
    sessions.add_argument("--patient", metavar="MRN",
                          help=f"only this patient's course (oldest first, every session), every chair; {ASK_HELP}")
    how_many = sessions.add_mutually_exclusive_group()
    how_many.add_argument("--limit", type=_count, default=SESSIONS_LISTED, metavar="N",
                          help=f"the newest N sessions (default {SESSIONS_LISTED})")
    how_many.add_argument("--all", action="store_true", help="every session, newest first")
    sessions.add_argument("--unsigned", action="store_true",
                          help="only finished sessions no physician has signed off yet")
    add_identity_options(sessions)  # who lists them (signed in where the database has accounts: MRNs are shown)

    signing = sub.add_parser("sign-off", help="a physician signs off a finished session as reviewed (audited)")
    signing.add_argument("session", metavar="SESSION_ID|latest")
    add_db_option(signing)
    signing.add_argument("--comment", metavar="TEXT", help="a short remark kept with the sign-off")
    add_identity_options(signing)  # the physician, signed in (required)

    export = sub.add_parser("export", help="export a session")
    export.add_argument("session", metavar="SESSION_ID|latest")
    add_db_option(export)
    export.add_argument("--format", default="csv",
                        help="csv (readings), csv-events, csv-alarms, json, hl7, fhir or pdf (default csv)")
    export.add_argument("--out", metavar="FILE",
                        help="write here instead of standard output ('-': standard output)")
    export.add_argument("--deidentify", action="store_true",
                        help="leave out names, MRN, birth dates, device serials and staff names; "
                             "times on a session-relative clock")
    export.add_argument("--relative-time", action="store_true",
                        help="shift times so the session starts at 2000-01-01T00:00:00Z")
    export.add_argument("--keep-staff", action="store_true",
                        help="keep nurses' names in a de-identified export")
    export.add_argument("--resample", type=_resample, default=None, metavar="SECONDS|all",
                        help="FHIR: one observation per parameter per SECONDS for heart rate, pulse rate and "
                             "SpO2 (default 60; 'all' exports every value)")
    add_identity_options(export)  # who exports, for the audit log (else the operating-system user)
    export.add_argument("--server", metavar="URL",
                        help="read the session from the clinic's PostgreSQL (any chair's); audited locally")

    close = sub.add_parser("close", help="close an unfinished session without resuming it (as --user where the "
                                         "database has accounts)")
    close.add_argument("session", metavar="SESSION_ID|latest")
    add_db_option(close)
    add_identity_options(close)

    recover = sub.add_parser("recover", help="copy what can be read from a damaged database into a new file")
    recover.add_argument("damaged", metavar="DAMAGED.db")
    recover.add_argument("target", metavar="NEW.db", help="a file that does not exist yet")

    held = sub.add_parser("write-held", help="write the rows a recording kept in a recovery file into the database")
    held.add_argument("file", metavar="RECOVERY.jsonl")
    add_db_option(held)
    held.add_argument("--server", metavar="URL",
                      help="then send them to the clinic's PostgreSQL and clear the nurse station's word of them "
                           "(default: INFUSION_MONITOR_SERVER or config 'server'; off when unset)")
    add_identity_options(held)  # who had them written, for the audit log (else the operating-system user)

    feed = sub.add_parser("feed", help="live feed: list the messages the receiver refused, or send them again")
    feed.add_argument("action", choices=["list", "resend"])
    feed.add_argument("ids", nargs="*", metavar="ID|all", help="resend: the ids 'feed list' shows, or 'all'")
    add_db_option(feed)
    add_identity_options(feed)

    review = sub.add_parser("review", help="browse recorded sessions, or review one (window)")
    review.add_argument("session", nargs="?", metavar="SESSION_ID|latest",
                        help="open this session at once (default: the session browser)")
    add_db_option(review)
    review.add_argument("--server", metavar="URL", nargs="?", const="",
                        help="read every chair's sessions from the clinic's PostgreSQL (a reader login); "
                             "without URL: INFUSION_MONITOR_SERVER or config 'server'. Read-only")
    # Who reviews signs in to an account (the role is the account's); without --user a dialog asks.
    add_identity_options(review)

    sub.add_parser("drivers", help="list device drivers")

    ports = sub.add_parser("ports", help="list serial ports on this computer")
    ports.add_argument("--json", action="store_true", help="machine-readable output")

    emulate = sub.add_parser("emulate", help="act as a monitor: send the simulated patient to a serial port")
    emulate.add_argument("--protocol", required=True, metavar="NAME",
                         help="device to emulate (a driver name, e.g. masimo-ascii, nonin, nellcor-ascii, "
                              "philips-intellivue, ge-dinamap, hl7-mllp)")
    emulate.add_argument("--port", required=True, metavar="URL",
                         help="port the device writes to (e.g. /dev/ttyUSB1, socket://host:port), or 'pty'; "
                              "for hl7-mllp the listener's HOST:PORT")
    emulate.add_argument("--scenario", default="normal", help="simulated patient scenario")
    emulate.add_argument("--speed", type=_speed, default=1.0, help="simulated seconds per second, e.g. 10")
    emulate.add_argument("--duration", type=_seconds, metavar="WALL_SECONDS", help="stop after so many seconds")
    emulate.add_argument("--seed", type=int, default=1, help="simulated patient seed")
    emulate.add_argument("--set", dest="settings", type=_key_value, action="append", default=[],
                         metavar="KEY=VALUE", help="device setting (repeatable), e.g. format=8")
    emulate.add_argument("--baud", type=_baud, help="override the device's baud rate")
    emulate.add_argument("--parity", choices=["N", "E", "O", "M", "S"], help="override the device's parity")
    emulate.add_argument("--flow", choices=["none", "xonxoff", "rtscts"], help="override the flow control")
    limits = sub.add_parser("limits", help="print the active alarm limits (and check a profile)")
    limits.add_argument("--profile", metavar="FILE", help="alarm profile to check (default: the active one)")
    build_security_parsers(sub)

    protocols = sub.add_parser("protocols", help="list the treatment protocols (and check a protocol file)")
    protocols.add_argument("--check", metavar="FILE", help="check this protocol file and describe it")

    course = sub.add_parser("course", help="a patient's course of treatment: every session side by side")
    course.add_argument("mrn", metavar="MRN", help=ASK_HELP)
    add_db_option(course)
    course.add_argument("--format", default="json", choices=["json", "csv", "pdf"], help="json (default), csv or pdf")
    course.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    course.add_argument("--deidentify", action="store_true",
                        help="leave out the patient's identifiers; days counted from the first session")
    add_identity_options(course)
    course.add_argument("--server", metavar="URL",
                        help="the course from the clinic's PostgreSQL: every chair's sessions of the MRN; audited "
                             "locally")

    rems_cmd = sub.add_parser("rems", help="esketamine REMS monitoring forms: list unsubmitted, mark submitted")
    add_db_option(rems_cmd)
    rems_cmd.add_argument("--submitted", metavar="SESSION", help="mark this session's form as submitted")
    rems_cmd.add_argument("--reference", metavar="TEXT", help="the REMS confirmation number, if any")
    rems_cmd.add_argument("--incomplete-because", metavar="TEXT",
                          help="with --submitted, for a form with fields empty in the record: why (e.g. closed "
                               "without discharge; the rest filled in on the worksheet); audited")
    add_identity_options(rems_cmd)  # who submitted it, signed in
    rems_cmd.add_argument("--worksheet", metavar="SESSION", help="write this session's form as a PDF worksheet")
    rems_cmd.add_argument("--out", metavar="FILE", help="where the worksheet goes")
    rems_cmd.add_argument("--server", metavar="URL",
                          help="every chair's forms from the clinic's PostgreSQL (the list, a worksheet; read-only: "
                               "a form is marked submitted at its chair); audited locally")

    audit = sub.add_parser("audit", help="read the audit log (a signed-in admin or physician, on a database without "
                                         "accounts the operating-system user; the reading is audited)")
    add_db_option(audit)
    audit.add_argument("--session", metavar="SESSION_ID|latest", help="only this session's entries")
    audit.add_argument("--by", metavar="NAME", help="only what this person did (the name as the log gives it)")
    audit.add_argument("--action", metavar="NAME", help="only this action, e.g. export, alarms_off, sign_in")
    audit.add_argument("--since", metavar="DATE", help="from this local date (YYYY-MM-DD) or time (YYYY-MM-DDTHH:MM, "
                                                       "with its UTC offset where the clock showed it twice)")
    audit.add_argument("--until", metavar="DATE", help="up to this local date (the whole day) or time")
    audit.add_argument("--format", default="text", choices=["text", "csv", "json"], help="text (default), csv or json")
    audit.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    add_identity_options(audit)

    from monitor import clinic_cli

    clinic_cli.add_parsers(sub)
    _verbose_everywhere(parser)
    return parser


def _verbose_everywhere(parser: argparse.ArgumentParser) -> None:
    """``-v/--verbose`` after any command and action too (``record ... --verbose``), not only before them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                if "--verbose" not in child._option_string_actions:
                    child.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                                       help="log more detail")
                _verbose_everywhere(child)


# -- commands --------------------------------------------------------------------------------


def _open_store(args: argparse.Namespace, *, must_exist: bool = False, readonly: bool = False) -> Store:
    return open_store(args.db, must_exist=must_exist, readonly=readonly)


#: An MRN given as ``-`` is asked for: what a command line says, every user of the computer reads (``ps``).
ASK_HELP = "'-' reads it from the terminal or the first line of standard input (a command line is public)"


def _ask_identifiers(args: argparse.Namespace) -> None:
    """Read each patient identifier given as ``-`` (before a secret: on standard input, the MRN comes first)."""
    for field in ("patient", "mrn"):
        given = getattr(args, field, None)
        if given is not None and not given.strip():
            # An empty MRN (a script's unset variable) would record, or look for, no patient without a word.
            raise CliError(f"--{field}: the MRN is empty; give it, or '-' to type it" if field == "patient"
                           else "the MRN is empty; give it, or '-' to type it")
        if given != "-":
            continue
        if sys.stdin.isatty():
            sys.stderr.write("Patient MRN: ")
            sys.stderr.flush()
        line = sys.stdin.readline().strip()
        if not line:
            raise CliError("no patient MRN given (the terminal or the first line of standard input)")
        setattr(args, field, line)


def _acting_name(args: argparse.Namespace) -> str:
    """Who the audit log names: the account ``--user`` signs in to (in this computer's database, where exports are
    audited), else the operating-system user."""
    if not args.user:
        return os_user().name
    store = _open_store(args, must_exist=True)
    try:
        return acting_principal(args, store).name
    finally:
        store.close()


def _reader(args: argparse.Namespace, what: str, action: str, **asked: Any) -> Principal:
    """Who takes patients' records out with ``what`` (:func:`~monitor.security_cli.reading_principal`: where the
    database has accounts, only a signed-in one), checked in this computer's database, where the reading is
    audited. Without a database here there are no accounts: a chair that only reads the clinic's server reads as
    the operating-system user, as before."""
    if not args.user and not database_file(args.db).exists():
        return os_user()
    with _open_store(args, must_exist=True) as store:
        return reading_principal(args, store, what, action, **asked)


def _port_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from monitor.app.device import port_overrides

    return port_overrides(getattr(args, "baud", None), getattr(args, "parity", None), getattr(args, "flow", None))


def make_recorder(args: argparse.Namespace, store: Store, warn: Callable[[str], None] | None = None) -> Recorder:
    """The recorder ``record`` asked for: the ``--user`` account (else the OS user) records it."""
    # The recording's wiring is imported here, not at the top: the other commands (an export) do without it.
    from monitor.app import launch
    from monitor.app.sessions import start_session

    principal = acting_principal(args, store)
    return start_session(launch.session_spec(args), store, principal, warn or _warn_stderr)


def _rings(previous: AlarmRecord | None, alarm: AlarmRecord) -> bool:
    """Whether a change of an alarm asks for a response now (the terminal's bell, the only sound of ``record``):
    a medium or high alarm that starts, rises to that priority, or is in breach again."""
    from monitor.alarms.model import AlarmState, Priority

    if alarm.priority < Priority.MEDIUM or alarm.state is not AlarmState.ACTIVE:
        return False
    return previous is None or alarm.priority > previous.priority or previous.state is not AlarmState.ACTIVE


def _watchdog_alarm(out: Lines, stalls: list[Any]) -> None:
    """The watchdog's high-priority technical alarm in the terminal: text and the bell, repeated while it lasts."""
    if stalls:
        for stall in stalls:
            out.write(f"\a  ALARM HIGH technical: {stall.text()}\n")
    else:
        out.write("  watchdog: monitoring running again\n")
    out.flush()


def _warn_stderr(text: str) -> None:
    print(text, file=sys.stderr)


def progress_line(status: Any) -> str:
    """The one-line summary ``record`` prints."""
    from drivers.core.readings import Parameter
    from monitor.constants import VALUE_STALE_AFTER_S

    latest = {r.parameter: r for r in status.latest}

    def aged(r: Any) -> str:
        """A value with its age once it is no longer current (the window marks it stale then too), at once when
        the device's link is not connected (nothing newer can come)."""
        if r is None or r.value is None:
            return "---"
        age = status.now - r.t
        current = age <= VALUE_STALE_AFTER_S and status.link.state == "connected"
        return f"{r.value:g}" if current else f"{r.value:g} ({age:.0f} s old)"

    def value(p: Parameter) -> str:
        r = latest.get(p)
        return "---" if r is None or r.value is None else f"{r.value:g}"

    hr_text = aged(status.heart_rate)
    phase = status.phase_label
    if status.phase is Phase.INFUSION:
        phase += f" {minutes_seconds(status.infusion_elapsed_s)}/{status.infusion_plan_min:g}min"
    elif status.phase is Phase.RECOVERY:
        left = status.recovery_remaining_s
        # Past its minimum the watch goes on until discharge: how long since, as the window says, never a time
        # "left" below 0.
        phase += f" {minutes_seconds(left)} left" if left >= 0 else f" watch done {time_ago(-left)}"
    nibp_age = "" if status.nibp_age_s is None else f" ({minutes_seconds(status.nibp_age_s)} ago)"
    link = status.link
    marks = not_patient_data(status.latest)
    return (
        f"[{phase}] t+{minutes_seconds(status.elapsed_s)} HR {hr_text} SpO2 {aged(latest.get(Parameter.SPO2))} "
        f"NIBP {value(Parameter.NIBP_SYS)}/{value(Parameter.NIBP_DIA)} ({value(Parameter.NIBP_MEAN)}){nibp_age} | "
        f"link {link.state} rx {link.bytes_in}B ok {link.frames_decoded} bad {link.frames_rejected} "
        f"resync {link.resyncs} reconn {link.reconnects} | stored {status.stored_readings}"
        + ("" if status.storage_ok else " | STORAGE FAILING")
        + (f" | {' AND '.join(marks).upper()} - NOT PATIENT VALUES" if marks else "")
        + (f" | score due: {scores_due_text(status)}" if status.scores_due else "")
    )


def scores_due_text(status: Any) -> str:
    """The scales due, each with which of its scores where the protocol asks it twice ("CADSS-6 (before
    discharge)")."""
    which = dict(status.scores_due_for)
    return ", ".join(f"{scale} ({which[scale]})" if scale in which else scale for scale in status.scores_due)


def not_patient_data(readings: Any) -> list[str]:
    """``demo data`` / ``test data`` when any of the readings is marked so by the device."""
    from drivers.core.readings import Flag

    flags = {flag for reading in readings for flag in reading.flags}
    return [text for flag, text in ((Flag.DEMO_DATA, "demo data"), (Flag.TEST_DATA, "test data")) if flag in flags]


DEMO_WARNING = (
    "WARNING: the monitor marks its values as {what}: they are NOT the patient's vital signs. "
    "Switch the monitor out of demo/test mode before monitoring a patient.\n"
)


def cmd_record(args: argparse.Namespace, out: TextIO) -> int:
    """Record a session headless until complete, stopped, or out of time.

    What it prints goes through a writer of its own, with the terminal's flow control off: a terminal that takes
    no output (Ctrl-S, a stalled remote session) never holds up the recording (monitor/terminal_output.py).
    """
    from monitor.terminal_output import unblocked_terminal

    with unblocked_terminal(out) as terminal:
        return _record(args, terminal)


def _record(args: argparse.Namespace, out: TerminalOutput) -> int:
    """The recording, its lines to ``out``."""
    from monitor.alarms.engine import describe_change
    from monitor.alarms.model import AlarmState
    from monitor.guard import RECORDER
    from monitor.guard_process import GuardProcess
    from monitor.recorder import wall_deadline
    from monitor.terminal_guard import TERMINAL_GUARD_COMMAND
    from monitor.watchdog import Watchdog, WatchdogThread

    def warn(text: str) -> None:
        out.write(text + "\n")

    from monitor.app import launch
    from monitor.app.services import check_services, start_services
    from monitor.app.sessions import check_device_named, ending_notes

    # What can be refused without touching anything is refused before the database (and its key file) is made.
    check_device_named(launch.session_spec(args))
    check_services(launch.service_spec(args))
    store = _open_store(args)
    try:
        _warn_unfinished(store, args, out)
        if args.resume:
            from monitor.app.sessions import check_not_finished_on_server

            check_not_finished_on_server(store, args.resume, launch.service_spec(args).server, "resumed")
        recorder = make_recorder(args, store, warn=warn)
        out.write(f"session {recorder.session.id} on {recorder.source.device}\n")
        out.write(f"alarm profile {recorder.profile_label}\n")
        out.flush()
        last_print = [0.0]
        warned: set[str] = set()
        alarm_rows: dict[str, AlarmRecord] = {}

        suspends: list[int] = []
        failed_at = [0.0]

        def show(update: Any) -> None:
            """Print the turn's news; a failure to print it is a high-priority technical alarm with the bell,
            repeated at most once a second while it lasts."""
            try:
                show_update(update)
            except Exception as exc:
                logging.getLogger(__name__).exception("cannot print the recording's news")
                now = time.monotonic()
                if now - failed_at[0] >= 1.0:
                    failed_at[0] = now
                    out.write(f"\a  ALARM HIGH technical: DISPLAY FAILED: the recording's news cannot be printed "
                              f"({type(exc).__name__}: {str(exc)[:120]}) - alarms and values are not shown; "
                              "watch the patient directly\n")
                    out.flush()

        def show_update(update: Any) -> None:
            while suspends:
                suspends.pop()
                out.write(SUSPEND_REFUSED + "\n")
            for what in not_patient_data(update.readings):
                if what not in warned:
                    warned.add(what)
                    out.write(DEMO_WARNING.format(what=what))
            for event in update.events:
                out.write(f"  event {event.kind.value} {dict(event.detail) if event.detail else ''}\n".rstrip() + "\n")
            for change in update.alarm_changes:
                previous = alarm_rows.get(change.id)
                line = describe_change(previous, change)
                alarm_rows[change.id] = change
                if change.state is AlarmState.ENDED:
                    del alarm_rows[change.id]
                if line:
                    out.write(line + ("\a" if _rings(previous, change) else "") + "\n")
            now = time.monotonic()
            if not args.quiet and now - last_print[0] >= 1.0:
                last_print[0] = now
                out.write_progress(progress_line(update.status) + "\n")
            out.flush()

        recorder.add_listener(show)
        services = start_services(store, recorder, launch.service_spec(args))
        guard = GuardProcess(TERMINAL_GUARD_COMMAND, recorder.session.id[:8], kind=RECORDER)
        if not guard.start():
            out.write(f"\a  ALARM MEDIUM technical: {guard.error}: a stop of this program would go unannounced\n")

        def beat_guard() -> None:
            """Tell the guard the watchdog's thread runs (each half second); say when the guard had ended."""
            news = guard.beat()
            if news is not None:
                out.write(f"  guard: {news}\n")
                out.flush()

        watchdog = WatchdogThread(Watchdog(recorder), lambda stalls: _watchdog_alarm(out, stalls),
                                  on_turn=beat_guard)
        watchdog.start()
        try:
            with _stop_on_signals(recorder, lambda: suspends.append(1)):
                recorder.run(until=wall_deadline(args.duration))
        finally:
            watchdog.stop()
            guard.bye()
            services.stop()
            if services.server_link is not None:
                out.write(services.server_link.status().text + "\n")
            if services.feed is not None:
                feed_status = services.feed.status()
                if feed_status.queued:
                    out.write(f"live feed: {feed_status.queued} messages wait in the queue for the next start\n")
                if feed_status.dead_letters:
                    out.write(
                        f"live feed: {feed_status.dead_letters} messages refused by the receiver are set aside "
                        "(infusion-monitor feed list)\n"
                    )
        stored = recorder.status().stored_readings
        out.write(f"session {recorder.session.id} {recorder.end_status}: {stored} readings stored\n")
        for note in ending_notes(recorder, to_server=services.server_link is not None):
            out.write(note + "\n")
        return EXIT_NOT_STORED if recorder.rows_not_written else EXIT_OK
    finally:
        store.close()


#: Said when Ctrl-Z reaches ``record``: a suspended recorder would stop monitoring without a word.
SUSPEND_REFUSED = "Ctrl-Z ignored: monitoring cannot be paused from the keyboard (Ctrl-C ends the session)"


@contextlib.contextmanager
def _stop_on_signals(recorder: Any, on_suspend: Callable[[], None]) -> Any:
    """Ctrl-C and SIGTERM end the session cleanly; Ctrl-Z (SIGTSTP) is refused (``on_suspend`` hears of it).

    The handlers only set a flag or append to a list: they run between two bytecodes of the main thread.
    """
    def handler(signum: int, frame: FrameType | None) -> None:
        recorder.request_stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    suspend = getattr(signal, "SIGTSTP", None)
    if suspend is not None:
        previous[suspend] = signal.signal(suspend, lambda *_: on_suspend())
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _warn_unfinished(store: Store, args: argparse.Namespace, out: Lines) -> None:
    if args.resume:
        return
    from monitor.store.held_file import pending_recovery_files

    for s in store.unfinished_sessions():
        waiting = pending_recovery_files(store.path, s.id)
        if waiting:
            # Resuming or closing it is refused until they are in (they hold its last rows and its end).
            out.write(
                f"note: session {s.id} (started {_local(s.started_at)}) ended with rows its database could not "
                f"take; they wait in {', '.join(map(str, waiting))}: write them in with "
                f"`infusion-monitor write-held FILE --db {store.path}`\n"
            )
            continue
        out.write(
            f"note: session {s.id} (started {_local(s.started_at)}) was left unfinished; "
            f"resume it with --resume {s.id[:8]} or close it with `infusion-monitor close {s.id[:8]}`\n"
        )


def _local(t: float | None) -> str:
    return "" if t is None else clock_text(t, "%Y-%m-%d %H:%M")


def cmd_sessions(args: argparse.Namespace, out: TextIO) -> int:
    """List sessions: the newest ``--limit`` (or ``--all``), or one patient's whole course."""
    from drivers.core.readings import iso_utc
    from monitor.session_list import listing_entry
    from monitor.store import SessionSearch

    source = record_source(args.db, getattr(args, "server", None))
    reader = _reader(args, "sessions", "sessions_listed")  # the list shows MRNs
    store = open_reader(args.db, source.server)
    patient = getattr(args, "patient", None)
    with store:
        criteria: dict[str, Any]
        limit = None if getattr(args, "all", False) else getattr(args, "limit", SESSIONS_LISTED)
        if patient:
            rows = store.course(patient)
            waiting, signed = awaiting_among(store, rows)
            criteria = {"one_patient": True}
            if getattr(args, "unsigned", False):
                # The patient's sessions that still wait for a physician, the course's order kept.
                rows = waiting
                criteria["unsigned"] = True
            found = len(rows)
        elif getattr(args, "unsigned", False):
            # A work queue: every finished session awaiting a sign-off is counted, the newest listed first.
            waiting, signed = awaiting_among(store, store.sessions(None))
            rows = waiting if limit is None else waiting[:limit]
            found, criteria = len(waiting), {"limit": limit, "unsigned": True}
        else:
            rows = store.sessions(limit)
            found = len(rows) if limit is None or len(rows) < limit else store.count_sessions(SessionSearch())
            criteria = {"limit": limit}
            signed = sign_offs_of(store, [s.id for s in rows])
        try:
            source.record_read("sessions_listed", reader.name, **listing_entry(rows, found=found,
                                                                                criteria=criteria))
        except StoreError as exc:  # listed all the same (a full disk must not hide the record), and said
            print(f"infusion-monitor: warning: who listed these sessions could not be recorded: {exc}",
                  file=sys.stderr)
        more = found - len(rows)
        # On standard error with --json, so that what a script reads stays one JSON list.
        more_line = (f"{more} older session{'s' if more != 1 else ''} not listed: --limit N lists more, "
                     "--all every one\n") if more > 0 else ""
        if args.json:
            json.dump(
                [
                    {
                        "id": s.id,
                        "patient": s.patient,
                        "started_at": iso_utc(s.started_at),
                        "length_s": round(s.length_s, 1),
                        "phases_reached": list(s.phases_reached),
                        "status": s.status,
                        "driver": s.driver,
                        "signed_off": [{"by": o.by, "role": o.role, "at": iso_utc(o.t), "comment": o.comment}
                                       for o in signed.get(s.id, [])],
                    }
                    for s in rows
                ],
                out,
                indent=1,
            )
            out.write("\n")
            sys.stderr.write(more_line)
            return EXIT_OK
        if not rows:
            out.write("no session awaits a sign-off\n" if getattr(args, "unsigned", False) else "no sessions yet\n")
            return EXIT_OK
        out.write(_session_lines(rows, signed) + more_line)
    return EXIT_OK


def _session_lines(rows: Sequence[SessionSummary], signed: Mapping[str, Sequence[SignOff]]) -> str:
    """The session list as columns as wide as their widest cell: a start that names its zone ("2026-11-01 01:24
    EDT") or a length of hours ("1 h 45 min") pushed the columns after it out of line with the header."""
    cells = [(s.id[:8], terminal_text(s.patient or "-")[:12], _local(s.started_at), length_text(s.length_s),
              s.status, terminal_text(sign_off_text(s.status, signed.get(s.id, [])) or "-"),
              " > ".join(s.phases_reached)) for s in rows]
    start = max([16, *(len(c[2]) for c in cells)])
    length = max([7, *(len(c[3]) for c in cells)])
    lines = [f"{'id':10} {'patient':12} {'start':{start}} {'length':>{length}}  {'status':10} {'signed off':14} phases"]
    lines += [f"{c[0]:10} {c[1]:12} {c[2]:{start}} {c[3]:>{length}}  {c[4]:10} {c[5]:14} {c[6]}" for c in cells]
    return "".join(line + "\n" for line in lines)


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    """Export one session in a format."""
    from monitor.exports import ExportError, writer
    from monitor.exports.data import DEFAULT_RESAMPLE_S, ExportOptions

    try:
        _write, binary = writer(args.format)
    except ExportError as exc:
        raise CliError(str(exc)) from None
    to_stdout = args.out in (None, "-")
    if not to_stdout:
        from monitor.exports.files import ExportFileError, check_target

        try:
            check_target(args.out)  # before the work: no file name, a folder or a device is refused at once
        except ExportFileError as exc:
            raise CliError(str(exc)) from None
    if binary and args.out is None and sys.stdout.isatty():
        raise CliError(
            f"the {args.format} export is binary and standard output is a terminal; "
            "give --out FILE (or --out - to write it to standard output anyway)"
        )
    source = record_source(args.db, getattr(args, "server", None))
    reader = _reader(args, "export", "export", session=args.session, format=args.format)
    ranges, warning = reference_ranges(source)
    if warning:
        _warn_stderr(f"warning: {warning}")
    options = ExportOptions(
        ranges=ranges,
        deidentify=args.deidentify,
        relative_time=args.relative_time,
        keep_staff=args.keep_staff,
        resample_s=DEFAULT_RESAMPLE_S if args.resample is None else args.resample,
        user=reader.name,
        identifier_system=patient_id_system(),
    )
    stream = (sys.stdout.buffer if binary else out) if to_stdout else None
    record = export_session(source, args.session, args.format, options, path=None if to_stdout else args.out,
                            stream=stream)
    # Every format says it inside too, except the CSV (a bare table of values).
    print(f"export: record {record.verification}; alarm profile {record.alarm_profile}", file=sys.stderr)
    return EXIT_OK


def cmd_sign_off(args: argparse.Namespace, out: TextIO) -> int:
    """A signed-in physician signs off a finished session (co-signs one another physician signed)."""
    from monitor.sign_off import SignOffRefused, sign_off, sign_offs

    store = _open_store(args, must_exist=True)
    with store:
        principal = acting_principal(args, store, required=True)
        role = principal.role if principal.authenticated else None
        try:
            event = sign_off(store, args.session, user=principal.name, role=role, comment=args.comment)
        except SignOffRefused as exc:
            raise CliError(f"not signed off: {exc}") from None
        except SessionNotFound as exc:
            raise CliError(str(exc)) from None
        session_id = store.session_row(args.session)["id"]
        others = [s.by for s in sign_offs(store.events(session_id)) if s.t < event.t]
        recording = store.recording_now()
    co_signed = f", co-signing {', '.join(others)}" if others else ""
    out.write(f"session {session_id} signed off by {principal.name} at {_local(event.t)}{co_signed}\n")
    answer = send_sign_off_to_server(store.path, still_recording=recording)
    if answer is not None:
        out.write(answer[1] + "\n")
    return EXIT_OK


def cmd_close(args: argparse.Namespace, out: TextIO) -> int:
    """Close an unfinished session without resuming it (a signed-in account where the database has accounts)."""
    from monitor.app.sessions import check_may_close, check_not_finished_on_server, close_unfinished

    store = _open_store(args, must_exist=True)
    with store:
        principal = acting_principal(args, store)
        check_may_close(store, principal)
        check_not_finished_on_server(store, args.session, None, "closed")
        session_id = close_unfinished(store, args.session, principal.name)
        out.write(f"session {session_id} closed; nothing stored was removed\n")
        recording = any(s.status == "recording" for s in store.sessions())
    sent = send_close_to_server(store.path, session_id, still_recording=recording)
    if sent is not None:
        out.write(sent + "\n")
    return EXIT_OK


def cmd_recover(args: argparse.Namespace, out: TextIO) -> int:
    """Copy every readable row of a damaged database into a new file."""
    from monitor.recover import RecoverError, recover

    try:
        report = recover(args.damaged, args.target)
    except (RecoverError, StoreError) as exc:
        raise CliError(str(exc)) from None
    out.write("\n".join(report.lines()) + "\n")
    return EXIT_OK


def cmd_write_held(args: argparse.Namespace, out: TextIO) -> int:
    """Write the rows kept in a recovery file (the store never came back before the recording ended)."""
    from monitor.store.held_file import cut_off_text, write_held

    store = _open_store(args, must_exist=True)
    store.close()
    user = _acting_name(args)
    try:
        done = write_held(store.path, args.file, user=user)
    except (OSError, ValueError, StoreError) as exc:
        raise CliError(str(exc)) from None
    if done.rows == 0:
        out.write(f"the held rows of {args.file} were written to {store.path} before; nothing written again\n")
    else:
        out.write(f"{done.rows} held rows from {args.file} written to {store.path}\n")
    if done.unsealed_lines:
        out.write(cut_off_text(done.unsealed_lines) + "\n")
    sent = send_held_to_server(store.path, done.session_id, args.server)
    if sent is not None:
        out.write(sent + "\n")
    return EXIT_OK


def cmd_feed(args: argparse.Namespace, out: TextIO) -> int:
    """List the live feed's set-aside (refused) messages, or put them back in the queue."""
    from drivers.core.readings import iso_utc
    from monitor.feed import resend
    from monitor.store.feed_queue import dead_letters

    store = _open_store(args, must_exist=True)
    with store:
        if args.action == "list":
            letters = dead_letters(store)
            if not letters:
                out.write("no messages set aside\n")
            for d in letters:
                out.write(
                    f"{d.id:6}  {d.control_id}  observed {iso_utc(d.observed_at)}  session {d.session_id}  "
                    f"{d.attempts} tries  {d.last_error or ''}\n"
                )
            return EXIT_OK
        if not args.ids:
            raise CliError("feed resend needs the ids from 'feed list', or 'all'")
        ids: list[int] | None = None
        if args.ids != ["all"]:
            try:
                ids = [int(i) for i in args.ids]
            except ValueError:
                raise CliError(f"feed resend: ids are numbers from 'feed list' (or 'all'), not {args.ids}") from None
        try:
            count = resend(store, ids, reading_principal(args, store, "feed resend", "feed_resend", ids=args.ids).name)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        out.write(f"{count} message(s) back in the feed queue\n")
    return EXIT_OK


def cmd_drivers(args: argparse.Namespace, out: TextIO) -> int:
    """List drivers with a one-line description."""
    from drivers.registry import listing

    for row in listing():
        settings = f" [{row.port_settings}]" if row.port_settings else ""
        mark = "" if row.ok else "  (broken, skipped)"
        out.write(f"{row.name:20} {row.description}{settings}{mark}\n")
    return EXIT_OK


def cmd_ports(args: argparse.Namespace, out: TextIO) -> int:
    """List serial ports with their descriptions."""
    from drivers.transport.ports import available_ports

    found = available_ports()
    if args.json:
        rows = [{"device": p.device, "description": p.description, "hwid": p.hwid, "stable": p.stable}
                for p in found]
        json.dump(rows, out, indent=1)
        out.write("\n")
        return EXIT_OK
    if not found:
        out.write("no serial ports found (plug in the USB-serial adapter, or give a URL such as socket://host:port)\n")
        return EXIT_OK
    width = max(len(p.device) for p in found)
    for p in found:
        out.write(f"{p.device:{width}}  {p.description}  [{p.hwid}]\n")
        if p.stable:
            out.write(f"{'':{width}}  stable name: {p.stable}\n")
    if any(p.stable for p in found):
        out.write("Set the stable name as the port (--port, or port = in the config): an adapter pulled out and put "
                  "back can return under another ttyUSB number, and the stable name follows it.\n")
    return EXIT_OK


def cmd_emulate(args: argparse.Namespace, out: TextIO) -> int:
    """Behave like a monitor on a serial port (or HL7 sender) until the duration ends or the user stops it."""
    from drivers.emulation.device import EmulationRequest, EmulatorError
    from drivers.emulation.registry import emulate

    try:
        emulate(EmulationRequest(args.protocol, args.port, args.scenario, args.seed, args.speed, args.duration,
                                 dict(args.settings), _port_overrides(args)), out)
    except EmulatorError as exc:
        raise CliError(str(exc)) from None
    return EXIT_OK


def cmd_limits(args: argparse.Namespace, out: TextIO) -> int:
    """Print the limits of the active (or the given) alarm profile; a broken profile is an error."""
    from monitor.alarms.profile import (
        ProfileError,
        default_profile,
        describe_profile,
        load_profile,
        resolve_profile,
    )

    try:
        path = resolve_profile(args.profile, UserConfig.load().values)
        profile = default_profile() if path is None else load_profile(path)
    except (ProfileError, ConfigError) as exc:
        raise CliError(str(exc)) from None
    out.write(describe_profile(profile))
    return EXIT_OK


def cmd_protocols(args: argparse.Namespace, out: TextIO) -> int:
    """List the protocols found (shipped and the clinic's), or check one file."""
    from monitor.protocols import (
        ProtocolError,
        available,
        clinic_protocols,
        describe,
        load_protocol_file,
        protocols_dir,
    )

    if args.check:
        try:
            out.write(describe(load_protocol_file(args.check)))
        except ProtocolError as exc:
            raise CliError(str(exc)) from None
        return EXIT_OK
    for protocol in available().values():
        out.write(f"{protocol.name:20} {protocol.title}  [{protocol.source}]\n")
    folder = protocols_dir()
    broken = clinic_protocols()[1]
    out.write(f"clinic protocols folder: {folder}\n")
    for problem in broken:
        out.write(f"not usable: {problem}\n")
    return EXIT_ERROR if broken else EXIT_OK


def cmd_course(args: argparse.Namespace, out: TextIO) -> int:
    """Write a patient's course (every session, one row each) as JSON, CSV or PDF."""
    if args.format == "pdf" and not args.out:
        raise CliError("a PDF needs --out FILE")
    source = record_source(args.db, getattr(args, "server", None))
    reader = _reader(args, "course", "course_export", format=args.format)  # no MRN in the log: it keeps none
    course = read_course(source, mrn=args.mrn)
    for warning in course.warnings:  # in the JSON and the PDF too; a CSV has one row per session only
        _warn_stderr(f"warning: {warning}")
    to_file = bool(args.out) and args.out != "-"
    export_course(source, course, args.format, path=args.out if to_file else None, stream=None if to_file else out,
                  deidentify=args.deidentify, user=reader.name)
    return EXIT_OK


def cmd_rems(args: argparse.Namespace, out: TextIO) -> int:
    """List sessions whose REMS form is not yet submitted, or mark one submitted."""
    from monitor import rems
    from monitor.protocols import available

    if getattr(args, "server", None) is not None:
        return _rems_from_server(args, out)
    store = _open_store(args, must_exist=True)
    try:
        if args.submitted:
            submitter = acting_principal(args, store, required=True).name
            marked = mark_rems_submitted(store, args.submitted, user=submitter, reference=args.reference,
                                         incomplete_reason=args.incomplete_because)
            empty = f" with {len(marked.missing())} field(s) empty in the record" if marked.missing() else ""
            out.write(f"session {args.submitted}: REMS form marked submitted{empty}\n")
            return EXIT_OK
        if args.worksheet:
            return _rems_worksheet(store, args, out)
        reader = reading_principal(args, store, "rems", "rems_forms_listed")  # the list shows MRNs
        pending = rems.pending_forms(store, [p.name for p in available().values() if p.rems])
        _list_rems_forms(pending, {}, lambda **ids: store.audit("rems_forms_listed", user=reader.name, **ids), out)
        return EXIT_OK
    finally:
        store.close()


def _list_rems_forms(pending: Sequence[PendingForm], chairs: Mapping[str, str],
                     audit: Callable[..., None], out: TextIO) -> None:
    """Audit and write the list of forms not yet submitted (each with its chair where ``chairs`` names it)."""
    from monitor.session_list import ids_kept

    now = time.time()
    try:
        audit(**ids_kept([form.session_id for form in pending]))
    except StoreError as exc:  # listed all the same, as `sessions` lists (the forms are due), and said
        _warn_stderr(f"infusion-monitor: warning: who listed these forms could not be recorded: {exc}")
    for form in pending:
        late = "  OVERDUE" if form.overdue(now) else ""
        chair = f"  at {terminal_text(chairs[form.session_id])}" if form.session_id in chairs else ""
        out.write(f"{form.session_id[:8]}  {_local(form.started_at)}  {form.patient_mrn or '-':14} "
                  f"due by {_local(form.due_by)}{late}{chair}\n")
    out.write(f"{len(pending)} REMS form(s) not yet submitted\n")


def _rems_from_server(args: argparse.Namespace, out: TextIO) -> int:
    """``rems --server``: every chair's forms not yet submitted, or one session's worksheet, read from the clinic's
    server (read-only) and audited in this computer's database. A form is marked submitted at its chair."""
    from monitor import rems
    from monitor.app.stores import open_server
    from monitor.protocols import available

    if args.submitted:
        raise CliError("rems --submitted is not possible while reading the clinic's server (read-only): mark the form "
                       "at the chair that recorded the session; the mark reaches the server from there")
    if args.worksheet and not args.out:
        raise CliError("a worksheet needs --out FILE")
    source = record_source(args.db, args.server)
    assert source.server is not None
    if args.worksheet:
        reader = _reader(args, "rems --worksheet", "export", session=args.worksheet, format="rems_worksheet")
        with open_server(source.server) as server, _open_store(args) as local:
            form = rems_worksheet(server, args.worksheet, args.out, user=reader.name, audit_to=local)
        return _worksheet_written(args.out, form.missing(), out)
    reader = _reader(args, "rems", "rems_forms_listed")  # the list shows MRNs
    with open_server(source.server) as server:
        try:
            pending = rems.pending_forms(server, [p.name for p in available().values() if p.rems])
            chairs = server.chair_names([form.session_id for form in pending])
        except StoreError as exc:
            raise CliError(str(exc)) from None
    _list_rems_forms(pending, chairs, lambda **ids: source.record_read("rems_forms_listed", reader.name, **ids), out)
    return EXIT_OK


def cmd_audit(args: argparse.Namespace, out: TextIO) -> int:
    """Show the audit log's entries that match the filters, after recording who read them."""
    from monitor.audit_trail import WRITERS, AuditQuery, AuditReadError, day_bound, read_audit
    from monitor.store.errors import SessionNotFound

    if args.out and args.out != "-":
        from monitor.exports.files import ExportFileError, check_target

        try:
            check_target(args.out)
        except ExportFileError as exc:
            raise CliError(str(exc)) from None

    def bound(flag: str, text: str | None) -> float | None:
        try:
            return None if text is None else day_bound(text, end=flag == "--until")
        except AuditReadError as exc:
            raise CliError(f"{flag}: {exc}") from None

    try:
        query = AuditQuery(args.session, args.by, args.action,
                           bound("--since", args.since), bound("--until", args.until))
        store = _open_store(args, must_exist=True)
        with store:
            reading = read_audit(store, query, acting_principal(args, store), format=args.format,
                                 destination=args.out if args.out and args.out != "-" else "standard output")
    except (AuditReadError, SessionNotFound) as exc:
        raise CliError(str(exc)) from None
    write = WRITERS[args.format]
    if not args.out or args.out == "-":
        write(reading, out)
    else:
        from monitor.exports.files import ExportFileError, write_atomically

        try:
            write_atomically(args.out, lambda handle: write(reading, handle), binary=False)
        except ExportFileError as exc:
            raise CliError(str(exc)) from None
        out.write(f"{len(reading.entries)} audit entries written to {args.out}\n")
    return EXIT_OK


def _rems_worksheet(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    """Write one session's REMS form as a PDF worksheet (audited)."""
    if not args.out:
        raise CliError("a worksheet needs --out FILE")
    reader = reading_principal(args, store, "rems --worksheet", "export", session=args.worksheet,
                               format="rems_worksheet")
    return _worksheet_written(args.out, rems_worksheet(store, args.worksheet, args.out, user=reader.name).missing(),
                              out)


def _worksheet_written(path: str, missing: Sequence[str], out: TextIO) -> int:
    """Say where a REMS worksheet went and how many of its fields are still empty."""
    out.write(f"worksheet written to {path}" + (f"; {len(missing)} field(s) still empty" if missing else "") + "\n")
    return EXIT_OK


FRONTENDS_GROUP = "infusion_monitor.frontends"


def _run_frontend(name: str, args: argparse.Namespace) -> int:
    """Start a window the ``ui`` package registers as a front-end (the core never imports it)."""
    from importlib.metadata import entry_points

    found = {ep.name: ep for ep in entry_points(group=FRONTENDS_GROUP)}
    if name not in found:
        raise CliError("no window front-end is installed (reinstall the package with its ui/ folder)")
    try:
        run = found[name].load()
    except ImportError as exc:
        raise CliError(f"the window cannot start: {exc}") from None
    return int(run(args))


def cmd_gui(args: argparse.Namespace, out: TextIO) -> int:
    """Open the live window on a new (or resumed) session."""
    return _run_frontend("gui", args)


def cmd_review(args: argparse.Namespace, out: TextIO) -> int:
    """Open the session browser, or one session in the review window."""
    return _run_frontend("review", args)


def cmd_clinic(args: argparse.Namespace, out: TextIO) -> int:
    """``server …`` and ``station``: the clinic's PostgreSQL and the nurse station (monitor/clinic_cli.py)."""
    from monitor import clinic_cli

    if args.command == "station":
        return _run_frontend("station", args)
    try:
        return clinic_cli.run(args, out)
    except clinic_cli.ClinicError as exc:
        raise CliError(str(exc)) from None


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "gui": cmd_gui,
    "record": cmd_record,
    "sessions": cmd_sessions,
    "export": cmd_export,
    "close": cmd_close,
    "sign-off": cmd_sign_off,
    "recover": cmd_recover,
    "write-held": cmd_write_held,
    "feed": cmd_feed,
    "review": cmd_review,
    "drivers": cmd_drivers,
    "ports": cmd_ports,
    "emulate": cmd_emulate,
    "limits": cmd_limits,
    "users": lambda args, out: cmd_users(args, out, _open_store),
    "profiles": lambda args, out: cmd_profiles(args, out, _open_store),
    "verify": lambda args, out: cmd_verify(args, out, _open_store),
    "keys": cmd_keys,
    "backup": lambda args, out: cmd_backup(args, out, database_file(args.db)),
    "protocols": cmd_protocols,
    "course": cmd_course,
    "rems": cmd_rems,
    "audit": cmd_audit,
    "server": cmd_clinic,
    "station": cmd_clinic,
}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    for arg in argv:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
            parser.error(f"argument '{shown}' is not UTF-8 text; check the terminal's character set and type it again")
    # The window is the default command, with or without -v/--verbose before its options.
    first = next((i for i, arg in enumerate(argv) if arg not in ("-v", "--verbose")), len(argv))
    if first == len(argv) or (argv[first].startswith("-") and argv[first] not in ("-h", "--help", "--version")):
        argv = [*argv[:first], "gui", *argv[first:]]
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["gui", *argv])
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    out = out or sys.stdout
    try:
        _ask_identifiers(args)
        return COMMANDS[args.command](args, out)
    except CliError as exc:
        print(f"infusion-monitor: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except PermissionError as exc:
        # Another account's database, key file or folder (a second user at the computer): one line, no traceback.
        where = f": {exc.filename}" if exc.filename else ""
        print(f"infusion-monitor: error: permission denied{where} (this account may not read or write it: run as "
              "the account the monitor records under, or ask the clinic's IT for access)", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; say nothing more.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
