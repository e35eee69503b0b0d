"""Who had the nurse station open, from when to when, and whose MRNs it showed: in this computer's audit log.

The station shows every chair's patient by MRN (unless ``--show initials``) to whoever stands in front of it. Like
every other reading of patients' records it names a signed-in account where the local database has accounts
(:func:`monitor.security_cli.reading_principal`, refused as ``station_refused``), and leaves its trace in the local
database:

* ``station_opened``: who, the server (without its password), the ``show`` mode and the escalation time;
* ``station_mrns_shown`` (``--show mrn`` only): each time the set of sessions whose MRN is on the screen changes,
  the sessions now shown, by id (:func:`monitor.session_list.ids_kept`; the MRNs themselves stay out of the log);
* ``station_closed``: how it ended (the window closed, a signal) and how long it was open.

An entry the database does not take (a full disk, the file removed) never stops or blanks the station: it is said
(:attr:`StationAudit.trouble` for the screen, ``say`` for standard error), held with the time it happened, and
written then, every :data:`RETRY_S`, once the database takes entries again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from monitor.session_list import ids_kept
from monitor.store import Store, StoreError
from monitor.wall_clock import clock_text

OPENED: Final = "station_opened"
MRNS_SHOWN: Final = "station_mrns_shown"
CLOSED: Final = "station_closed"
#: What refusals to open the station are recorded under (``<action>_refused``).
ACTION: Final = "station"
#: What a refusal calls the station (:data:`monitor.security_cli.READ_NEEDS_ACCOUNT`).
WHAT: Final = "the station (it shows patients' MRNs)"
#: How often entries held after a failed write are tried again.
RETRY_S: Final = 10.0
#: At most this many entries are held while the database takes none (the newest set of sessions shown among them).
HELD_AT_MOST: Final = 200

#: Writes one audit entry: action, user, wall-clock time, detail. Raises StoreError when it is not taken.
Write = Callable[..., None]


@dataclass(frozen=True, slots=True)
class _Entry:
    action: str
    at: float
    detail: dict[str, Any] = field(default_factory=dict)


class KeptAuditLog:
    """The local database's audit log on one connection kept for the station's lifetime (opening a writing store
    checks and seals the file: far more than the one insert an entry is). Before each entry the file is looked at:
    a connection on a file removed or replaced since would write where nobody reads."""

    def __init__(self, store: Store) -> None:
        self.store = store
        found = os.stat(store.path)
        self._identity = (found.st_dev, found.st_ino)

    def __call__(self, action: str, *, user: str, at: float, **detail: Any) -> None:
        path = self.store.path
        try:
            found = os.stat(path)
        except OSError as exc:
            raise StoreError(f"{path} is gone ({exc.strerror or exc}): the station's entries cannot be kept") from None
        if (found.st_dev, found.st_ino) != self._identity:
            raise StoreError(f"{path} was replaced since the station opened it: its entries would not be kept there")
        try:
            self.store.audit(action, user=user, at=at, **detail)
        except StoreError:
            raise
        except Exception as exc:  # whatever the file or its keys did: said on the station, which must go on
            raise StoreError(f"{path}: {exc}") from None


class StationAudit:
    """Which entries the station writes, and when (see the module doc). Called on the window's thread only."""

    def __init__(self, write: Write, *, user: str, server: str, show: str, escalate_after_s: float,
                 say: Callable[[str], None] = lambda _text: None, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.write = write
        self.user = user
        self.server = server
        self.show = show
        self.escalate_after_s = escalate_after_s
        self.say = say
        self.clock = clock
        self.wall_clock = wall_clock
        #: Why the last write failed, while entries wait (None: every entry is written).
        self.trouble: str | None = None
        self._held: list[_Entry] = []
        self._retry_at = 0.0
        #: The sessions whose MRN the last entry (written or held) names.
        self._shown: tuple[str, ...] = ()
        self._opened_at: float | None = None

    def opened(self) -> None:
        """The station opened."""
        self._opened_at = self.wall_clock()
        self._add(OPENED, server=self.server, show=self.show, escalate_after_s=self.escalate_after_s)

    def shown(self, mrns: Mapping[str, str]) -> None:
        """What the screen shows now: session id -> its MRN (a tile, or the banner's line of an ended session).
        An entry when the set of sessions changed; held entries tried again when it is time."""
        if self.show == "mrn":
            now_shown = tuple(sorted(session for session, mrn in mrns.items() if mrn))
            if now_shown != self._shown:
                self._shown = now_shown
                self._add(MRNS_SHOWN, server=self.server, shown=len(now_shown), **ids_kept(now_shown))
                return
        if self._held and self.clock() >= self._retry_at:
            self._flush()

    def closed(self, how: str) -> None:
        """The station closed (``how``: the window, a signal); what is still held is tried once more, and what the
        database does not take is said on standard error, entry by entry, as the last place it can go."""
        opened = self._opened_at
        self._add(CLOSED, server=self.server, show=self.show, how=how,
                  **({} if opened is None else {"open_s": round(max(0.0, self.wall_clock() - opened))}))
        for entry in self._held:
            self.say(f"not recorded: {clock_text(entry.at, '%Y-%m-%d %H:%M:%S')} {entry.action} by {self.user} "
                     f"{entry.detail}")

    def _add(self, action: str, **detail: Any) -> None:
        self._held.append(_Entry(action, self.wall_clock(), detail))
        if len(self._held) > HELD_AT_MOST:
            del self._held[1]  # the first held is kept: from when entries went unrecorded
        self._flush()

    def _flush(self) -> None:
        """Write what is held, oldest first, until the database refuses one."""
        while self._held:
            entry = self._held[0]
            try:
                self.write(entry.action, user=self.user, at=entry.at, **entry.detail)
            except StoreError as exc:
                self._retry_at = self.clock() + RETRY_S
                text = f"the station's audit entries are not being recorded: {exc}"
                if text != self.trouble:
                    self.say(f"{text} (the station goes on; tried again every {RETRY_S:.0f} s)")
                self.trouble = text
                return
            del self._held[0]
        if self.trouble is not None:
            self.say("the station's audit entries are recorded again (those held meanwhile with their own times)")
        self.trouble = None
