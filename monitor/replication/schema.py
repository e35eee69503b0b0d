"""The clinic server's schema: tables mirroring the chair's, ordered migrations, roles and row-level security.

Every replicated row carries ``chair`` (the database role that wrote it, filled in by the server)
and ``origin`` (the random id of the chair's SQLite file). Rows with a random text key keep it;
rows keyed by a local integer are keyed on the server by ``(origin, local_id)``, so the same row
sent twice is the same row. ``chairs`` has one row per login and chair database (origin).

Roles (cluster-wide, created if missing):

* ``im_chair`` – group of the chairs' login roles: may insert only rows whose ``chair`` is its own
  login (row-level security), under an origin of its own and in a session of its own (a trigger,
  schema 6); since schema 10 it may only add readings, waveforms, events, patients and audit entries,
  and update only its sessions and alarms, the server keeping each earlier version in ``row_history``; since
  schema 12 no login reopens or re-ends a finished session, nor changes the end or acknowledgment of an ended alarm;
* ``im_reader`` – group of the station's and reviewers' roles: reads everything but the audit log, writes nothing;
  of the audit log it gets only what a review needs, through ``im_readers_audit`` (schema 9).

Each origin belongs to the login that first wrote under it (``origins``, schema 6). Since schema 8 a chair
writes its station rows (``chairs``) only through ``im_publish_chair`` and ``im_end_tile``, so it can take no
lock there that holds up the station, and every login has a connection limit.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import psycopg
from psycopg import sql

from monitor.text_rules import name_key

log = logging.getLogger(__name__)

CHAIR_GROUP = "im_chair"
READER_GROUP = "im_reader"
#: The channel chairs notify and the nurse station listens on; the payload is the chair's role name.
CHANNEL = "im_chairs"

_REPLICATED = ("patients", "sessions", "readings", "waveforms", "events", "alarms", "audit")

_V1 = """
CREATE TABLE chairs (
    chair TEXT PRIMARY KEY DEFAULT current_user,
    name TEXT, origin TEXT, host TEXT,
    seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    live JSONB
);
CREATE TABLE replication_progress (
    origin TEXT PRIMARY KEY, chair TEXT NOT NULL DEFAULT current_user,
    last_seq BIGINT NOT NULL, shipped_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE patients (
    id TEXT PRIMARY KEY, origin TEXT NOT NULL, chair TEXT NOT NULL DEFAULT current_user,
    mrn TEXT, name TEXT, birth_date TEXT, created_at DOUBLE PRECISION
);
CREATE INDEX patients_mrn ON patients (mrn);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY, origin TEXT NOT NULL, chair TEXT NOT NULL DEFAULT current_user,
    patient_id TEXT, started_at DOUBLE PRECISION, ended_at DOUBLE PRECISION, status TEXT, phase TEXT,
    phases_reached TEXT, driver TEXT, port TEXT, device TEXT, plan TEXT, baseline TEXT, nurse TEXT,
    owner_pid BIGINT, owner_host TEXT, heartbeat_at DOUBLE PRECISION
);
CREATE INDEX sessions_started ON sessions (started_at DESC);
CREATE INDEX sessions_patient ON sessions (patient_id);
CREATE TABLE readings (
    origin TEXT NOT NULL, local_id BIGINT NOT NULL, chair TEXT NOT NULL DEFAULT current_user,
    session_id TEXT NOT NULL, t DOUBLE PRECISION NOT NULL, parameter TEXT NOT NULL,
    value DOUBLE PRECISION, unit TEXT NOT NULL, status TEXT, source TEXT,
    PRIMARY KEY (origin, local_id)
);
CREATE INDEX readings_session_t ON readings (session_id, t);
CREATE TABLE waveforms (
    origin TEXT NOT NULL, local_id BIGINT NOT NULL, chair TEXT NOT NULL DEFAULT current_user,
    session_id TEXT, parameter TEXT, t0 DOUBLE PRECISION, rate_hz DOUBLE PRECISION, n BIGINT,
    samples BYTEA, source TEXT, status TEXT,
    PRIMARY KEY (origin, local_id)
);
CREATE INDEX waveforms_session ON waveforms (session_id, parameter, t0);
CREATE TABLE events (
    origin TEXT NOT NULL, local_id BIGINT NOT NULL, chair TEXT NOT NULL DEFAULT current_user,
    session_id TEXT NOT NULL, t DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL, phase TEXT,
    "user" TEXT, detail TEXT,
    PRIMARY KEY (origin, local_id)
);
CREATE INDEX events_session_t ON events (session_id, t);
CREATE TABLE alarms (
    id TEXT PRIMARY KEY, origin TEXT NOT NULL, chair TEXT NOT NULL DEFAULT current_user,
    session_id TEXT, condition TEXT, parameter TEXT, priority TEXT, kind TEXT,
    started_at DOUBLE PRECISION, ended_at DOUBLE PRECISION, "limit" DOUBLE PRECISION,
    peak_value DOUBLE PRECISION, escalations TEXT, acknowledged_at DOUBLE PRECISION,
    acknowledged_by TEXT, message TEXT, state TEXT
);
CREATE INDEX alarms_session ON alarms (session_id, started_at);
CREATE TABLE audit (
    origin TEXT NOT NULL, local_id BIGINT NOT NULL, chair TEXT NOT NULL DEFAULT current_user,
    at DOUBLE PRECISION NOT NULL, "user" TEXT, action TEXT NOT NULL, session_id TEXT, detail TEXT,
    PRIMARY KEY (origin, local_id)
);
CREATE INDEX audit_session ON audit (session_id);
"""


def _create_v1(conn: psycopg.Connection) -> None:
    conn.execute(_V1)


def _roles_v2(conn: psycopg.Connection) -> None:
    """Group roles and row-level security: a chair writes only its own rows, readers only read."""
    for group in (CHAIR_GROUP, READER_GROUP):
        conn.execute(
            sql.SQL(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {name}) "
                "THEN CREATE ROLE {ident} NOLOGIN; END IF; END $$"
            ).format(name=sql.Literal(group), ident=sql.Identifier(group))
        )
    conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC"))
    chair, reader = sql.Identifier(CHAIR_GROUP), sql.Identifier(READER_GROUP)
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}, {}").format(chair, reader))
    conn.execute(sql.SQL("GRANT SELECT ON schema_version TO {}, {}").format(chair, reader))
    for table in (*_REPLICATED, "chairs", "replication_progress"):
        ident = sql.Identifier(table)
        conn.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(ident))
        conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(ident, reader))
        conn.execute(
            sql.SQL("CREATE POLICY readers_read ON {} FOR SELECT TO {} USING (true)").format(ident, reader)
        )
        # Only its own rows are visible to a chair: an upsert finds nothing of another chair's.
        conn.execute(
            sql.SQL("CREATE POLICY chair_reads_own ON {} FOR SELECT TO {} USING (chair = current_user)").format(
                ident, chair
            )
        )
        conn.execute(
            sql.SQL("CREATE POLICY chair_adds_own ON {} FOR INSERT TO {} WITH CHECK (chair = current_user)").format(
                ident, chair
            )
        )
        if table == "audit":
            conn.execute(sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(ident, chair))
            continue  # the audit log is append-only on the server too
        conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE ON {} TO {}").format(ident, chair))
        conn.execute(
            sql.SQL(
                "CREATE POLICY chair_updates_own ON {} FOR UPDATE TO {} "
                "USING (chair = current_user) WITH CHECK (chair = current_user)"
            ).format(ident, chair)
        )


def _live_index_v3(conn: psycopg.Connection) -> None:
    """The session browser's newest-first page and a patient's course by MRN."""
    conn.execute("CREATE INDEX readings_session_param_t ON readings (session_id, parameter, t)")
    conn.execute("CREATE INDEX sessions_chair_started ON sessions (chair, started_at DESC)")


def _protocol_v4(conn: psycopg.Connection) -> None:
    """The treatment protocol each session followed (as the chair's SQLite schema v3 keeps it)."""
    conn.execute("ALTER TABLE sessions ADD COLUMN protocol TEXT, ADD COLUMN protocol_sha256 TEXT")


def _identity_v5(conn: psycopg.Connection) -> None:
    """One ``chairs`` row per chair database rather than per login (two chairs given one login are two rows,
    never one row overwritten in turn); the batch that set each origin's progress (so a chair can tell its own
    history from a restored or copied file's); and the server's own time of each session's latest heartbeat
    (liveness judged on one clock, whatever the chair's clock says)."""
    conn.execute("UPDATE chairs SET origin = '' WHERE origin IS NULL")
    conn.execute("ALTER TABLE chairs ALTER COLUMN origin SET NOT NULL, DROP CONSTRAINT chairs_pkey, "
                 "ADD PRIMARY KEY (chair, origin)")
    conn.execute("ALTER TABLE replication_progress ADD COLUMN batch TEXT")
    conn.execute("ALTER TABLE sessions ADD COLUMN heartbeat_seen_at TIMESTAMPTZ")
    conn.execute(
        "CREATE FUNCTION im_heartbeat_seen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF TG_OP = 'INSERT' OR NEW.heartbeat_at IS DISTINCT FROM OLD.heartbeat_at THEN "
        "NEW.heartbeat_seen_at := now(); ELSE NEW.heartbeat_seen_at := OLD.heartbeat_seen_at; END IF; "
        "RETURN NEW; END $$"
    )
    conn.execute("CREATE TRIGGER sessions_heartbeat_seen BEFORE INSERT OR UPDATE ON sessions "
                 "FOR EACH ROW EXECUTE FUNCTION im_heartbeat_seen()")


#: Tables whose rows belong to a session, and whose session must therefore be the writer's own.
_OF_A_SESSION = ("readings", "waveforms", "events", "alarms")

#: The check behind every row a chair writes (see :func:`_own_origins_v6`). It runs as the schema's owner, who
#: sees every login's origins and sessions; a chair's own row level security then checks ``chair`` itself.
_OWN_ROWS_CHECK = """
CREATE FUNCTION im_chair_owns_row() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    holder TEXT;
    session_chair TEXT;
BEGIN
    -- A station row from before schema 5 names no chair database (its origin is empty): it has none to check.
    IF TG_TABLE_NAME <> 'chairs' OR NEW.origin <> '' THEN
        SELECT o.chair INTO holder FROM public.origins o WHERE o.origin = NEW.origin;
        IF holder IS NULL THEN
            INSERT INTO public.origins (origin, chair) VALUES (NEW.origin, NEW.chair) ON CONFLICT (origin) DO NOTHING;
            SELECT o.chair INTO holder FROM public.origins o WHERE o.origin = NEW.origin;
        END IF;
        IF holder IS DISTINCT FROM NEW.chair THEN
            RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                MESSAGE = format('the chair database %s is another login''s: %s may write only under the origins '
                                 'of its own chair databases', NEW.origin, NEW.chair);
        END IF;
    END IF;
    IF TG_NARGS > 0 THEN  -- a table of a session's rows (others have no session_id to name)
        SELECT s.chair INTO session_chair FROM public.sessions s WHERE s.id = NEW.session_id;
        -- A session not on the server yet is the writer's own, arriving later.
        IF session_chair IS DISTINCT FROM NEW.chair AND session_chair IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                MESSAGE = format('the session %s is another login''s: %s may write only into its own sessions',
                                 NEW.session_id, NEW.chair);
        END IF;
    END IF;
    RETURN NEW;
END $$
"""


def _own_origins_v6(conn: psycopg.Connection) -> None:
    """A chair writes only under its own chair databases' origins and into its own sessions.

    Row level security checked ``chair`` alone, so one chair's login could add readings and notes to
    another chair's session, or a row under another chair database's origin that the real one can
    never overwrite (every later batch of that chair was refused), or a station tile under another
    chair database's origin. Each origin now belongs to the login that first wrote under it; on an
    existing server, to the login whose progress it carries. Rows already written under another
    login's origin keep their content under an origin of their own (``ORIGIN:WRITER``), so the real
    chair's rows go through again; a tile made that way leaves the station.
    """
    conn.execute("CREATE TABLE origins (origin TEXT PRIMARY KEY, chair TEXT NOT NULL, "
                 "claimed_at TIMESTAMPTZ NOT NULL DEFAULT now())")
    conn.execute("INSERT INTO origins (origin, chair) SELECT origin, chair FROM replication_progress")
    conn.execute("INSERT INTO origins (origin, chair) SELECT origin, MIN(chair) FROM chairs WHERE origin <> '' "
                 "GROUP BY origin HAVING COUNT(DISTINCT chair) = 1 ON CONFLICT (origin) DO NOTHING")
    for table in _REPLICATED:
        conn.execute(sql.SQL(
            "UPDATE {} x SET origin = x.origin || ':' || x.chair FROM origins o "
            "WHERE o.origin = x.origin AND o.chair <> x.chair"
        ).format(sql.Identifier(table)))
    conn.execute(
        "WITH ended AS (UPDATE chairs c SET live = COALESCE(c.live, '{}'::jsonb) || "
        "jsonb_build_object('active', false) FROM origins o WHERE o.origin = c.origin AND o.chair <> c.chair "
        "RETURNING c.chair) "
        "SELECT pg_notify(%s, chair) FROM (SELECT DISTINCT chair FROM ended) AS told",
        [CHANNEL],
    )
    origins, reader = sql.Identifier("origins"), sql.Identifier(READER_GROUP)
    conn.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(origins))
    conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(origins, reader))
    conn.execute(sql.SQL("CREATE POLICY readers_read ON {} FOR SELECT TO {} USING (true)").format(origins, reader))
    conn.execute(_OWN_ROWS_CHECK)
    for table in (*_REPLICATED, "chairs", "replication_progress"):
        conn.execute(sql.SQL(
            "CREATE TRIGGER {} BEFORE INSERT OR UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION im_chair_owns_row({})"
        ).format(sql.Identifier(f"{table}_own_rows"), sql.Identifier(table),
                 sql.SQL("'session'" if table in _OF_A_SESSION else "")))


#: The form a name from a chair older than schema 7 is compared in: close to :func:`monitor.text_rules.name_key`
#: (case and spacing), which the server cannot run; such a chair sends no key of its own.
_NAME_KEY_FALLBACK = "lower(regexp_replace(btrim({0}.name), '\\s+', ' ', 'g'))"

#: What a chair may ask of the other chairs' patients (:func:`_identity_check_v7`): for the patient of one of its
#: own sessions, which other patient rows hold the same MRN with another name or birth date, where, and in which
#: sessions; never their identifiers. It runs as the schema's owner (a chair sees only its own rows) and answers
#: only about the session's own login (``session_user``: inside the function ``current_user`` is the owner).
_IDENTITY_CHECK = """
CREATE FUNCTION im_identity_conflicts(asked_session TEXT)
RETURNS TABLE (field TEXT, chair TEXT, chair_name TEXT, sessions TEXT[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT f.field, other.chair,
           (SELECT c.name FROM public.chairs c WHERE c.chair = other.chair
            ORDER BY c.origin = other.origin DESC, c.seen_at DESC LIMIT 1),
           ARRAY(SELECT o.id FROM public.sessions o WHERE o.patient_id = other.id ORDER BY o.started_at, o.id)
    FROM public.sessions s
    JOIN public.patients me ON me.id = s.patient_id
    JOIN public.patients other ON other.mrn = me.mrn AND other.id <> me.id
    CROSS JOIN LATERAL (VALUES
        ('name', NULLIF(COALESCE(me.name_key, {me_key}), '') <> NULLIF(COALESCE(other.name_key, {other_key}), '')),
        ('birth date', NULLIF(me.birth_date, '') <> NULLIF(other.birth_date, ''))
    ) AS f(field, differs)
    WHERE s.id = asked_session AND s.chair = session_user AND me.chair = session_user
      AND NULLIF(me.mrn, '') IS NOT NULL AND f.differs
    ORDER BY other.created_at, other.id, f.field
$$
""".format(me_key=_NAME_KEY_FALLBACK.format("me"), other_key=_NAME_KEY_FALLBACK.format("other"))


def _identity_check_v7(conn: psycopg.Connection) -> None:
    """Patients held under one MRN with another name or birth date at another chair can be told.

    Each chair refuses such an MRN locally, but nothing compared chairs: two chairs' records of one MRN were one
    patient's course. ``patients.name_key`` holds the form the chairs compare names in
    (:func:`monitor.text_rules.name_key`; filled here for the rows already on the server, and sent by each
    chair from now on), and :data:`_IDENTITY_CHECK` lets a chair ask about its own session's patient.
    """
    conn.execute("ALTER TABLE patients ADD COLUMN name_key TEXT")
    named = conn.execute("SELECT id, name FROM patients WHERE name IS NOT NULL AND name <> ''").fetchall()
    with conn.cursor() as cursor:
        cursor.executemany("UPDATE patients SET name_key = %s WHERE id = %s",
                           [(name_key(str(name)), str(patient)) for patient, name in named])
    conn.execute(_IDENTITY_CHECK)
    conn.execute("REVOKE ALL ON FUNCTION im_identity_conflicts(TEXT) FROM PUBLIC")
    conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION im_identity_conflicts(TEXT) TO {}").format(
        sql.Identifier(CHAIR_GROUP)))


#: Another chair database that reported under the same login this recently is using it now (chairs report at
#: least every 2 s; the station calls a chair silent for 6 s not reporting).
SHARED_WITHIN_S = 10.0
#: A row of the same chair (name and host) under another origin, silent this long, is its former database.
FORMER_AFTER_S = 30.0
#: The most connections one chair's login may hold: its replicator holds one, a closed session sent from its
#: window or ``write-held --server`` one more each; the rest is slack for a restart before the old one timed out.
CHAIR_CONNECTIONS = 5
#: The most connections one station's or reviewer's login may hold: the station's feed holds one, each chair's
#: trend window opened from it one while it loads, each review window one.
READER_CONNECTIONS = 10

#: A chair row's status marked as ended: the station takes the tile off (as after a session's end) unless that
#: session has not ended on the server, and any word of rows the chair could not keep goes (they were written
#: since, or the row belongs to a database no longer used).
_ENDED = "(COALESCE(c.live, '{}'::jsonb) - 'not_kept') || '{\"active\": false}'::jsonb"

#: The only ways a chair writes its rows of ``chairs`` (:func:`_tiles_by_function_v8`). They run as the schema's
#: owner, so each names ``session_user`` (the chair's login) itself; the times are fixed here, not the chair's.
_PUBLISH_CHAIR = f"""
CREATE FUNCTION im_publish_chair(chair_name TEXT, chair_origin TEXT, chair_host TEXT, chair_live JSONB)
RETURNS TABLE (other_name TEXT, other_host TEXT)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    INSERT INTO public.chairs AS c (chair, name, origin, host, seen_at, live)
    VALUES (session_user, chair_name, chair_origin, chair_host, now(), chair_live)
    ON CONFLICT (chair, origin) DO UPDATE SET name = EXCLUDED.name, host = EXCLUDED.host, seen_at = now(),
        live = COALESCE(EXCLUDED.live, c.live);
    UPDATE public.chairs c SET live = {_ENDED}
    WHERE c.chair = session_user AND c.origin <> chair_origin AND c.name = chair_name AND c.host = chair_host
      AND c.seen_at < now() - make_interval(secs => {FORMER_AFTER_S})
      AND (COALESCE(c.live->>'active', 'true') <> 'false' OR c.live ? 'not_kept');
    -- The payload is the chair's login: the station reads just that login's rows.
    PERFORM pg_notify('{CHANNEL}', session_user);
    RETURN QUERY SELECT COALESCE(c.name, ''), COALESCE(c.host, '') FROM public.chairs c
    WHERE c.chair = session_user AND c.origin <> chair_origin
      AND c.seen_at >= now() - make_interval(secs => {SHARED_WITHIN_S})
      AND COALESCE(c.live->>'active', 'true') <> 'false'
    ORDER BY 1, 2;
END $$
"""

_END_TILE = f"""
CREATE FUNCTION im_end_tile(chair_origin TEXT, ended_session TEXT) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    UPDATE public.chairs c SET live = {_ENDED}
    WHERE c.chair = session_user AND c.origin = chair_origin
      AND (ended_session IS NULL OR c.live->>'session_id' = ended_session);
    PERFORM pg_notify('{CHANNEL}', session_user);
END $$
"""


def limit_connections(conn: psycopg.Connection) -> None:
    """Give every chair's and reader's login without a connection limit its group's: one login can no longer take
    every connection the server has (a reader's login held 294 of 300 and no chair could connect)."""
    for group, limit in ((CHAIR_GROUP, CHAIR_CONNECTIONS), (READER_GROUP, READER_CONNECTIONS)):
        members = conn.execute(
            "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "JOIN pg_roles r ON r.oid = m.member WHERE g.rolname = %s AND r.rolconnlimit = -1 "
            "AND NOT r.rolsuper ORDER BY r.rolname", [group]).fetchall()
        for (member,) in members:
            conn.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(
                sql.Identifier(str(member)), sql.Literal(limit)))


def connected_chairs(conn: psycopg.Connection) -> list[tuple[str, int]]:
    """The chairs' logins connected to this database now, each with its number of connections, by name (as the
    owner or an administrator, who see every connection)."""
    rows = conn.execute(
        "SELECT a.usename, COUNT(*) FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename "
        "JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles g ON g.oid = m.roleid "
        "WHERE g.rolname = %s AND a.datname = current_database() AND a.pid <> pg_backend_pid() "
        "GROUP BY a.usename ORDER BY a.usename", [CHAIR_GROUP]).fetchall()
    return [(str(login), int(count)) for login, count in rows]


def _tiles_by_function_v8(conn: psycopg.Connection) -> None:
    """Chairs write their station rows through two functions only, and each login has a connection limit.

    A chair's login could UPDATE its rows of ``chairs`` with any statement: hold one locked (``SELECT … FOR
    UPDATE``) so its real chair could not refresh it, or lock the whole table (``LOCK TABLE`` needs UPDATE), so
    the station could read no chair at all. Without INSERT and UPDATE on ``chairs`` a chair may take no lock
    there stronger than a reader's.
    """
    conn.execute(_PUBLISH_CHAIR)
    conn.execute(_END_TILE)
    chair = sql.Identifier(CHAIR_GROUP)
    for function in ("im_publish_chair(TEXT, TEXT, TEXT, JSONB)", "im_end_tile(TEXT, TEXT)"):
        conn.execute(sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(sql.SQL(function)))
        conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(function), chair))
    conn.execute(sql.SQL("REVOKE INSERT, UPDATE ON chairs FROM {}").format(chair))
    limit_connections(conn)


#: The audit entries a station or reviewer needed at schema 9 (:func:`_audit_behind_function_v9`): the alarm profile a
#: session ran under (its export names it) and a session closed after its recording stopped unexpectedly (the browser
#: marks it).
_READERS_AUDIT_ACTIONS_V9 = ("alarm_profile_loaded", "session_closed_after_crash")
#: The audit entries a station or reviewer gets: since schema 11 a session's REMS form marked submitted at its chair
#: too (the clinic's list of forms still due, :func:`_rems_submitted_for_readers_v11`).
READERS_AUDIT_ACTIONS = (*_READERS_AUDIT_ACTIONS_V9, "rems_form_submitted")
#: Of an ``alarm_profile_loaded`` entry's detail, what names the profile; who approved it and where its file lay stay.
_PROFILE_KEYS = ("label", "profile", "sha256")

#: The only way a reader reads the audit log. It runs as the schema's owner, so it decides itself whose rows the login
#: (``session_user``) gets: a chair's login its own, as row level security gives it; a reader every chair's. Only an
#: entry of its session's own chair counts (as :func:`monitor.replication.server_store._own` has it), and its user is
#: not given.
_READERS_AUDIT = """
{create} FUNCTION im_readers_audit(asked_session TEXT)
RETURNS TABLE (at DOUBLE PRECISION, action TEXT, session_id TEXT, detail TEXT, chair TEXT)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    every_chair BOOLEAN := pg_has_role(session_user, '{reader}', 'MEMBER')
                           OR NOT pg_has_role(session_user, '{chair}', 'MEMBER');
    entry RECORD;
BEGIN
    FOR entry IN SELECT a.at, a.action, a.session_id, a.detail, a.chair{user} FROM public.audit a
        JOIN public.sessions s ON s.id = a.session_id AND s.chair = a.chair
        WHERE a.action = ANY({actions}) AND (asked_session IS NULL OR a.session_id = asked_session)
          AND (every_chair OR a.chair = session_user)
        ORDER BY a.at, a.local_id
    LOOP
        at := entry.at; action := entry.action; session_id := entry.session_id; chair := entry.chair; detail := NULL;
        IF entry.action = 'alarm_profile_loaded' THEN
            BEGIN
                detail := (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(entry.detail::jsonb) e
                           WHERE e.key = ANY({keys}))::text;
            EXCEPTION WHEN invalid_text_representation OR invalid_parameter_value THEN
                NULL;  -- a detail that is no JSON object names no profile: the export says "not recorded"
            END;{more}
        END IF;
        RETURN NEXT;
    END LOOP;
END $$
"""

#: Of a ``rems_form_submitted`` entry (schema 11), what the form says of its submission: who marked it, when (as the
#: chair's submission row has it) and the REMS confirmation number (the form and the worksheet show them); whatever
#: else the detail holds stays.
_REMS_SUBMITTED_DETAIL = """
        ELSIF entry.action = 'rems_form_submitted' THEN
            BEGIN
                detail := jsonb_build_object('submitted_by', entry."user",
                                             'reference', entry.detail::jsonb -> 'reference',
                                             'submitted_at', entry.detail::jsonb -> 'submitted_at')::text;
            EXCEPTION WHEN invalid_text_representation OR invalid_parameter_value THEN
                detail := jsonb_build_object('submitted_by', entry."user")::text;
            END;"""


def _readers_audit(actions: tuple[str, ...], *, create: str = "CREATE", user: str = "", more: str = "") -> str:
    """:data:`_READERS_AUDIT` for these ``actions`` (and what else a later schema reads of them)."""
    return _READERS_AUDIT.format(create=create, user=user, more=more, reader=READER_GROUP, chair=CHAIR_GROUP,
                                 actions="ARRAY[" + ", ".join(f"'{a}'" for a in actions) + "]",
                                 keys="ARRAY[" + ", ".join(f"'{k}'" for k in _PROFILE_KEYS) + "]")


def _audit_behind_function_v9(conn: psycopg.Connection) -> None:
    """Readers read the audit log only through :data:`_READERS_AUDIT`; the server's owner still reads all of it.

    A station's or reviewer's login could ``SELECT * FROM audit`` and read, with no record of it, every chair's
    sign-ins, correction reasons, export destinations and readings of the audit log, which a chair shows only to a
    signed-in admin or physician. A chair's login keeps what row level security gives it (its own rows, to add to).
    """
    conn.execute(_readers_audit(_READERS_AUDIT_ACTIONS_V9))
    reader = sql.Identifier(READER_GROUP)
    conn.execute(sql.SQL("DROP POLICY readers_read ON audit"))
    conn.execute(sql.SQL("REVOKE ALL ON audit FROM {}").format(reader))
    conn.execute("REVOKE ALL ON FUNCTION im_readers_audit(TEXT) FROM PUBLIC")
    conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION im_readers_audit(TEXT) TO {}, {}").format(
        reader, sql.Identifier(CHAIR_GROUP)))


#: Tables whose rows the chair never changes once written (:func:`_history_v10`): the audit log (refused by the chair's
#: own triggers), readings, waveform blocks and events (sealed once, one link per row or range) and patients (put on
#: file once; a session is attached to another patient instead). A chair inserts them and leaves a row already there.
INSERT_ONLY = ("patients", "readings", "waveforms", "events", "audit")
#: Tables whose rows change at the chair after they are first written (a session's phase, status, end and patient;
#: an alarm's end, acknowledgment, escalations): the server keeps each earlier version in ``row_history``.
CHANGING = ("sessions", "alarms")
#: Of each table, the columns that change without changing the record (who holds a session open and its heartbeat,
#: every few seconds while it records; the chairs' integrity chain leaves them out too): no earlier version is kept.
_UNRECORDED = {"sessions": ("heartbeat_at", "heartbeat_seen_at", "owner_pid", "owner_host")}
#: Of each changing table, what a row says once and for all: a session's start; an alarm's session, condition,
#: parameter and onset. Changing one, once set, is refused rather than kept.
_SET_ONCE = {"sessions": ("started_at",), "alarms": ("session_id", "condition", "parameter", "started_at")}

#: The earlier version of every row of a record changed or deleted on the server, by whom and when. Written only by
#: :data:`_KEEP_PREVIOUS`, which runs as the schema's owner: a chair's login has no right on it at all, so it can
#: neither read it, nor add, change or delete a version, nor drop its trigger (only a table's owner can).
_ROW_HISTORY = """
CREATE TABLE row_history (
    id BIGSERIAL PRIMARY KEY,
    tbl TEXT NOT NULL, row_key TEXT NOT NULL, chair TEXT, session_id TEXT,
    operation TEXT NOT NULL, changed_columns TEXT[], previous JSONB NOT NULL,
    changed_by TEXT NOT NULL, changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX row_history_chair ON row_history (chair, changed_at);
CREATE INDEX row_history_session ON row_history (session_id, changed_at)
"""

#: Keeps a row's version before an UPDATE or DELETE, by anyone. An update that leaves every column but those named
#: as the trigger's arguments (:data:`_UNRECORDED`) as it was keeps nothing: a replayed batch or a heartbeat is not a
#: change. Who changed it is ``session_user``, the login connected (inside the function ``current_user`` is the
#: owner).
_KEEP_PREVIOUS = """
CREATE FUNCTION im_keep_previous() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    earlier JSONB := to_jsonb(OLD);
    later JSONB;
    changed TEXT[];
BEGIN
    IF TG_OP = 'UPDATE' THEN
        later := to_jsonb(NEW);
        SELECT array_agg(e.key ORDER BY e.key) INTO changed FROM jsonb_each(earlier) e
        WHERE e.value IS DISTINCT FROM later -> e.key AND NOT COALESCE(e.key = ANY(TG_ARGV), false);
        IF changed IS NULL THEN
            RETURN NULL;
        END IF;
    END IF;
    INSERT INTO public.row_history (tbl, row_key, chair, session_id, operation, changed_columns, previous, changed_by)
    VALUES (TG_TABLE_NAME, COALESCE(earlier ->> 'id', (earlier ->> 'origin') || ':' || (earlier ->> 'local_id')),
            earlier ->> 'chair', CASE WHEN TG_TABLE_NAME = 'sessions' THEN earlier ->> 'id'
                                      ELSE earlier ->> 'session_id' END,
            TG_OP, changed, earlier, session_user);
    RETURN NULL;
END $$
"""

#: Refuses an UPDATE that changes a column named as the trigger's arguments (:data:`_SET_ONCE`) once it is set.
_REFUSE_REWRITE = """
CREATE FUNCTION im_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    earlier JSONB := to_jsonb(OLD);
    later JSONB := to_jsonb(NEW);
    field TEXT;
BEGIN
    FOREACH field IN ARRAY TG_ARGV LOOP
        IF earlier -> field <> 'null'::jsonb AND earlier -> field IS DISTINCT FROM later -> field THEN
            RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
                MESSAGE = format('%s %s: %s is set once (%s) and may not be changed to %s', TG_TABLE_NAME,
                                 earlier ->> 'id', field, earlier ->> field, COALESCE(later ->> field, 'nothing'));
        END IF;
    END LOOP;
    RETURN NEW;
END $$
"""


def _arguments(columns: tuple[str, ...]) -> sql.Composable:
    """Column names as a trigger's text arguments."""
    return sql.SQL(", ").join(sql.Literal(column) for column in columns)


def _history_v10(conn: psycopg.Connection) -> None:
    """The server keeps what the chairs keep: rows never changed at the chair are insert-only for a chair's login, and
    every change to the others (or deletion of any, by anyone) leaves the earlier version in ``row_history``.

    A chair's login could UPDATE any of its own replicated rows but the audit log's (its password sits in the chair's
    passfile), so its old readings, events, alarms and sessions could be rewritten on the server and nothing there
    showed it. It keeps INSERT on :data:`INSERT_ONLY` (a replayed batch leaves the row as it is) and UPDATE on
    :data:`CHANGING` only; what a row says once and for all (:data:`_SET_ONCE`) is refused. The owner and readers may
    read the history; of the audit log's, only the owner (readers do not read the audit log, schema 9).
    """
    chair, reader = sql.Identifier(CHAIR_GROUP), sql.Identifier(READER_GROUP)
    for table in INSERT_ONLY:
        ident = sql.Identifier(table)
        conn.execute(sql.SQL("REVOKE UPDATE, DELETE ON {} FROM {}").format(ident, chair))
        conn.execute(sql.SQL("DROP POLICY IF EXISTS chair_updates_own ON {}").format(ident))
    conn.execute(_ROW_HISTORY)
    history = sql.Identifier("row_history")
    conn.execute(sql.SQL("REVOKE ALL ON {} FROM PUBLIC").format(history))
    conn.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(history))
    conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(history, reader))
    conn.execute(sql.SQL("CREATE POLICY readers_read ON {} FOR SELECT TO {} USING (tbl <> 'audit')").format(
        history, reader))
    conn.execute(_KEEP_PREVIOUS)
    conn.execute(_REFUSE_REWRITE)
    for function in ("im_keep_previous()", "im_refuse_rewrite()"):
        conn.execute(sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(sql.SQL(function)))
    for table in _REPLICATED:
        conn.execute(sql.SQL(
            "CREATE TRIGGER {} AFTER UPDATE OR DELETE ON {} FOR EACH ROW EXECUTE FUNCTION im_keep_previous({})"
        ).format(sql.Identifier(f"{table}_keep_previous"), sql.Identifier(table),
                 _arguments(_UNRECORDED.get(table, ()))))
    for table, columns in _SET_ONCE.items():
        conn.execute(sql.SQL(
            "CREATE TRIGGER {} BEFORE UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION im_refuse_rewrite({})"
        ).format(sql.Identifier(f"{table}_set_once"), sql.Identifier(table), _arguments(columns)))


def _rems_submitted_for_readers_v11(conn: psycopg.Connection) -> None:
    """Readers get a session's REMS form marked submitted at its chair (who marked it, the confirmation number): the
    clinic lists the forms still due across its chairs from the server (``rems --server``), and a form marked at its
    chair is no longer due. The entry of the session's own chair only, as the other entries a reader gets."""
    conn.execute(_readers_audit(READERS_AUDIT_ACTIONS, create="CREATE OR REPLACE", user=', a."user"',
                                more=_REMS_SUBMITTED_DETAIL))


#: The SQLSTATE of a change the server refuses because it would move a finished record back (schema 12): a chair
#: tells it from any other refusal and keeps that one row's change at home, the rest of its batch going through.
MOVES_BACK = "IMB01"
#: Session statuses the server holds as final (as :data:`monitor.finished.FINISHED_STATUSES` at the chair).
FINISHED = ("complete", "closed")
#: Of an alarm the server holds as ended (``state = 'ended'``: over and off the screen), what no later change may
#: touch: its end, its acknowledgment and its escalations.
_ALARM_FINAL = ("ended_at", "state", "acknowledged_at", "acknowledged_by", "escalations")

#: A session's end (a row named ``{}``) as the server's refusal says it.
_UTC = "to_char(to_timestamp({}.ended_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"')"

#: Refuses, for every login, an UPDATE that reopens or re-ends a session the server holds as finished (its status or
#: its end changed), or changes the end, acknowledgment or escalations of an alarm it holds as ended. Such a change
#: comes only from an older copy of a chair's file (restored from a backup): sessions and alarms are keyed by their
#: random ids, so its version would overwrite the newer one the server holds.
_REFUSE_BACKWARDS = f"""
CREATE FUNCTION im_refuse_backwards() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    field TEXT;
BEGIN
    IF TG_TABLE_NAME = 'sessions' THEN
        IF OLD.status IN ({", ".join(f"'{s}'" for s in FINISHED)})
           AND (NEW.status IS DISTINCT FROM OLD.status OR NEW.ended_at IS DISTINCT FROM OLD.ended_at) THEN
            RAISE EXCEPTION USING ERRCODE = '{MOVES_BACK}',
                MESSAGE = format('session %s is %s on the server, ended at %s: it may not be made %s, ended at %s '
                                 '(an older copy of its chair''s file?)', OLD.id, OLD.status,
                                 COALESCE({_UTC.format("OLD")}, 'no time'), COALESCE(NEW.status, 'nothing'),
                                 COALESCE({_UTC.format("NEW")}, 'no time')),
                DETAIL = OLD.id;
        END IF;
    ELSIF OLD.state = 'ended' THEN
        FOREACH field IN ARRAY TG_ARGV LOOP
            IF to_jsonb(OLD) -> field IS DISTINCT FROM to_jsonb(NEW) -> field THEN
                RAISE EXCEPTION USING ERRCODE = '{MOVES_BACK}',
                    MESSAGE = format('alarm %s of session %s ended on the server: its %s may not be changed (an older '
                                     'copy of its chair''s file?)', OLD.id, OLD.session_id, field),
                    DETAIL = OLD.session_id;
            END IF;
        END LOOP;
    END IF;
    RETURN NEW;
END $$
"""


def _finished_stays_v12(conn: psycopg.Connection) -> None:
    """A session the server holds as finished, and an alarm it holds as ended, are never moved back by any login.

    A chair's login may update its sessions and alarms (schema 10), and both are keyed by their random ids: a chair
    file restored from a backup taken while a session recorded (it takes a new origin id, but keeps the session's id)
    could close or resume that session again after it had completed, the server's ``complete`` becoming ``closed``
    with an end 40 minutes earlier. :data:`_REFUSE_BACKWARDS` refuses it with :data:`MOVES_BACK`; the chair keeps such
    a change in its own file and says so. Every other change (a patient attached, a session's phase, a sign-off's
    rows) goes on as before. It changes no row.
    """
    conn.execute(_REFUSE_BACKWARDS)
    conn.execute("REVOKE ALL ON FUNCTION im_refuse_backwards() FROM PUBLIC")
    conn.execute("CREATE TRIGGER sessions_finished_stays BEFORE UPDATE ON sessions FOR EACH ROW "
                 "EXECUTE FUNCTION im_refuse_backwards()")
    conn.execute(sql.SQL("CREATE TRIGGER alarms_ended_stays BEFORE UPDATE ON alarms FOR EACH ROW "
                         "EXECUTE FUNCTION im_refuse_backwards({})").format(_arguments(_ALARM_FINAL)))


# Ordered migrations: index i raises the server's schema from version i to i + 1. Never edit a shipped entry.
MIGRATIONS: list[Callable[[psycopg.Connection], None]] = [
    _create_v1, _roles_v2, _live_index_v3, _protocol_v4, _identity_v5, _own_origins_v6,
    _identity_check_v7, _tiles_by_function_v8, _audit_behind_function_v9, _history_v10,
    _rems_submitted_for_readers_v11, _finished_stays_v12,
]
SCHEMA_VERSION = len(MIGRATIONS)
#: From this schema on a chair writes its station row only through the server's functions: a chair of a version made
#: for an earlier schema can no longer put its live status on the nurse station.
TILES_BY_FUNCTION = MIGRATIONS.index(_tiles_by_function_v8) + 1
#: From this schema on a chair may not update its readings, waveforms, events or patients: a chair of a version made
#: for an earlier schema (which sent them with ``ON CONFLICT … DO UPDATE``) has its batches refused until updated.
INSERT_ONLY_FROM = MIGRATIONS.index(_history_v10) + 1
#: From this schema on a reader learns which REMS forms were marked submitted at their chairs.
REMS_SUBMITTED_FROM = MIGRATIONS.index(_rems_submitted_for_readers_v11) + 1
#: From this schema on the server refuses a change that moves a finished session or an ended alarm back
#: (:data:`MOVES_BACK`); a chair works against an earlier one too, which takes such a change.
FINISHED_STAYS_FROM = MIGRATIONS.index(_finished_stays_v12) + 1
#: The schema a chair of this version needs: the one it writes against (schema 10's insert-only rows). A later
#: migration that changes only what readers get (11), or refuses only what no chair should send (12), does not make
#: the chairs wait for ``server migrate``.
CHAIR_SCHEMA = INSERT_ONLY_FROM


def bound_waits(conn: psycopg.Connection, *, lock_s: float, statement_s: float) -> None:
    """Make every later statement on ``conn`` fail once it waited ``lock_s`` for a lock or ran ``statement_s``
    (the times of :mod:`monitor.replication.waits`)."""
    conn.execute(
        "SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false)",
        [f"{round(lock_s * 1000)}ms", f"{round(statement_s * 1000)}ms"],
    )


class ServerSchemaError(Exception):
    """The server's schema is missing, newer than this program, or cannot be changed."""


def server_version(conn: psycopg.Connection) -> int:
    """Schema version of the connected database (0: never migrated)."""
    row = conn.execute("SELECT to_regclass('public.schema_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    found = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(found[0]) if found and found[0] is not None else 0


def create_database(conn: psycopg.Connection, database: str) -> None:
    """Create ``database`` on the cluster if it does not exist (connected as an administrator, autocommit)."""
    found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
    if not found:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


#: In a dump's schema script (``pg_restore --schema-only --create``): the roles its grants and owners name, and the
#: logins given CONNECT on the database (``server add-chair|add-reader`` grant it).
_GRANTED = re.compile(r"^GRANT .* TO (.+);$|^ALTER .* OWNER TO (.+);$", re.M)
_CONNECT = re.compile(r"^GRANT [A-Z,]+ ON DATABASE \S+ TO (.+);$", re.M)
_ROLE_WORD = re.compile(r'"(?:[^"]|"")+"|[^\s,"]+')


def _role_names(listed: str) -> set[str]:
    """The role names of a grant's or an owner's ``a, "B c"`` (quoted names unquoted); PUBLIC is no role."""
    names = {word[1:-1].replace('""', '"') if word.startswith('"') else word
             for word in _ROLE_WORD.findall(listed.replace(" WITH GRANT OPTION", ""))}
    return names - {"PUBLIC"}


def roles_in_dump(script: str) -> tuple[set[str], set[str]]:
    """The roles a dump's schema script names (grantees and owners), and of those the logins given CONNECT on its
    database. A dump holds no roles (they belong to the cluster), so a new server needs them before the dump's
    grants can be restored."""
    named: set[str] = set()
    for grantees, owner in _GRANTED.findall(script):
        named |= _role_names(grantees or owner)
    logins = set().union(*(_role_names(grantees) for grantees in _CONNECT.findall(script)))
    return named, logins


def empty_database_for_restore(conn: psycopg.Connection, database: str, roles: set[str]) -> list[str]:
    """Replace ``database`` by an empty one and create each of ``roles`` missing on the cluster, without login, for
    a dump's grants and owners (connected as an administrator to another database, autocommit). The roles made."""
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
    conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(database)))
    made = []
    for role in sorted(roles):
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
            made.append(role)
    return made


def chair_logins(conn: psycopg.Connection) -> set[str]:
    """The logins that wrote as chairs: the owners of the origins and the logins of the station's chair rows."""
    rows = conn.execute("SELECT chair FROM origins UNION SELECT chair FROM chairs").fetchall()
    return {str(row[0]) for row in rows}


def migrate(conn: psycopg.Connection) -> int:
    """Raise the schema to :data:`SCHEMA_VERSION`, one transaction per step; returns the version reached.

    Needs the database owner (or a superuser). Two programs migrating at once are serialised by an
    advisory lock, so each step runs once.
    """
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(1868)")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
    except psycopg.errors.InsufficientPrivilege as exc:
        # A station's or a chair's URL given to migrate: the server's "permission denied for schema public" with
        # its statement named neither the login nor the one it needs.
        owner, login = _owner_and_login(conn)
        if owner is None:
            raise
        raise ServerSchemaError(
            f"the login {login} may not change this database's schema ({str(exc).strip().splitlines()[0]}): "
            f"'server migrate' runs as the database's owner, {owner}, or a superuser: give the owner's URL with "
            "--url (or, on the local server's computer, --data DIR)"
        ) from None
    version = server_version(conn)
    if version > SCHEMA_VERSION:
        raise ServerSchemaError(f"the server has schema {version}, newer than this program ({SCHEMA_VERSION})")
    for index in range(version, SCHEMA_VERSION):
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(1868)")
            if server_version(conn) > index:
                continue  # another program did this step meanwhile
            MIGRATIONS[index](conn)
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", [index + 1])
    # Logins made by hand since (CREATE ROLE … GRANT im_chair) get their limit at the next migrate.
    try:
        with conn.transaction():
            limit_connections(conn)
    except psycopg.errors.InsufficientPrivilege as exc:
        log.warning("the logins' connection limits were not set (%s): set them as an administrator "
                    "(ALTER ROLE … CONNECTION LIMIT %d for a chair, %d for a reader)", str(exc).strip(),
                    CHAIR_CONNECTIONS, READER_CONNECTIONS)
    return SCHEMA_VERSION


def _owner_and_login(conn: psycopg.Connection) -> tuple[str | None, str]:
    """The database's owner, and the login of ``conn``; the owner is None when that login is the owner or a
    superuser (a refusal then has another cause)."""
    row = conn.execute(
        "SELECT pg_get_userbyid(d.datdba), current_user, d.datdba = r.oid OR r.rolsuper "
        "FROM pg_database d, pg_roles r WHERE d.datname = current_database() AND r.rolname = current_user"
    ).fetchone()
    if row is None:
        return None, str(conn.info.user)
    return (None if row[2] else str(row[0])), str(row[1])


_ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def usable_login(role: str) -> bool:
    """Whether ``role`` is a name this program gives a login (lower-case letters, digits and _)."""
    return bool(_ROLE_NAME.match(role))


_KINDS = {CHAIR_GROUP: "a chair's login", READER_GROUP: "a station's or reviewer's login"}


def _existing_kind(conn: psycopg.Connection, role: str) -> str | None:
    """What an existing role ``role`` is, in words; None when there is no such role."""
    row = conn.execute(
        "SELECT r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls OR r.rolreplication, "
        "ARRAY(SELECT DISTINCT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        "WHERE m.member = r.oid ORDER BY g.rolname) FROM pg_roles r WHERE r.rolname = %s",
        [role],
    ).fetchone()
    if row is None:
        return None
    privileged, groups = bool(row[0]), list(row[1])
    if not privileged and len(groups) == 1 and groups[0] in _KINDS:
        return _KINDS[groups[0]]
    if role in _KINDS or privileged:
        return "a role of the server's own"
    return f"another role (member of {', '.join(groups) or 'no group'})"


def _bare(conn: psycopg.Connection, role: str) -> bool:
    """Whether ``role`` is a role without login, rights or groups (as a restore makes one for a dump's grants)."""
    row = conn.execute(
        "SELECT NOT (r.rolcanlogin OR r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls "
        "OR r.rolreplication) AND NOT EXISTS (SELECT FROM pg_auth_members m WHERE m.member = r.oid) "
        "FROM pg_roles r WHERE r.rolname = %s", [role]).fetchone()
    return bool(row and row[0])


def _create_login(conn: psycopg.Connection, role: str, group: str, password: str | None,
                  restored: bool = False) -> None:
    """Create ``role`` in ``group``, or give a login already in ``group`` alone a new password.

    A role of any other kind is refused: turning a chair's login into a reader's would let the chair's
    credentials read every chair's patients, and its own copy of the password would stop working. ``restored``:
    a role a restore made without login and in no group (:func:`empty_database_for_restore`) becomes the login.
    """
    if not _ROLE_NAME.match(role):
        raise ValueError(f"'{role}' is not a usable role name (lower-case letters, digits and _)")
    with conn.transaction():
        kind = _existing_kind(conn, role)
        if restored and kind is not None and _bare(conn, role):
            kind = _KINDS[group]
        if kind is not None and kind != _KINDS[group]:
            raise ValueError(
                f"'{role}' is already {kind} on this server; {_KINDS[group]} needs a name of its own "
                "(nothing was changed)"
            )
        verb = "ALTER" if kind is not None else "CREATE"
        limit = CHAIR_CONNECTIONS if group == CHAIR_GROUP else READER_CONNECTIONS
        statement = sql.SQL(verb + " ROLE {} LOGIN CONNECTION LIMIT {}").format(sql.Identifier(role),
                                                                               sql.Literal(limit))
        if password is not None:
            statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(password))
        conn.execute(statement)
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(role)))
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(conn.info.dbname), sql.Identifier(role)
            )
        )


def create_chair_role(conn: psycopg.Connection, role: str, password: str | None = None,
                      restored: bool = False) -> None:
    """A login for one chair: writes its own rows only (run as the database owner)."""
    _create_login(conn, role, CHAIR_GROUP, password, restored)


def create_reader_role(conn: psycopg.Connection, role: str, password: str | None = None,
                       restored: bool = False) -> None:
    """A login for a nurse station or a reviewer: reads every chair's rows but the audit log's
    (:func:`_audit_behind_function_v9`), writes nothing."""
    _create_login(conn, role, READER_GROUP, password, restored)
