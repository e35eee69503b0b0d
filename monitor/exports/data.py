"""Everything an export needs about one session, optionally de-identified.

The session row, patient, events and alarm log are loaded at once (they are small). The readings
of an export are streamed (``load(..., stream=True)``): :class:`StoredReadings` reads them from
the store in time order each time it is iterated, a block of rows at a time, so a 24-hour session
is never held in memory whole; a review loads them as a tuple.

De-identification (``ExportOptions.deidentify``) removes what names a person or a device: the
patient row (name, MRN, birth date), the device description (it carries serial numbers), the
source ids of readings, the host name, and - unless ``keep_staff`` - the names of nurses and
physicians. Identifiers that a nurse may have typed into free text are replaced by
``[removed]``. The events the program writes about its own working keep only the keys
:data:`MACHINE_DETAIL_KEPT` lists (their texts can name a sender, a host, a path or another
patient), and technical alarms lose the words they were raised with. Times are shifted onto a
session-relative clock: the session starts at :data:`RELATIVE_EPOCH` (2000-01-01T00:00:00Z) and
every other time keeps its distance from the start, so durations and order survive while the date
of care does not.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property
from types import MappingProxyType
from typing import Any, Final

from drivers.core.readings import Flag, Parameter, Reading, parse_flags
from monitor import text_rules
from monitor.alarms.engine import message_without_detail
from monitor.alarms.model import AlarmRecord
from monitor.exports.codes import ReferenceRange
from monitor.exports.files import ExportCancelled
from monitor.protocols import DEFAULT_PROTOCOL, Protocol, ProtocolError, load_protocol
from monitor.session import PHASE_START_EVENT, PLAIN_PHASE_WORDS, EventKind, Phase, SessionEvent
from monitor.store import Reader, Store

__all__ = [
    "CLINICAL_ENTRIES", "MACHINE_DETAIL_KEPT", "DeviceBySource", "DeviceUse", "ExportCancelled", "ExportOptions",
    "PhaseLookup", "SessionRecord", "StoredReadings", "load",
]

_START_KINDS = {kind: phase for phase, kind in PHASE_START_EVENT.items()}

#: Where a session-relative clock puts the start of the session (2000-01-01T00:00:00Z).
RELATIVE_EPOCH: Final = 946_684_800.0
REMOVED: Final = "[removed]"
#: Event detail keys dropped from a de-identified export: a device's description or serial number,
#: and the patient's key (random, but it would link one patient's sessions across exports).
_DEVICE_KEYS: Final = frozenset(
    {"device", "previous_device", "serial", "serial_number", "device_serial", "patient_key"})
#: The timeline entries the staff make (phases, notes, scores, doses, checklists, forms, addenda, sign-offs): a
#: de-identified export keeps their details whole, since the figures and the course tables are read from them, and
#: takes the known identifiers out of what was typed in them.
CLINICAL_ENTRIES: Final = frozenset({
    EventKind.BASELINE_STARTED, EventKind.BASELINE_TAKEN, EventKind.INFUSION_STARTED, EventKind.INFUSION_PAUSED,
    EventKind.INFUSION_RESUMED, EventKind.INFUSION_STOPPED, EventKind.RECOVERY_STARTED,
    EventKind.SESSION_COMPLETED, EventKind.DISCHARGE_SCORED, EventKind.NOTE, EventKind.QUICK_EVENT,
    EventKind.SCORE, EventKind.ADDENDUM, EventKind.SIGNED_OFF, EventKind.CHECKLIST, EventKind.DOSE_PLANNED,
    EventKind.RATE_CHANGED, EventKind.INTERVENTION, EventKind.OUTCOME_SCORE, EventKind.REMS_FORM,
})
#: What a de-identified export keeps of the events the program writes about its own working (the device, its
#: link, the store, the clock, the HL7 listener, the live feed, the clinic's server): these keys only, codes and
#: figures. The rest is the program's own text about what it met, which can hold anything (the address of a
#: sender, another patient's MRN in a refused HL7 message, a file path, a host name, a device serial), so it is
#: left out rather than searched: a key added later stays out until it is listed here. An event of a kind
#: this program does not know is read as technical.
MACHINE_DETAIL_KEPT: Final[Mapping[EventKind, frozenset[str]]] = MappingProxyType({
    EventKind.SESSION_STARTED: frozenset({"driver", "protocol"}),
    EventKind.SESSION_RESUMED: frozenset({"driver", "gap_s", "last_data_at", "cuff_lost_at"}),
    EventKind.SESSION_CLOSED: frozenset({"phase"}),
    EventKind.CLOSED_AFTER_CRASH: frozenset({"phase"}),
    EventKind.DEVICE_CHANGED: frozenset({"driver", "at_resume"}),
    EventKind.LINK_LOST: frozenset(),
    EventKind.LINK_RESTORED: frozenset(),
    EventKind.PATIENT_IDENTIFIED: frozenset(),
    EventKind.TECHNICAL: frozenset({
        "condition", "check", "label", "measure", "parameter", "due_at", "done_at", "max_min", "interval_s",
        "nibp_age_s", "rows", "pleth_samples", "pleth_s", "numerics", "free_bytes"}),
    EventKind.SETTINGS_CHANGED: frozenset({"setting", "minutes", "before_minutes"}),
    EventKind.CLOCK_CHANGED: frozenset({"step_s"}),
    EventKind.DEVICE_CLOCK_OFFSET: frozenset({"offset_s"}),
    EventKind.READINGS_BEFORE_START: frozenset({"count", "earliest_before_start_s"}),
    EventKind.NIBP_REQUESTED: frozenset({"reason"}),
})
#: Keys of event details and alarm escalations that hold a moment in time.
_TIME_KEY = re.compile(r"^(t|at|.*_at)$")
#: FHIR numerics: one observation per parameter per this many seconds (0: every value).
DEFAULT_RESAMPLE_S: Final = 60.0
#: Readings handed on between progress reports (and checks for a cancelled export) while streaming.
STREAM_BLOCK: Final = 4096


class StoredReadings:
    """A session's stored readings, read afresh from the store each time they are iterated.

    De-identification (no source ids) and the session-relative clock are applied to each reading
    as it is read. ``on_block`` is called with the number of readings handed on so far every
    :data:`STREAM_BLOCK` readings; it may raise :class:`ExportCancelled` to stop the export.
    """

    def __init__(
        self,
        store: Reader,
        session_id: str,
        parameters: Iterable[Parameter] | None = None,
        *,
        shift: float = 0.0,
        keep_source: bool = True,
        on_block: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.parameters = None if parameters is None else tuple(parameters)
        self.shift = shift
        self.keep_source = keep_source
        self.on_block = on_block

    def transformed(self, *, shift: float = 0.0, keep_source: bool = True) -> StoredReadings:
        """The same readings moved back by ``shift`` more seconds, without source ids unless kept."""
        return StoredReadings(self.store, self.session_id, self.parameters, shift=self.shift + shift,
                              keep_source=self.keep_source and keep_source, on_block=self.on_block)

    def __iter__(self) -> Iterator[Reading]:
        if isinstance(self.store, Store):
            return self._local()
        return self._handed_on(self.store.readings(self.session_id, parameters=self.parameters))

    def _handed_on(self, readings: Iterable[Reading]) -> Iterator[Reading]:
        """``readings`` moved and stripped as asked, ``on_block`` told every :data:`STREAM_BLOCK` of them."""
        shift, keep_source, on_block = self.shift, self.keep_source, self.on_block
        for count, r in enumerate(readings, start=1):
            if shift or not keep_source:
                yield Reading(r.t - shift, r.parameter, r.value, r.source if keep_source else "", r.flags)
            else:
                yield r
            if on_block is not None and count % STREAM_BLOCK == 0:
                on_block(count)

    def _local(self) -> Iterator[Reading]:
        """:meth:`_handed_on` of a local store's rows, read a block at a time, each parameter name and status
        text turned into its value once (a day has ~260,000 rows; one loop, as this is done for every one)."""
        shift, on_block = self.shift, self.on_block
        keep_source = self.keep_source
        parameters: dict[str, Parameter] = {}
        flags: dict[str | None, frozenset[Flag]] = {}
        # Values repeat (a heart rate of 72 thousands of times) and a second's readings share a time: one
        # object each, so a report that holds the readings holds a third of the objects.
        values: dict[float | None, float | None] = {}
        sources: dict[str, str] = {}
        last_t: float | None = None
        count = 0
        assert isinstance(self.store, Store)
        for block in self.store.reading_blocks(self.session_id, self.parameters, STREAM_BLOCK):
            for t, name, value, status, source in block:
                parameter = parameters.get(name)
                if parameter is None:
                    parameter = parameters[name] = Parameter(name)
                flag_set = flags.get(status)
                if flag_set is None:
                    flag_set = flags[status] = parse_flags(status)
                if t == last_t:
                    t = last_t
                last_t = t
                value = values.setdefault(value, value)
                source = sources.setdefault(source, source) if keep_source else ""
                count += 1
                yield Reading(t - shift if shift else t, parameter, value, source, flag_set)
                if on_block is not None and count % STREAM_BLOCK == 0:
                    on_block(count)


@dataclass(frozen=True)
class ExportOptions:
    """How an export is made; every format reads the options that concern it."""

    deidentify: bool = False
    #: Shift times so the session starts at RELATIVE_EPOCH (always on when de-identifying).
    relative_time: bool = False
    #: Keep nurses' names in a de-identified export.
    keep_staff: bool = False
    #: FHIR: seconds per summarised observation of continuous numerics; 0 exports every value.
    resample_s: float = DEFAULT_RESAMPLE_S
    #: Who exports (printed on reports).
    user: str | None = None
    #: Reference ranges for HL7 OBX-7/OBX-8 and FHIR referenceRange/interpretation (None: the
    #: ranges of the built-in alarm profile).
    ranges: Mapping[Parameter, ReferenceRange] | None = None
    #: Namespace of the MRN: FHIR Patient.identifier.system and HL7 PID-3.4 (None: the documented default).
    identifier_system: str | None = None

    @property
    def shifts_time(self) -> bool:
        """Whether times are put on the session-relative clock."""
        return self.relative_time or self.deidentify


@dataclass(frozen=True)
class SessionRecord:
    """A stored session with its patient, readings, events and alarms."""

    session: dict[str, Any]
    patient: dict[str, Any] | None
    #: A tuple, or streamed from the store (:class:`StoredReadings`): iterate, never index.
    readings: Iterable[Reading]
    events: tuple[SessionEvent, ...]
    alarms: tuple[AlarmRecord, ...]
    deidentified: bool = False
    #: Whether the stored record verified (keyed hash chains, :mod:`monitor.integrity`), in words.
    verification: str = ""
    #: The alarm profile the session ran under: approved name and hash (or the built-in one).
    alarm_profile: str = ""
    #: Seconds subtracted from every stored time (0 unless on a session-relative clock).
    time_shift: float = 0.0
    options: ExportOptions = field(default_factory=ExportOptions)
    #: Identifiers of the other patients the session was attached to before its own (one identified by mistake
    #: and corrected): a de-identified export removes their names from free text too.
    earlier_patients: tuple[dict[str, Any], ...] = ()

    @property
    def id(self) -> str:
        """The session's random id."""
        return str(self.session["id"])

    @property
    def started_at(self) -> float:
        """Session start (UTC epoch seconds)."""
        return float(self.session["started_at"])

    @property
    def relative_time(self) -> bool:
        """Whether times are on the session-relative clock."""
        return self.time_shift != 0.0

    def phase_at(self) -> PhaseLookup:
        """A function-like object giving the phase at a time."""
        return PhaseLookup(self.events)

    def device_uses(self) -> tuple[DeviceUse, ...]:
        """Each device the session was started on, changed to or resumed on, in time order."""
        return device_uses(self.session, ((e.t, e.kind, e.detail) for e in self.events))

    def device_of(self) -> DeviceBySource:
        """A function-like object naming the device that measured a reading (None when de-identified)."""
        return DeviceBySource(() if self.deidentified else self.device_uses(), named=not self.deidentified)

    def devices_used(self) -> tuple[DeviceUse, ...]:
        """Every device the session used (driver and description), each once, in the order first used."""
        first: dict[tuple[str, str], DeviceUse] = {}
        for use in self.device_uses():
            first.setdefault((use.driver, use.device), use)
        return tuple(first.values())

    def devices_text(self) -> str:
        """Every device the session used, for a header: "<description> (driver <name>)", joined by "; then"."""
        used = self.devices_used()
        if not used:
            return f"{self.session.get('device') or '-'} (driver {self.session.get('driver') or '-'})"
        return "; then ".join(f"{use.device} (driver {use.driver})" for use in used)

    @cached_property
    def protocol(self) -> Protocol | None:
        """The protocol the session followed, as its file reads now (None: no such protocol any more)."""
        try:
            return load_protocol(self.session.get("protocol") or DEFAULT_PROTOCOL)
        except ProtocolError:
            return None

    @cached_property
    def phase_words(self) -> dict[Phase, str]:
        """What the session's protocol calls each phase (the phases' own names when the protocol is gone)."""
        return dict(PLAIN_PHASE_WORDS) if self.protocol is None else self.protocol.labels()

    def phase_label(self, phase: Phase) -> str:
        """What the session's protocol calls a phase."""
        return self.phase_words[phase]

    @property
    def kind_of_session(self) -> str:
        """What the session was, for a report's title: "Ketamine infusion session", "Esketamine intranasal session"
        (a nasal spray was titled an infusion)."""
        protocol = self.protocol
        if protocol is None:
            return "Monitored session"
        how = "infusion" if protocol.dose.infused else protocol.route
        return f"{protocol.drug.capitalize()} {how} session"

    @property
    def baseline(self) -> dict[str, Any] | None:
        """Stored baseline values, if one was taken."""
        raw = self.session.get("baseline")
        return json.loads(raw) if raw else None


@dataclass(frozen=True)
class DeviceUse:
    """A device the session took readings from from ``t`` on: its driver (the source id its readings carry) and
    its description (model, port and line settings)."""

    t: float
    driver: str
    device: str


def device_uses(session: Mapping[str, Any], events: Iterable[tuple[float, EventKind, Mapping[str, Any]]]
                ) -> tuple[DeviceUse, ...]:
    """The session's first device, then each one a device change or a resume names, in time order.

    A resume recorded before resumes named their device is passed over (it says nothing of the device)."""
    uses = []
    if session.get("device") and session.get("driver"):
        uses.append(DeviceUse(float(session["started_at"]), str(session["driver"]), str(session["device"])))
    for t, kind, detail in sorted(events, key=lambda event: event[0]):
        if kind in _DEVICE_EVENTS and detail.get("driver") and detail.get("device"):
            uses.append(DeviceUse(float(t), str(detail["driver"]), str(detail["device"])))
    return tuple(uses)


#: The timeline events after which readings come from the device they name.
_DEVICE_EVENTS: Final = frozenset({EventKind.DEVICE_CHANGED, EventKind.SESSION_RESUMED})


class DeviceBySource:
    """The device that measured a reading, found from the reading's stored source id (its driver's name).

    The device events are stamped once the new device is open, after its first readings may have been taken, so
    time alone would credit those readings to the device before it. The source id picks the driver; when one
    driver was used on more than one device (two ports), the use of that driver in force at the reading's time
    is taken, or its first use for a reading stamped just before it. A source id no device event names is shown
    as itself: the driver that measured, rather than a device that did not. ``named=False`` (de-identified)
    names nothing.
    """

    def __init__(self, uses: Iterable[DeviceUse], *, named: bool = True) -> None:
        self.named = named
        self.by_driver: dict[str, tuple[list[float], list[str]]] = {}
        for use in uses:
            times, devices = self.by_driver.setdefault(use.driver, ([], []))
            if devices and devices[-1] == use.device:
                continue
            times.append(use.t)
            devices.append(use.device)

    def __call__(self, source: str, t: float) -> str | None:
        if not self.named or not source:
            return None
        found = self.by_driver.get(source)
        if found is None:
            return source
        times, devices = found
        if len(devices) == 1:
            return devices[0]
        return devices[max(bisect.bisect_right(times, t) - 1, 0)]


class PhaseLookup:
    """Phase at a moment, from the phase-start events of the timeline."""

    def __init__(self, events: tuple[SessionEvent, ...]) -> None:
        starts = sorted((e.t, _START_KINDS[e.kind]) for e in events if e.kind in _START_KINDS)
        self.times = [t for t, _ in starts]
        self.phases = [p for _, p in starts]

    def __call__(self, t: float) -> Phase:
        index = bisect.bisect_right(self.times, t) - 1
        return self.phases[index] if index >= 0 else Phase.SETUP


def load(
    store: Reader,
    session_id: str,
    *,
    deidentify: bool = False,
    options: ExportOptions | None = None,
    readings_of: Iterable[Parameter] | None = None,
    verify: bool = True,
    stream: bool = False,
    on_block: Callable[[int], None] | None = None,
) -> SessionRecord:
    """Read a whole session from the store, de-identified and time-shifted as the options say.

    ``readings_of`` limits the readings to those parameters (a review reads the rest as arrays);
    ``verify=False`` leaves ``verification`` empty (a window checks the record after it has painted).
    ``stream=True`` gives the readings as :class:`StoredReadings` (read while they are written;
    the store must stay open), reporting to ``on_block`` as they go.
    """
    options = options or ExportOptions(deidentify=deidentify)
    if deidentify and not options.deidentify:
        options = replace(options, deidentify=True)
    row = dict(store.session_row(session_id))
    row["status"] = store.status_of(row)
    if row.get("ended_at") is None:
        # A session not ended (unfinished, or still recording) runs as far as its stored data: what its dose and
        # durations count to.
        row["last_data_at"] = store.last_data_at(row["id"])
    stored_events = tuple(store.events(row["id"]))
    record = SessionRecord(
        session=row,
        patient=store.patient_row(row.get("patient_id")),
        readings=(
            StoredReadings(store, row["id"], readings_of, on_block=on_block) if stream
            else tuple(store.readings(row["id"], parameters=readings_of))
        ),
        events=tuple(_as_shown(e) for e in stored_events),
        alarms=tuple(store.alarms(row["id"])),
        options=options,
        verification=verification_text(store, row["id"]) if verify else "",
        alarm_profile=profile_label(store, row["id"]),
        earlier_patients=_earlier_patients(store, row, stored_events),
    )
    if options.deidentify:
        record = deidentified(record, keep_staff=options.keep_staff)
    if options.shifts_time:
        record = shifted(record, float(row["started_at"]) - RELATIVE_EPOCH)
    return record


def _as_shown(event: SessionEvent) -> SessionEvent:
    """An event as a review or an export shows it: without a direction override an older version stored in its
    text (the recorder takes them out as they are typed, see :func:`monitor.text_rules.neutral`)."""
    detail = text_rules.neutral(dict(event.detail))
    return event if detail == dict(event.detail) else replace(event, detail=detail)


def verification_text(store: Reader, session_id: str) -> str:
    """``verified: …`` or ``NOT VERIFIED: <first problem>`` for one session."""
    from monitor.integrity import verify

    if not isinstance(store, Store):
        set_aside = store.set_aside(session_id).text
        return ("not checked here (read from the clinic's server; `infusion-monitor verify` at the chair checks it)"
                + (f"; {set_aside}" if set_aside else ""))
    return verify(store.db.conn, store.keys, session_id=session_id).session_text(session_id)


def profile_label(store: Reader, session_id: str) -> str:
    """The alarm profile a session ran under, as recorded when it started (approved name and hash)."""
    for entry in reversed(store.audit_log(session_id)):
        if entry["action"] == "alarm_profile_loaded":
            detail = json.loads(entry["detail"] or "{}")
            label = detail.get("label") or f"{detail.get('profile')} (sha256 {str(detail.get('sha256'))[:12]})"
            return str(label)
    return "not recorded"


# -- de-identification ---------------------------------------------------------------------------


#: Scripts written without spaces between words (Han, kana, Hangul syllables and jamo), by code point range.
_NO_SPACE_SCRIPTS: Final = (
    (0x1100, 0x11FF), (0x3040, 0x30FF), (0x3130, 0x318F), (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
    (0xAC00, 0xD7AF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF),
)


def _written_without_spaces(text: str) -> bool:
    """Whether every letter of ``text`` is of a script written without spaces between words (CJK)."""
    letters = [ord(c) for c in text if c.isalpha()]
    return bool(letters) and all(any(lo <= c <= hi for lo, hi in _NO_SPACE_SCRIPTS) for c in letters)


def _name_parts(name: str) -> set[str]:
    """A name whole (folded, see :func:`monitor.text_rules.fold`) and each of its parts that names the person:
    "Mrs Quillfeather" and "Mrs Wójcik" (of Wójcik-Kowalczyk) name her too, typed with its accents or without.

    A part of a Latin, Cyrillic, Arabic… name counts from three letters: shorter ones ("Li", "Al") are words
    too often. A CJK name's parts are one or two characters (山田 太郎, 王 芳) and are kept whatever their length,
    with the name also written without its space (山田太郎), since a CJK note does not put spaces around it.
    """
    whole = " ".join(text_rules.fold(name).split())
    parts = {part for part in re.split(r"[\s,\-]+", whole) if part}
    found = {whole} | {part for part in parts if len(part) >= 3 or _written_without_spaces(part)}
    if _written_without_spaces(whole):
        found.add(whole.replace(" ", ""))
    # As a keyboard without accents types it too: "Wojcik" in a note names Wójcik (kept in a de-identified export).
    found |= {text_rules.without_accents(text) for text in found}
    return {text for text in found if text}


def _identifier_texts(patient: Mapping[str, Any] | None, device: str | None) -> set[str]:
    """Every text whose appearance would identify the patient or the device."""
    found: set[str] = set()
    if patient:
        if patient.get("mrn"):
            found.add(str(patient["mrn"]))
        if patient.get("name"):
            found |= _name_parts(str(patient["name"]))
        if patient.get("birth_date"):
            found.add(str(patient["birth_date"]))
    if device:
        found.add(device)
        found.update(_serials(device))
    return found


def _serials(device: str) -> set[str]:
    """Serial-number-like tokens (letters and digits, at least one digit) in a device's description."""
    return {tok for tok in re.findall(r"[A-Za-z0-9-]{5,}", device) if re.search(r"\d", tok)}


def _identifier_forms(patient: Mapping[str, Any] | None, device: str | None) -> set[str]:
    """Regular expressions (over folded text) for the identifiers written in other ways than on file: the birth
    date in any common form, the MRN and the device's serials with a prefix, leading zeros or separators
    (:func:`monitor.text_rules.date_pattern`, :func:`monitor.text_rules.identifier_pattern`)."""
    forms: set[str | None] = set()
    if patient:
        if patient.get("mrn"):
            forms.add(text_rules.identifier_pattern(str(patient["mrn"])))
        # No birth date, or one not on the calendar: found as typed only.
        with contextlib.suppress(ValueError):
            forms.add(text_rules.date_pattern(date.fromisoformat(str(patient.get("birth_date")))))
    if device:
        forms.update(text_rules.identifier_pattern(serial) for serial in _serials(device))
    return {form for form in forms if form}


def _scrubber(texts: set[str], forms: set[str] | None = None) -> Any:
    """A function replacing in typed text each of ``texts`` (as typed, compared folded) and each match of
    ``forms`` (regular expressions over folded text) by ``[removed]``, in strings, mappings and lists alike."""
    if not texts and not forms:
        return lambda value: value
    pattern = _identifier_pattern({text_rules.fold(t) for t in texts} - {""}, forms or set())

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return _removed_from(value, pattern)
        if isinstance(value, Mapping):
            return {k: scrub(v) for k, v in value.items() if k not in _DEVICE_KEYS}
        if isinstance(value, list | tuple):
            return [scrub(v) for v in value]
        return value

    return scrub


def _identifier_pattern(folded: set[str], forms: set[str]) -> re.Pattern[str]:
    """One pattern for every folded identifier and every form (a regular expression), the forms first (each
    reaches further than the identifier it writes another way: "mrn448812" before "448812"), then the
    identifiers longest first so a whole name goes before its parts.

    Most identifiers match as whole words only: a name "Ann" must not cut "Cannula" in a nurse's note (an
    identifier is not a word piece; punctuation and spaces bound it). A CJK name part matches anywhere, because
    CJK text has no spaces: 山田太郎さん holds the name with an honorific attached. That costs false positives, which
    we accept: a one-character part (王, or a given name 明) is also cut out of an unrelated word (明日, "tomorrow",
    becomes "[removed]日"). A de-identified export that loses a word of a note is still fit for its purpose; one
    that keeps a name is not.
    """
    ordered = sorted(folded, key=lambda t: (-len(t), t))
    words = "|".join([*sorted(forms)] + [
        re.escape(t).replace("\\ ", r"\s+") for t in ordered if not _written_without_spaces(t)])
    anywhere = "|".join(re.escape(t).replace("\\ ", r"\s+") for t in ordered if _written_without_spaces(t))
    # One look-around for all the whole-word identifiers: tried at every position of every text, it is what
    # the pattern's speed rests on.
    bounded = [r"(?<!\w)(?:" + words + r")(?!\w)"] if words else []
    return re.compile("|".join(bounded + ([anywhere] if anywhere else [])))


def _removed_from(text: str, pattern: re.Pattern[str]) -> str:
    """``text`` with each identifier ``pattern`` finds in its folded form replaced by ``[removed]``; what lies
    around a match stays exactly as typed (its accents, apostrophes and case)."""
    folded = text_rules.FoldedText.of(text)
    out: list[str] = []
    kept_from = 0
    for match in pattern.finditer(folded.folded):
        if match.end() == match.start():
            continue
        start, end = folded.span(match.start(), match.end())
        if start < kept_from:
            continue
        out += [text[kept_from:start], REMOVED]
        kept_from = end
    return "".join(out) + text[kept_from:] if out else text


def patient_scrubber(patient: Mapping[str, Any] | None) -> Any:
    """A function that replaces the patient's name, MRN and birth date in typed text by ``[removed]``, as a
    de-identified export does."""
    return _scrubber(_identifier_texts(patient, None), _identifier_forms(patient, None))


def _staff_texts(record: SessionRecord) -> set[str]:
    """The staff's names as the record holds them (and their parts), for free text."""
    names = {str(record.session.get("nurse") or "")}
    names.update(e.user or "" for e in record.events)
    names.update(a.acknowledged_by or "" for a in record.alarms)
    found: set[str] = set()
    for name in names:
        name = name.removeprefix("EMERGENCY: ").split(" (unverified;")[0].strip()
        if name:
            found |= _name_parts(name)
    return found


def _earlier_patients(store: Any, row: Mapping[str, Any], events: Iterable[SessionEvent]
                      ) -> tuple[dict[str, Any], ...]:
    """The identifiers of each patient the session was attached to other than its own, in order."""
    own = row.get("patient_id")
    keys = (str(e.detail["patient_key"]) for e in events
            if e.kind is EventKind.PATIENT_IDENTIFIED and e.detail.get("patient_key"))
    found = []
    for key in dict.fromkeys(keys):
        if key != own and (patient := store.patient_row(key)) is not None:
            found.append(patient)
    return tuple(found)


def deidentified(record: SessionRecord, *, keep_staff: bool = False) -> SessionRecord:
    """The record without names, MRN, birth date, device description or serials (and staff names, in free
    text too, unless ``keep_staff``); the program's own events keep only what :data:`MACHINE_DETAIL_KEPT` lists."""
    texts = _identifier_texts(record.patient, record.session.get("device"))
    forms = _identifier_forms(record.patient, record.session.get("device"))
    for earlier in record.earlier_patients:
        texts |= _identifier_texts(earlier, None)
        forms |= _identifier_forms(earlier, None)
    scrub = _scrubber(texts if keep_staff else texts | _staff_texts(record), forms)
    session = dict(record.session)
    for key in ("patient_id", "device", "owner_host", "owner_pid", "port"):
        session[key] = None
    if not keep_staff:
        session["nurse"] = None
    session["plan"] = scrub(session.get("plan"))
    readings: Iterable[Reading] = (
        record.readings.transformed(keep_source=False) if isinstance(record.readings, StoredReadings)
        else tuple(Reading(r.t, r.parameter, r.value, "", r.flags) for r in record.readings)
    )
    events = tuple(
        SessionEvent(
            t=e.t,
            kind=e.kind,
            phase=e.phase,
            user=e.user if keep_staff else None,
            detail=scrub(_detail_kept(e.kind, e.detail)),
        )
        for e in record.events
    )
    alarms = tuple(
        replace(
            a,
            acknowledged_by=(a.acknowledged_by if keep_staff else ("staff" if a.acknowledged_by else None)),
            message=scrub(_alarm_message_kept(a)),
            escalations=tuple(replace(step, reason=scrub(step.reason)) for step in a.escalations),
        )
        for a in record.alarms
    )
    return replace(
        record,
        session=session,
        patient=None,
        earlier_patients=(),
        readings=readings,
        events=events,
        alarms=alarms,
        deidentified=True,
    )


def _detail_kept(kind: EventKind, detail: Mapping[str, Any]) -> dict[str, Any]:
    """What a de-identified export keeps of an event's detail: a clinical entry whole (its typed text is searched
    for identifiers afterwards), a machine event only the keys :data:`MACHINE_DETAIL_KEPT` allows, and of those
    only plain values (a nested object could hold anything)."""
    if kind in CLINICAL_ENTRIES:
        return dict(detail)
    kept = MACHINE_DETAIL_KEPT.get(kind, frozenset())
    return {key: value for key, value in detail.items()
            if key in kept and (value is None or isinstance(value, str | int | float))}


def _alarm_message_kept(alarm: AlarmRecord) -> str:
    """An alarm's text for a de-identified export: a technical alarm raised with the words of what reported it
    (a file path, another chair's name, a device's message) is given its text without them."""
    return message_without_detail(alarm.condition) or alarm.message


# -- session-relative clock -----------------------------------------------------------------------


def _shift_times(value: Any, shift: float, key: str = "") -> Any:
    if isinstance(value, Mapping):
        return {k: _shift_times(v, shift, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_shift_times(v, shift, key) for v in value]
    if _TIME_KEY.match(key) and isinstance(value, int | float) and not isinstance(value, bool):
        return value - shift
    return value


def shifted(record: SessionRecord, shift: float) -> SessionRecord:
    """Every time moved back by ``shift`` seconds (readings, events, alarms, session, baseline)."""
    session = dict(record.session)
    for key in ("started_at", "ended_at", "heartbeat_at", "last_data_at"):
        if session.get(key) is not None:
            session[key] = float(session[key]) - shift
    if session.get("baseline"):
        session["baseline"] = json.dumps(_shift_times(json.loads(session["baseline"]), shift))
    readings: Iterable[Reading] = (
        record.readings.transformed(shift=shift) if isinstance(record.readings, StoredReadings)
        else tuple(Reading(r.t - shift, r.parameter, r.value, r.source, r.flags) for r in record.readings)
    )
    events = tuple(
        SessionEvent(t=e.t - shift, kind=e.kind, phase=e.phase, user=e.user, detail=_shift_times(dict(e.detail), shift))
        for e in record.events
    )
    alarms = tuple(
        replace(
            a,
            started_at=a.started_at - shift,
            ended_at=None if a.ended_at is None else a.ended_at - shift,
            acknowledged_at=None if a.acknowledged_at is None else a.acknowledged_at - shift,
            escalations=tuple(replace(step, at=step.at - shift) for step in a.escalations),
        )
        for a in record.alarms
    )
    return replace(
        record,
        session=session,
        readings=readings,
        events=events,
        alarms=alarms,
        time_shift=record.time_shift + shift,
    )
