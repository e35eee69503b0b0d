"""What runs beside a recording: the live HL7 feed and the link to the clinic's server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.app.errors import AppError
from monitor.config import ConfigError, UserConfig, setting
from monitor.store import Store

if TYPE_CHECKING:
    from monitor.feed import Feed, FeedConfig
    from monitor.recorder import Recorder
    from monitor.replication.replicator import Replicator

#: After a recording ends, the feed and the server link try this long to deliver what is queued;
#: the rest waits in their queues for the next start.
FEED_DRAIN_S = 5.0


def patient_id_system() -> str | None:
    """The MRN namespace for exports and the feed (INFUSION_MONITOR_PATIENT_ID_SYSTEM or config
    ``patient_id_system``); None means the documented default."""
    try:
        config = UserConfig.load()
        value = setting("patient_id_system", None, None, config)
    except ConfigError as exc:
        raise AppError(str(exc)) from None
    text = str(value).strip() if value else ""
    if text and (":" not in text or any(c.isspace() for c in text)):
        where = config.origin("patient_id_system") or "patient_id_system"
        raise AppError(f"{where}: '{text}' is not a URI (e.g. urn:oid:1.2.3.4 or https://ehr.example/mrn)")
    return text or None


def start_feed(target: str | None, store: Store, recorder: Recorder, user: str | None) -> Feed | None:
    """Start the live feed for the recorder's session when ``target`` (``--feed``) or
    INFUSION_MONITOR_FEED / config ``feed`` names a receiver; None when none is set."""
    from monitor.exports.codes import ranges_from_profile
    from monitor.feed import Feed

    config = feed_config(target)
    if config is None:
        return None
    profile = getattr(recorder.alarms, "profile", None)
    feed = Feed(
        store.path,
        config,
        ranges=ranges_from_profile(profile) if profile is not None else None,
        identifier_system=patient_id_system(),
    )
    feed.attach(recorder)
    feed.start()
    store.audit("feed_started", user=user, session_id=recorder.session.id, receiver=f"{config.host}:{config.port}")
    return feed


def feed_config(target: str | None) -> FeedConfig | None:
    """The live feed's settings (``--feed``, INFUSION_MONITOR_FEED / config ``feed`` and its options), None when no
    receiver is named; :class:`AppError` saying what is wrong with them."""
    try:
        config_values = UserConfig.load()
        receiver = setting("feed", target, None, config_values)
        if not receiver:
            return None
    except ConfigError as exc:
        raise AppError(str(exc)) from None
    # Only with a receiver: the feed's module (and what it loads) is not needed otherwise.
    from monitor.feed import MAX_REFUSALS_DEFAULT, FeedConfig, FeedConfigError

    try:
        ack_mode = str(setting("feed_ack_mode", None, "original", config_values))
        refusals_text = str(setting("feed_max_refusals", None, MAX_REFUSALS_DEFAULT, config_values))
    except ConfigError as exc:
        raise AppError(str(exc)) from None
    if not refusals_text.strip().isdigit():
        where = config_values.origin("feed_max_refusals") or "feed_max_refusals"
        raise AppError(f"{where}: '{refusals_text}' is not a whole number")
    try:
        return FeedConfig.parse(str(receiver), ack_mode=ack_mode, max_refusals=int(refusals_text))
    except FeedConfigError as exc:
        # Name where the value that is wrong was set (FeedConfig names the option), unless on the command line.
        problem = str(exc)
        options = ("feed_ack_mode", "feed_max_refusals")
        key = next((k for k in options if problem.startswith(k.replace("_", " ", 1))), "feed")
        origin = None if key == "feed" and target else config_values.origin(key)
        raise AppError(f"{origin}: {problem}" if origin else problem) from None


def server_settings(server: str | None, chair: str | None) -> tuple[str | None, str]:
    """The clinic server's URL (None: this chair works alone) and this chair's name at the nurse station;
    :class:`AppError` saying what is wrong with them."""
    from monitor.replication.chair import ServerSettingError, chair_name, server_url

    try:
        return server_url(server), chair_name(chair)
    except (ServerSettingError, ConfigError) as exc:
        raise AppError(str(exc)) from None


def send_close_to_server(db_path: Path, session_id: str, *, still_recording: bool) -> str | None:
    """Tell the clinic's server (when one is configured) that ``session_id``, left unfinished by a crash, was
    closed here: no recorder of this file runs to send it, and the nurse station would go on calling the chair
    silent. One line saying how it went; None without a server, or while a recording of this file sends it."""
    try:
        url, _name = server_settings(None, None)
    except AppError as exc:
        return f"not sent to the clinic's server: {exc}"
    if url is None or still_recording:
        return None
    from monitor.replication.chair import send_closed_session

    return send_closed_session(url, db_path, session_id)


def send_sign_off_to_server(db_path: Path, *, still_recording: bool) -> tuple[bool, str] | None:
    """Send a sign-off written in ``db_path`` to the clinic's server (when one is configured) at once, as a close
    is sent: otherwise the server lists the session as awaiting a sign-off until this chair records again.
    Whether it reached the server, and one line saying so; None without a server, or while a recording of this
    file sends it."""
    try:
        url, _name = server_settings(None, None)
    except AppError as exc:
        return False, f"not sent to the clinic's server: {exc}"
    if url is None or still_recording:
        return None
    from monitor.replication.chair import send_sign_off

    return send_sign_off(url, db_path)


def send_held_to_server(db_path: Path, session_id: str, server: str | None) -> str | None:
    """After ``write-held`` put an ended session's held rows into ``db_path``: send them to the clinic's server
    (``--server``, or the one configured), which also takes the nurse station's word of them off. One line saying
    how it went; None without a server."""
    try:
        url, _name = server_settings(server, None)
    except AppError as exc:
        return f"not sent to the clinic's server: {exc}"
    if url is None:
        return None
    from monitor.replication.chair import send_written_held

    return send_written_held(url, db_path, session_id)


def start_server_link(server: str | None, chair: str | None, store: Store, recorder: Recorder) -> Replicator | None:
    """Start replicating to the clinic's server when one is configured (``--server``, INFUSION_MONITOR_SERVER
    or config ``server``); None when this chair works alone. ``chair`` names it at the nurse station."""
    from monitor.replication.chair import start_replication

    url, name = server_settings(server, chair)
    if url is None:
        return None
    return start_replication(url, store.path, recorder, name)


def check_services(spec: ServiceSpec) -> None:
    """Refuse feed and server settings that cannot be used before a session is created for them (refused after,
    each try would leave an empty unfinished session behind, with its patient)."""
    if feed_config(spec.feed) is not None:
        patient_id_system()
    server_settings(spec.server, spec.chair)


@dataclass
class Services:
    """The feed and the server link of one recording (either may be absent)."""

    feed: Feed | None = None
    server_link: Replicator | None = None
    #: The recording they serve: once it ended, the nurse station is told of rows it could not keep.
    recorder: Recorder | None = None

    def stop(self) -> None:
        """Stop both, each given :data:`FEED_DRAIN_S` to deliver what is queued."""
        if self.server_link is not None:
            ended_with = None
            if self.recorder is not None:
                from monitor.replication.live import not_kept_document

                ended_with = not_kept_document(self.recorder.rows_not_written, self.recorder.recovery_file)
            self.server_link.stop(timeout=FEED_DRAIN_S, ended_with=ended_with)
        if self.feed is not None:
            self.feed.stop(drain_s=FEED_DRAIN_S)


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """Where a recording sends its data besides the local database (None: the environment or config decides)."""

    #: ``--feed HOST:PORT``: the HL7 receiver.
    feed: str | None = None
    #: ``--server URL``: the clinic's PostgreSQL this chair copies everything to.
    server: str | None = None
    #: ``--chair NAME``: this chair's name at the nurse station.
    chair: str | None = None


def start_services(store: Store, recorder: Recorder, spec: ServiceSpec) -> Services:
    """Start the feed and the server link a recording is configured for (audited under who records)."""
    started = Services(start_feed(spec.feed, store, recorder, recorder.nurse), recorder=recorder)
    try:
        started.server_link = start_server_link(spec.server, spec.chair, store, recorder)
    except BaseException:
        started.stop()
        raise
    return started
