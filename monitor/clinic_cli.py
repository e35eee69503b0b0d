"""Command line of the clinic's server: ``infusion-monitor server start|stop|status|tls|add-chair|add-reader|migrate|
identities|history|backup|restore``.

``station`` (the nurse-station window) is parsed here too and opened through the ``ui`` front-end.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from monitor.security_cli import add_db_option, add_identity_options

if TYPE_CHECKING:
    import psycopg


class ClinicError(Exception):
    """A server command that cannot be carried out; the message says why."""


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``server`` and ``station`` to the main parser."""
    srv = sub.add_parser("server", help="the clinic's PostgreSQL: start a local one, add chairs and readers")
    actions = srv.add_subparsers(dest="server_command", metavar="ACTION", required=True)
    start = actions.add_parser("start", help="start (creating if needed) a local PostgreSQL and print its URL")
    start.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    start.add_argument("--port", type=int, help="TCP port (default: the last one, or a free one)")
    start.add_argument("--binaries", type=Path, metavar="DIR",
                       help="PostgreSQL's program folder for a new server, e.g. /usr/lib/postgresql/15/bin "
                            "(default: the pgserver package's, which cannot do TLS)")
    secure = actions.add_parser("tls", help="accept chairs and stations over TLS only (needs binaries with OpenSSL)")
    secure.add_argument("--certificate", type=Path, help="the server's certificate (PEM); default: make one here")
    secure.add_argument("--key", type=Path, help="its private key (PEM)")
    secure.add_argument("--authority", type=Path,
                        help="the certificate of the authority that signed it, given to clients (PEM)")
    for name, text in (("stop", "stop the local server"), ("status", "is the local server running, and where")):
        actions.add_parser(name, help=text)
    for name, kind in (("add-chair", "chair"), ("add-reader", "station or reviewer")):
        role = actions.add_parser(name, help=f"create a login for a {kind} and write its password file")
        role.add_argument("role", help="login name: lower-case letters, digits and _ (e.g. chair_3)")
        role.add_argument("--password-file", type=Path, help="where to write it (default: DATA/<role>.pgpass)")
    migrate = actions.add_parser("migrate", help="bring a server's schema up to date (as its owner)")
    migrate.add_argument("--url", help="the owner's URL (default: the local server's administrator)")
    identities = actions.add_parser(
        "identities", help="MRNs the chairs hold with different names or birth dates (one may be a wrong patient)")
    identities.add_argument("--url", help="a reader's or the owner's URL (default: the local server's administrator)")
    history = actions.add_parser(
        "history", help="rows changed or deleted on the server after a chair wrote them: each chair's count, or a "
                        "session's earlier versions")
    history.add_argument("--session", metavar="ID", help="list this session's earlier versions, oldest change first "
                                                         "(its id, or the 8 characters lists print where unique)")
    history.add_argument("--url", help="a reader's or the owner's URL (default: the local server's administrator)")
    dump = actions.add_parser("backup", help="dump the clinic's database (pg_dump, custom format) to a file only its "
                                             "owner can read")
    dump.add_argument("out", type=Path, metavar="FILE", help="the dump to write (replaced only once it is whole)")
    dump.add_argument("--url", help="the owner's URL of the clinic's own PostgreSQL (default: the local server's "
                                    "administrator)")
    put_back = actions.add_parser("restore", help="make a new local server holding a dump written by `server backup`")
    put_back.add_argument("dump", type=Path, metavar="FILE", help="the dump (pg_dump's custom format)")
    put_back.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    put_back.add_argument("--port", type=int, help="TCP port (default: a free one)")
    put_back.add_argument("--binaries", type=Path, metavar="DIR",
                          help="PostgreSQL's program folder for the new server (default: the pgserver package's)")
    for action in actions.choices.values():
        action.add_argument("--data", type=Path, default=None, metavar="DIR",
                            help="the local server's folder (required except with --url; for restore, a new one)")
    station = sub.add_parser("station", help="the nurse station: every active chair on one screen")
    station.add_argument("--server", metavar="URL",
                         help="the clinic's PostgreSQL, as a reader (default: INFUSION_MONITOR_SERVER, else the "
                              "config file's server; a chair's login is refused)")
    station.add_argument("--show", choices=["mrn", "initials"], default="mrn",
                         help="how a patient is named on the tiles (default mrn)")
    station.add_argument("--escalate-after", type=_escalate_after, default=60.0, metavar="SECONDS",
                         help="an alarm not acknowledged at the chair this long is escalated (default 60)")
    # Who opens it signs in to this computer's database, where it is audited (as `sessions --server` is).
    add_db_option(station)
    add_identity_options(station)


def _escalate_after(text: str) -> float:
    """Seconds an alarm may go unacknowledged at the chair: a positive number (nan would never escalate)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError("the escalation time must be a positive number of seconds")
    return value


def _data(args: argparse.Namespace) -> Path:
    if args.data is None:
        raise ClinicError("--data DIR is needed: the folder of the local server")
    return Path(args.data).expanduser()


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Carry out one ``server`` action."""
    # Here, not at the top: every command builds this module's parsers, and only these actions need PostgreSQL.
    import psycopg

    from monitor import server as local_server
    from monitor.replication import schema
    from monitor.store import StoreError

    action = args.server_command
    try:
        if action == "migrate" and args.url:
            with psycopg.connect(args.url, autocommit=True) as conn:
                migrate(conn, out)
            return 0
        if action == "identities" and args.url:
            return list_identities(args.url, out)
        if action == "history" and args.url:
            return list_history(args.url, args.session, out)
        if action == "backup":
            return backup(args, out)
        data = _data(args)
        if action == "restore":
            return restore(args, data, out)
        if action == "start":
            server = local_server.start(data, host=args.host, port=args.port, binaries=args.binaries)
            out.write(f"PostgreSQL running (pid {server.pid}); schema version {schema.SCHEMA_VERSION}\n")
            out.write(f"administrator: {server.admin_url()}\n")
            checked = local_server.tls_parameters(server)
            out.write(f"chairs and stations: {server.url('<role>')}{'?' + checked if checked else ''}"
                      "  (add one with `server add-chair`)\n")
            return 0
        if action == "tls":
            ca = local_server.enable_tls(data, certificate=args.certificate, key=args.key, authority=args.authority)
            out.write(f"network logins over TLS only; clients trust the authority's certificate {ca}\n")
            now = local_server.running(data)
            if now is not None:
                out.write(f"URL: {now.url('<role>')}?sslmode=verify-full&sslrootcert={ca}\n")
            return 0
        if action == "stop":
            out.write("stopped\n" if local_server.stop(data) else "no server was running\n")
            return 0
        running = local_server.running(data)
        if running is None:
            if action == "status":
                out.write("not running\n")
                return 1
            raise ClinicError(f"no server is running on {data}; start it with `infusion-monitor server start`")
        if action == "status":
            out.write(f"running (pid {running.pid}) at {running.host}:{running.port}\n")
            return 0
        if action == "identities":
            return list_identities(running.admin_url(), out)
        if action == "history":
            return list_history(running.admin_url(), args.session, out)
        if action == "migrate":
            with local_server.admin_connection(running) as conn:
                migrate(conn, out)
            return 0
        kind = "chair" if action == "add-chair" else "reader"
        passfile = local_server.add_role(running, args.role, kind=kind, password_file=args.password_file)
        out.write(f"{kind} login {args.role}; password file {passfile} (mode 600)\n")
        out.write(f"URL: {local_server.client_url(running, args.role, passfile)}\n")
        return 0
    except (local_server.ServerError, schema.ServerSchemaError, ValueError, StoreError) as exc:
        raise ClinicError(str(exc)) from None
    except psycopg.Error as exc:
        raise ClinicError(f"the server refused: {str(exc).strip()}") from None


def backup(args: argparse.Namespace, out: TextIO) -> int:
    """``server backup FILE``: the clinic's database dumped, owner-only, whole or not at all."""
    from monitor import server as local_server
    from monitor.exports.files import ExportFileError

    if args.url is None and args.data is None:
        raise ClinicError("--data DIR (the local server's folder) or --url URL (the owner's URL) is needed")
    try:
        made = local_server.backup(args.out, data=None if args.url else _data(args), url=args.url)
    except ExportFileError as exc:
        raise ClinicError(str(exc)) from None
    if made.said:
        out.write(f"pg_dump said: {made.said}\n")
    out.write(f"backup written: {made.path} ({made.size:,} bytes, mode 600, pg_dump custom format)\n")
    out.write(f"restore it into a new server with `infusion-monitor server restore --data NEWDIR {made.path}`\n")
    return 0


def restore(args: argparse.Namespace, data: Path, out: TextIO) -> int:
    """``server restore --data NEWDIR FILE``: a new local server holding the dump, its logins with new passwords."""
    from monitor import server as local_server

    made = local_server.restore(args.dump, data, host=args.host, port=args.port, binaries=args.binaries)
    server = made.server
    out.write(f"restored {args.dump} into a new server on {server.data} (pid {server.pid}) at "
              f"{server.host}:{server.port}\n")
    for role, kind, passfile in made.logins:
        out.write(f"{kind} login {role}; new password file {passfile} (mode 600)\n")
        out.write(f"  URL: {local_server.client_url(server, role, passfile)}\n")
    for role in made.left_out:
        out.write(f"not made a login (a name `server add-chair` refuses): {role}; add its chair again under a new "
                  "login\n")
    out.write("Give each chair and station its new URL and password file (the logins' passwords are not in a dump). "
              "A chair given its new URL sends again every row its file still holds; the server keeps each row once.\n")
    return 0


def migrate(conn: psycopg.Connection, out: TextIO) -> None:
    """Bring the server's schema up to date, and say which chairs were connected and what an upgrade means for those
    still on an earlier version (they cannot all be updated at the moment the server is)."""
    from monitor.replication import schema

    before = schema.server_version(conn)
    chairs = schema.connected_chairs(conn)
    out.write(f"schema version {schema.migrate(conn)}\n")
    if chairs:
        out.write("chair logins connected now: " + ", ".join(
            f"{login} ({count} connection{'s' if count != 1 else ''})" for login, count in chairs) + "\n")
    if 0 < before < schema.TILES_BY_FUNCTION:
        out.write(
            f"Update every chair to this version: a chair of an earlier version (made for schema {before}) can no "
            "longer put its live status on the nurse station. Until it is updated, its readings still reach the "
            "server, and the station shows each session it records as a tile of what the server has (the last "
            "values and their age), 'recording, but its live status does not reach this station', alarmed as not "
            "reporting. A session it ends leaves the station within seconds. A session in progress cannot move to "
            "the new version unless it stopped without closing (--resume refuses a closed one): let it finish, then "
            "update the chair.\n")
    if 0 < before < schema.INSERT_ONLY_FROM:
        out.write(
            "A chair's login may no longer change its readings, waveforms, events or patients on the server, and every "
            "change to a session or an alarm there keeps the earlier version (`server history`). A chair of an earlier "
            "version sends those rows in a way this schema refuses: its rows wait at the chair, nothing is lost, and "
            "it sends them once it is updated. Update every chair.\n")


def list_identities(url: str, out: TextIO) -> int:
    """Print every MRN the chairs hold with different names or birth dates, each version with its chairs and
    sessions (the values that differ too: whoever resolves it needs them; a reader's login reads them anyway).
    1 when there is any, so a scheduled check can raise it."""
    from monitor.replication.server_store import ServerStore

    with ServerStore(url) as store:
        conflicts = store.identity_conflicts()
    for conflict in conflicts:
        verb = "differ" if len(conflict.fields) > 1 else "differs"
        out.write(f"MRN {conflict.mrn}: {' and '.join(conflict.fields)} {verb}\n")
        for number, version in enumerate(conflict.versions, 1):
            first = version[0]
            said = [f"name {first.name or '-'}" if "name" in conflict.fields else "",
                    f"born {first.birth_date or '-'}" if "birth date" in conflict.fields else ""]
            out.write(f"  version {number}: {', '.join(t for t in said if t)}: "
                      f"{'; '.join(record.where for record in version)}\n")
    if not conflicts:
        out.write("no MRN is held with different names or birth dates\n")
        return 0
    out.write(f"{len(conflicts)} MRN{'s' if len(conflicts) != 1 else ''} held with different identities: check "
              "each against the patient's own documents; the course across chairs warns of them meanwhile\n")
    return 1


def list_history(url: str, session_id: str | None, out: TextIO) -> int:
    """Print each chair's count of rows changed or deleted on the server, or (``session_id``) every earlier version
    kept of that session's rows with who changed it and when. A chair's login is refused (it may not read them), and
    so is an id that names no session or more than one (a listing of nothing would read as "nothing changed")."""
    import datetime

    from monitor.replication import schema, server_store

    def when(at: float) -> str:
        return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    with server_store.ServerStore(url) as store:
        if session_id is not None:
            session_id = server_store.history_session(store.conn, session_id)
            versions = server_store.kept_versions(store.conn, session_id)
            for version in versions:
                out.write(f"{when(version.changed_at)}  {version.text}\n")
            out.write(f"{len(versions)} earlier version{'s' if len(versions) != 1 else ''} of session {session_id} "
                      "kept on the server\n")
            return 0
        chairs = server_store.changed_by_chair(store.conn)
    for chair in chairs:
        out.write(f"{chair.text}; last {when(chair.last_at)}\n")
    if not chairs:
        out.write("no row has been changed or deleted on the server since it keeps their history (schema "
                  f"{schema.INSERT_ONLY_FROM})\n")
    return 0
