"""Live feed to the clinic's records: ORU^R01 over MLLP from a store-and-forward queue in SQLite.

Off by default; enabled with ``--feed HOST:PORT`` (or ``INFUSION_MONITOR_FEED``).

How it works. The feed runs one thread with its own database connection. It turns readings the
recorder has stored into ORU^R01 messages (one per observation set, as in the HL7 export) and
appends them to ``feed_queue``; in the same transaction it moves the session's cursor in
``feed_cursor`` past those readings. Then it sends the oldest queued message over MLLP and
deletes it only when the receiver accepts it: AA for that message's control id in original
acknowledgment mode (the default: MSH-15/16 empty), CA (or AA) in enhanced mode
(``ack_mode="enhanced"``: MSH-15=AL, MSH-16=NE, a commit ACK only). Anything else - no
connection, a closed connection, a refusal (AE/AR, CE/CR), an ACK for another control id (a
stray or stale one: the connection is closed and opened again so no old answer is read as new),
or no answer within ``ack_timeout_s`` - leaves the message first in line and retries after a
growing pause (``backoff_initial_s`` doubling up to ``backoff_max_s``). Order is kept because
only the oldest message is ever sent.

A message the receiver refuses ``max_refusals`` times (5 by default) is set aside in the
``feed_dead_letter`` table so that the messages behind it flow again; this is a technical event
on the session's timeline (when the feed follows a recording) and an entry in the audit log.
``infusion-monitor feed list`` shows the set-aside messages and ``feed resend ID`` (or ``all``)
puts them back in the queue.

Why the feed reads stored rows instead of taking readings from the recorder: the recorder's
thread only sets an event (never waits for the feed, the network or the feed's writes), and no
reading can be missed - what was committed by the recorder is queued by the feed even after a
crash or restart, because the cursor and the queue move in one transaction. Readings within
``HOLD_BACK_S`` of the newest stored reading wait for the next round, so a set whose values
are still arriving is not split; a session that has ended is queued to its last reading.

Delivery is at least once: if the connection breaks after the receiver accepted a message but
before its ACK arrives, the message is sent again with the same control id (MSH-10), which a
receiver uses to discard the repeat. :meth:`Feed.status` shows the oldest message's last error
and how many messages were set aside.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from drivers.core.readings import Parameter
from drivers.hl7.v2 import AckUnreadable, read_ack
from drivers.settings import SettingsError
from drivers.transport.mllp import MllpClient, parse_target
from monitor.exports.codes import DEFAULT_RANGES, ReferenceRange
from monitor.exports.data import DeviceBySource, device_uses
from monitor.exports.hl7_export import DeviceOf, ObservationSet, PatientIdentity, observation_sets, oru_message
from monitor.session import EventKind
from monitor.store import Store, StoreError, feed_queue

log = logging.getLogger(__name__)

#: Readings this close (session time) to the newest stored one wait for the next round.
HOLD_BACK_S: Final = 3.0
#: At most this many readings are turned into messages per round.
ROUND_ROWS: Final = 5000
#: Refusals after which a message is set aside (dead-letter), unless configured otherwise.
MAX_REFUSALS_DEFAULT: Final = 5
ACK_MODES: Final = ("original", "enhanced")

class FeedConfigError(ValueError):
    """A ``--feed`` value that is not HOST:PORT."""


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """Where the feed sends and how patiently."""

    host: str
    port: int
    connect_timeout_s: float = 5.0
    ack_timeout_s: float = 10.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    poll_interval_s: float = 0.5
    #: ``original`` (MSH-15/16 empty, AA expected) or ``enhanced`` (MSH-15=AL, MSH-16=NE, CA expected).
    ack_mode: str = "original"
    #: Refusals (not time-outs or lost connections) after which a message is set aside.
    max_refusals: int = MAX_REFUSALS_DEFAULT

    def __post_init__(self) -> None:
        if self.ack_mode not in ACK_MODES:
            raise FeedConfigError(f"feed ack_mode '{self.ack_mode}' must be one of {', '.join(ACK_MODES)}")
        if self.max_refusals < 1:
            raise FeedConfigError(f"feed max_refusals {self.max_refusals} must be at least 1")

    @classmethod
    def parse(cls, text: str, **kwargs: Any) -> FeedConfig:
        """From ``HOST:PORT`` (IPv6 hosts in brackets: ``[::1]:2575``)."""
        try:
            host, port = parse_target(text)
        except SettingsError as exc:
            raise FeedConfigError(f"feed '{text}': {exc}") from None
        return cls(host, port, **kwargs)


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """How the feed is doing, for the screen and the log."""

    queued: int
    oldest_observed_at: float | None
    attempts_on_oldest: int
    last_error: str | None
    delivered: int
    connected: bool
    #: Messages set aside after being refused (``feed list``).
    dead_letters: int = 0


class DeliveryError(Exception):
    """The receiver did not accept a message (no connection, no answer, or not AA)."""


class Refused(DeliveryError):
    """The receiver answered and refused the message (AE, AR, CE, CR): counted towards setting it aside."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"receiver answered {code}" + (f": {text}" if text else ""))
        self.code = code


class StrayAck(DeliveryError):
    """An ACK that answers another control id: the connection's answers can no longer be trusted."""


def ack_fields(reply: str, control_id: str) -> tuple[str, str]:
    """MSA-1 and MSA-3 of an ACK that answers ``control_id`` (StrayAck when it answers something else)."""
    try:
        ack = read_ack(reply)
    except AckUnreadable as exc:
        raise DeliveryError(str(exc)) from None
    if ack.answered != control_id:
        raise StrayAck(f"ACK for '{ack.answered}' while waiting for '{control_id}'")
    return ack.code, ack.text


def ack_code(reply: str, control_id: str) -> str:
    """MSA-1 of an ACK that answers ``control_id`` (DeliveryError when it answers something else)."""
    return ack_fields(reply, control_id)[0]


class MllpConnection:
    """One TCP connection to the receiver; sends a framed message and waits for its ACK."""

    def __init__(self, config: FeedConfig) -> None:
        self.config = config
        self.client = MllpClient(
            config.host, config.port, connect_timeout_s=config.connect_timeout_s, answer_timeout_s=config.ack_timeout_s
        )

    @property
    def connected(self) -> bool:
        """A socket is open."""
        return self.client.connected

    def deliver(self, message: str, control_id: str) -> None:
        """Send and require AA for this control id; raises DeliveryError otherwise."""
        try:
            reply = self.client.exchange(message)
        except TimeoutError:
            self.close()
            raise DeliveryError(f"no ACK within {self.config.ack_timeout_s:g} s") from None
        except OSError as exc:
            self.close()
            raise DeliveryError(f"connection to {self.config.host}:{self.config.port}: {exc}") from None
        try:
            code, text = ack_fields(reply, control_id)
        except StrayAck:
            # Answers on this connection are out of step (a late ACK of an earlier try, or another
            # program's): start a fresh connection rather than read stale answers as new ones.
            self.close()
            raise
        accepted = ("AA", "CA") if self.config.ack_mode == "enhanced" else ("AA",)
        if code not in accepted:
            raise Refused(code or "nothing", text)

    def close(self) -> None:
        """Drop the connection (idempotent; interrupts a waiting recv from another thread)."""
        self.client.close()


class Feed:
    """The feed thread: queues messages from stored readings and delivers them in order."""

    def __init__(
        self,
        db_path: str | Path,
        config: FeedConfig,
        *,
        ranges: Mapping[Parameter, ReferenceRange] | None = None,
        clock: Callable[[], float] = time.time,
        identifier_system: str | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.config = config
        self.ranges = ranges or DEFAULT_RANGES
        self.identifier_system = identifier_system
        self._clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection = MllpConnection(config)
        self._backoff = config.backoff_initial_s
        self._retry_at = 0.0
        self._drain_until: float | None = None
        # Refusals of queued messages by their row id (time-outs and lost connections do not count).
        self._refusals: dict[int, int] = {}
        self._recorder: Any = None
        self.delivered = 0
        self.dead_lettered = 0
        #: The last unexpected error of a turn (the feed carries on after it).
        self.error: BaseException | None = None
        self._failures: set[str] = set()
        # The queue tables exist once any connection has migrated the file; the dead-letter table
        # is the feed's own.
        with Store(self.db_path) as store:
            feed_queue.ensure_dead_letter_table(store)

    # -- attaching ------------------------------------------------------------------------

    def follow(self, session_id: str) -> None:
        """Start queuing the readings of a session (from its first reading; idempotent)."""
        with Store(self.db_path) as store:
            feed_queue.follow(store, session_id, self._clock())
        self.wake()

    def attach(self, recorder: Any) -> None:
        """Follow the recorder's session; the recorder's listener only wakes the feed thread."""
        self.follow(recorder.session.id)
        self._recorder = recorder
        recorder.add_listener(self._on_update)

    def _on_update(self, update: Any) -> None:
        # Runs on the recorder thread: setting an event never blocks.
        if update.readings:
            self._wake.set()

    def wake(self) -> None:
        """Look for new readings now instead of at the next poll."""
        self._wake.set()

    # -- thread ---------------------------------------------------------------------------

    def start(self) -> None:
        """Run the feed on a background thread."""
        self._thread = threading.Thread(target=self._run, name="feed", daemon=True)
        self._thread.start()

    def stop(self, drain_s: float = 0.0) -> None:
        """Stop the thread, first trying for up to ``drain_s`` seconds to deliver what is queued.

        Whatever is not delivered stays in the queue for the next start.
        """
        if self._thread is None:
            return
        if drain_s > 0:
            self._drain_until = time.monotonic() + drain_s
            self._wake.set()
            self._thread.join(drain_s + 1.0)
        self._stop.set()
        self._wake.set()
        self._connection.close()
        self._thread.join(self.config.ack_timeout_s + self.config.connect_timeout_s + 5.0)
        self._thread = None

    @property
    def draining(self) -> bool:
        """A stop is delivering what is queued before the thread ends."""
        return self._drain_until is not None and self.running

    @property
    def running(self) -> bool:
        """The thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        try:
            store = Store(self.db_path)
        except StoreError as exc:
            log.error("live feed cannot open the database: %s", exc)
            self.error = exc
            return
        feed_queue.commit_without_waiting(store)
        next_scan = 0.0
        # Whether the stored readings were looked at since the drain began: an empty queue ends the
        # drain only then, or readings stored just before the stop would wait for the next start.
        scanned_while_draining = False
        try:
            while not self._stop.is_set():
                try:
                    now = time.monotonic()
                    draining = self._drain_until is not None
                    if now >= next_scan or self._wake.is_set() or (draining and not scanned_while_draining):
                        self._wake.clear()
                        self.queue_new(store)
                        scanned_while_draining = draining
                        next_scan = now + self.config.poll_interval_s
                    sent = self._send_one(store)
                    if self._drain_until is not None and (
                        time.monotonic() >= self._drain_until or (scanned_while_draining and self.pending(store) == 0)
                    ):
                        return
                    if not sent:
                        wait = min(next_scan, max(self._retry_at, now)) - time.monotonic()
                        self._wake.wait(max(0.01, min(wait, self.config.poll_interval_s)))
                except Exception as exc:
                    self._turn_failed(exc)
        finally:
            self._connection.close()
            store.close()

    def _turn_failed(self, exc: Exception) -> None:
        """An unexpected error: the queue stays in the database, the timeline hears of it once per kind of
        error, and the feed tries again after its growing pause (it never ends on its own)."""
        self.error = exc
        key = f"{type(exc).__name__}: {exc}"
        if key not in self._failures:
            self._failures.add(key)
            log.exception("live feed turn failed; it tries again")
            recorder = self._recorder
            if recorder is not None:
                recorder.submit("technical_event", None, condition="feed_error",
                                detail=f"live feed: {key[:300]}; messages stay queued and are sent again")
        self._connection.close()
        self._wake.wait(self._backoff)
        self._backoff = min(self._backoff * 2, self.config.backoff_max_s)

    # -- queuing --------------------------------------------------------------------------

    def queue_new(self, store: Store) -> int:
        """Turn newly stored readings of every followed session into queued messages."""
        added = 0
        for cursor in feed_queue.cursors(store):
            added += self._queue_session(store, cursor.session_id, cursor.last_reading_id, cursor.next_number)
        return added

    def _queue_session(self, store: Store, session_id: str, last_id: int, number: int) -> int:
        rows = feed_queue.readings_after(store, session_id, last_id, ROUND_ROWS)
        if not rows:
            return 0
        session = store.session_row(session_id)
        ended = store.status_of(session) != "recording"
        if not ended and session.get("patient_id") is None:
            # Not identified yet: sent now, these would go under the session's pseudonym and never reach the
            # patient's chart. Held (in the store) until the patient is identified, or the session ends without.
            return 0
        if not ended or len(rows) == ROUND_ROWS:
            newest = max(r.t for _id, r in rows)
            cutoff = newest - HOLD_BACK_S
            keep = 0
            while keep < len(rows) and rows[keep][1].t < cutoff:
                keep += 1
            rows = rows[:keep]
            if not rows:
                return 0
        readings = [reading for _id, reading in rows]
        patient = PatientIdentity.from_patient(
            store.patient_row(session.get("patient_id")), session_id, self.identifier_system
        )
        # The device that measured each value, from its source id and the devices the session was started on,
        # changed to or resumed on.
        device_of = DeviceBySource(device_uses(session, (
            (t, EventKind(kind), json.loads(detail or "{}"))
            for _sid, t, kind, _user, detail in store.events_of_kinds(
                [session_id], [EventKind.DEVICE_CHANGED, EventKind.SESSION_RESUMED]))))
        prefix = session_id[:12].upper()
        queued_at = self._clock()
        messages: list[feed_queue.QueuedMessage] = []
        for obs in observation_sets(readings):
            control_id = f"{prefix}L{number:07d}"
            number += 1
            text = self._message(obs, control_id, patient, session_id, device_of)
            messages.append(feed_queue.QueuedMessage(control_id, obs.t, queued_at, text))
        feed_queue.enqueue(store, session_id, messages, rows[-1][0], number)
        return len(messages)

    def _message(
        self, obs: ObservationSet, control_id: str, patient: PatientIdentity, session_id: str, device_of: DeviceOf
    ) -> str:
        return oru_message(
            obs,
            control_id=control_id,
            patient=patient,
            visit=session_id,
            device_of=device_of,
            ranges=self.ranges,
            enhanced=self.config.ack_mode == "enhanced",
        )

    # -- delivery -------------------------------------------------------------------------

    def _send_one(self, store: Store) -> bool:
        """Deliver the oldest queued message if its retry time has come; True when one was delivered."""
        if time.monotonic() < self._retry_at:
            return False
        try:
            row = feed_queue.oldest(store)
        except feed_queue.UnreadableMessage as exc:
            self._set_aside(store, exc.message_id, exc.control_id, f"not sent: {exc}", detail=(
                f"live feed: queued message {exc.control_id} {exc}; set aside unsent, see 'infusion-monitor feed "
                "list'"))
            return False
        if row is None:
            return False
        message_id, control_id, message = row
        try:
            self._connection.deliver(message, control_id)
        except DeliveryError as exc:
            feed_queue.record_attempt(store, message_id, self._clock(), str(exc))
            if isinstance(exc, Refused):
                refusals = self._refusals.get(message_id, 0) + 1
                self._refusals[message_id] = refusals
                if refusals >= self.config.max_refusals:
                    self._set_aside(store, message_id, control_id, str(exc))
                    return False
            log.warning("live feed: %s; next try in %.1f s", exc, self._backoff)
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, self.config.backoff_max_s)
            return False
        feed_queue.delivered(store, message_id)
        self._refusals.pop(message_id, None)
        self.delivered += 1
        self._backoff = self.config.backoff_initial_s
        return True

    def _set_aside(self, store: Store, message_id: int, control_id: str, error: str, detail: str = "") -> None:
        """Move a message refused ``max_refusals`` times (or one this program did not queue, ``detail`` saying so)
        to the dead-letter table; the next one goes now."""
        sid = feed_queue.set_aside(store, message_id, self._clock())
        self._refusals.pop(message_id, None)
        self.dead_lettered += 1
        self._backoff = self.config.backoff_initial_s
        self._retry_at = 0.0
        detail = detail or (
            f"live feed: message {control_id} refused {self.config.max_refusals} times ({error}); set aside, "
            "see 'infusion-monitor feed list'"
        )
        log.error("%s", detail)
        store.audit("feed_dead_letter", user=None, session_id=sid, control_id=control_id, error=error)
        recorder = self._recorder
        if recorder is not None and sid == recorder.session.id:
            # The recorder's own command queue: the timeline is written on its thread.
            recorder.submit("technical_event", None, condition="feed_dead_letter", detail=detail)

    # -- status ---------------------------------------------------------------------------

    @staticmethod
    def pending(store: Store) -> int:
        """Messages waiting in the queue."""
        return feed_queue.pending(store)

    def status(self) -> FeedStatus:
        """Queue depth, the oldest message's attempts and error, deliveries so far."""
        with Store(self.db_path, readonly=True) as store:
            state = feed_queue.queue_state(store)
        return FeedStatus(
            queued=state.queued,
            oldest_observed_at=state.oldest_observed_at,
            attempts_on_oldest=state.attempts_on_oldest,
            last_error=state.last_error,
            delivered=self.delivered,
            connected=self._connection.connected,
            dead_letters=state.dead_letters,
        )


# -- messages set aside ------------------------------------------------------------------------


def resend(store: Store, ids: list[int] | None, user: str | None = None) -> int:
    """Put set-aside messages (all when ``ids`` is None) back at the end of the queue; how many."""
    wanted = [d for d in feed_queue.dead_letters(store) if ids is None or d.id in ids]
    unknown = sorted(set(ids or []) - {d.id for d in wanted})
    if unknown:
        raise ValueError(f"no message set aside with id {', '.join(map(str, unknown))}")
    feed_queue.requeue(store, wanted)
    for d in wanted:
        store.audit("feed_resend", user=user, session_id=d.session_id, control_id=d.control_id)
    return len(wanted)
