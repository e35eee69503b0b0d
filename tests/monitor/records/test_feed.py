"""Live feed against real MLLP listeners on 127.0.0.1: one goes down and comes back, one is silent."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import hl7
import pytest

from drivers.transport.mllp import frame
from monitor.exports.hl7_export import observation_sets
from monitor.feed import Feed, FeedConfig, FeedConfigError, ack_code
from monitor.store import Store
from tests.drivers.sockets import LoopbackServer
from tests.monitor.records.sessions import MRN, record_session

SHORT_PLAN = "baseline:1,infusion:2,recovery:1"


def mllp_messages(conn: socket.socket, stop: threading.Event) -> Iterator[str]:
    """The text of each MLLP-framed message read from ``conn``, until the peer closes or fails or ``stop`` is set."""
    conn.settimeout(0.05)
    buffer = b""
    while not stop.is_set():
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return  # reset by the peer: the connection is over, as for a close
        if not chunk:
            return
        buffer += chunk
        while b"\x1c\r" in buffer:
            block, _, buffer = buffer.partition(b"\x1c\r")
            yield block[block.index(b"\x0b") + 1 :].decode("utf-8")



class MllpListener(LoopbackServer):
    """A small HL7 receiver: parses each message with python-hl7 and answers AA (or never answers).

    With ``go_down_after`` it closes its port after that many acknowledged messages; ``down`` is set
    once the port is closed. With ``hold_before`` it sets ``holding`` on that message (counted from 1)
    and answers it only once ``release`` is set.
    """

    def __init__(
        self, port: int = 0, *, answer: bool = True, go_down_after: int | None = None, hold_before: int | None = None
    ) -> None:
        super().__init__("mllp-listener", port=port, backlog=1)
        self.answer = answer
        self.go_down_after = go_down_after
        self.hold_before = hold_before
        self.holding = threading.Event()
        self.release = threading.Event()
        self.accepted: list[str] = []  # control ids, in the order they were acknowledged
        self.messages: list[hl7.Message] = []
        self.received = 0  # frames read, answered or not
        self.down = self.closed
        self.start()

    def handle(self, conn: socket.socket) -> None:
        with conn:
            for text in mllp_messages(conn, self.stopping):
                self.received += 1
                if not self.answer:
                    continue
                if self.received == self.hold_before:
                    self.holding.set()
                    self.release.wait(30.0)
                message = hl7.parse(text)
                control_id = str(message.segment("MSH")(10))
                self.accepted.append(control_id)
                self.messages.append(message)
                conn.sendall(
                    frame(
                        f"MSH|^~\\&|EHR||INFUSION_MONITOR||20240101000000||ACK^R01^ACK|A{control_id}|P|2.6\r"
                        f"MSA|AA|{control_id}\r"
                    )
                )
                if self.go_down_after is not None and len(self.accepted) >= self.go_down_after:
                    self.stopping.set()
                    return


@pytest.fixture
def listeners() -> Iterator[Callable[..., MllpListener]]:
    started: list[MllpListener] = []

    def start(*args: object, **kwargs: object) -> MllpListener:
        listener = MllpListener(*args, **kwargs)  # type: ignore[arg-type]
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()


@pytest.fixture
def feeds() -> Iterator[Callable[..., Feed]]:
    made: list[Feed] = []

    def make(path: Path, port: int, **kwargs: float) -> Feed:
        settings = {
            "connect_timeout_s": 0.5,
            "ack_timeout_s": 1.0,
            "backoff_initial_s": 0.02,
            "backoff_max_s": 0.2,
            "poll_interval_s": 0.05,
            **kwargs,
        }
        feed = Feed(path, FeedConfig("127.0.0.1", port, **settings))
        made.append(feed)
        return feed

    yield make
    for feed in made:
        feed.stop()
        assert not feed.running


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``condition`` (some open the database: not too often, so the feed keeps the CPU) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def expected_sets(path: Path, session_id: str) -> int:
    with Store(path) as store:
        return len(list(observation_sets(store.readings(session_id))))


def queued(path: Path) -> int:
    with Store(path) as store:
        return int(store.db.execute("SELECT COUNT(*) FROM feed_queue").fetchone()[0])


def record_with_feed(path: Path, feed: Feed) -> str:
    """Record a short session with the feed attached while the recorder runs."""

    def during(recorder) -> None:  # type: ignore[no-untyped-def]
        if not getattr(during, "attached", False):
            during.attached = True  # type: ignore[attr-defined]
            feed.attach(recorder)
            feed.start()

    return record_session(path, plan=SHORT_PLAN, during=during).session_id


def test_receiver_down_and_back_gets_every_message_once_in_order(
    tmp_path: Path, listeners: Callable[..., MllpListener], feeds: Callable[..., Feed]
) -> None:
    path = tmp_path / "m.db"
    first = listeners(go_down_after=40)
    feed = feeds(path, first.port)
    session_id = record_with_feed(path, feed)
    total = expected_sets(path, session_id)
    assert total > 200
    wait_for(first.down.is_set)
    # The receiver is gone: the feed keeps the rest and keeps trying.
    wait_for(lambda: feed.status().attempts_on_oldest >= 3)
    status = feed.status()
    assert status.queued == total - 40
    assert "connection" in (status.last_error or "")
    feed.stop()  # the program closes while the receiver is down
    assert queued(path) == total - 40

    second = listeners(first.port)
    restarted = feeds(path, first.port)
    restarted.start()
    wait_for(lambda: queued(path) == 0)
    arrived = first.accepted + second.accepted
    assert len(arrived) == total
    assert len(set(arrived)) == total  # exactly once
    numbers = [int(control_id[-7:]) for control_id in arrived]
    assert numbers == list(range(1, total + 1))  # in order
    times = [str(m.segment("OBX")(14)) for m in first.messages + second.messages]
    assert times == sorted(times)
    assert all(str(m.segment("PID")(3)(1)(1)) == MRN for m in second.messages)


def test_receiver_that_never_answers_times_out_and_retries_without_holding_up_the_recorder(
    tmp_path: Path, listeners: Callable[..., MllpListener], feeds: Callable[..., Feed]
) -> None:
    path = tmp_path / "m.db"
    silent = listeners(answer=False)
    feed = feeds(path, silent.port, ack_timeout_s=0.2)
    started = time.monotonic()
    session_id = record_with_feed(path, feed)
    recording_s = time.monotonic() - started
    assert recording_s < 5.0  # a 4-minute session at full speed; the silent receiver does not slow it
    total = expected_sets(path, session_id)
    wait_for(lambda: feed.status().attempts_on_oldest >= 3)
    assert silent.received >= 3  # the same first message, sent again after each time-out
    status = feed.status()
    assert "no ACK within 0.2 s" in (status.last_error or "")
    assert status.queued == total
    feed.stop()
    silent.stop()

    answering = listeners(silent.port)
    feeds(path, silent.port).start()
    wait_for(lambda: queued(path) == 0)
    # Every message once at least, the first first; one sent again when its ACK came after the feed's 1 s (a loaded
    # machine) is the same message (its control id), which a receiver takes once.
    assert len(set(answering.accepted)) == total
    assert int(answering.accepted[0][-7:]) == 1


def test_a_stop_delivers_readings_stored_while_the_last_queued_message_was_on_the_wire(
    tmp_path: Path, listeners: Callable[..., MllpListener], feeds: Callable[..., Feed]
) -> None:
    """The drain at a stop looks at the stored readings again before it calls the queue empty.

    The receiver holds the acknowledgement of the last queued message; meanwhile a second session is
    followed and the program stops. Every message of both sessions arrives before the feed ends.
    """
    path = tmp_path / "m.db"
    first = record_session(path, plan=SHORT_PLAN).session_id
    second = record_session(path, plan=SHORT_PLAN, with_patient=False, seed=4).session_id
    first_total, second_total = expected_sets(path, first), expected_sets(path, second)
    receiver = listeners(hold_before=first_total)
    feed = feeds(path, receiver.port, ack_timeout_s=30.0)
    feed.follow(first)
    feed.start()
    assert receiver.holding.wait(60.0), "the feed never sent the first session's last message"
    feed.follow(second)
    stopper = threading.Thread(target=feed.stop, kwargs={"drain_s": 60.0})
    stopper.start()
    wait_for(lambda: feed.draining, timeout=10.0)
    receiver.release.set()
    stopper.join(90.0)
    assert not stopper.is_alive() and not feed.running
    assert len(receiver.accepted) == first_total + second_total
    assert queued(path) == 0


def test_feed_target_parsing_and_ack_checks() -> None:
    assert FeedConfig.parse("127.0.0.1:2575").port == 2575
    assert FeedConfig.parse("[::1]:2575").host == "::1"
    # "ehr host" and a control character were accepted and then failed at every connection (found by tests/fuzz).
    for bad in ("localhost", "host:port", "host:70000", ":2575", "ehr host:2575", "ehr\x00:2575"):
        with pytest.raises(FeedConfigError):
            FeedConfig.parse(bad)
    assert ack_code("MSH|^~\\&|X\rMSA|AE|ID1\r", "ID1") == "AE"
    with pytest.raises(Exception, match="while waiting for 'ID2'"):
        ack_code("MSH|^~\\&|X\rMSA|AA|ID1\r", "ID2")


def test_record_command_feeds_a_receiver(
    tmp_path: Path, listeners: Callable[..., MllpListener], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from monitor.cli import main

    monkeypatch.setenv("INFUSION_MONITOR_CONFIG", str(tmp_path / "none.toml"))
    listener = listeners()
    monkeypatch.setenv("INFUSION_MONITOR_FEED", f"127.0.0.1:{listener.port}")
    out = io.StringIO()
    assert (
        main(
            [
                "record",
                "--db",
                str(tmp_path / "m.db"),
                "--speed",
                "max",
                "--plan",
                SHORT_PLAN,
                "--patient",
                MRN,
                "--quiet",
            ],
            out,
        )
        == 0
    )
    assert "wait in the queue" not in out.getvalue()
    with Store(tmp_path / "m.db") as store:
        (session,) = store.sessions()
        assert len(listener.accepted) == len(list(observation_sets(store.readings(session.id))))
        assert [e["action"] for e in store.audit_log(session.id)].count("feed_started") == 1
    assert queued(tmp_path / "m.db") == 0


# -- acknowledgment modes, refusals set aside, stray ACKs ------------------------------------------


class ScriptedReceiver(LoopbackServer):
    """An MLLP receiver whose answer to each message is chosen by ``answer(control_id, n)``: frames to send.

    Messages are parsed with python-hl7; every connection is counted.
    """

    def __init__(self, answer: Callable[[hl7.Message, int], list[bytes]]) -> None:
        super().__init__("scripted-receiver")
        self.answer = answer
        self.messages: list[hl7.Message] = []
        self.start()

    def handle(self, conn: socket.socket) -> None:
        with conn:
            for text in mllp_messages(conn, self.stopping):
                message = hl7.parse(text)
                self.messages.append(message)
                for reply in self.answer(message, len(self.messages)):
                    conn.sendall(reply)


def reply(code: str, control_id: str, text: str = "") -> bytes:
    return frame(f"MSH|^~\\&|EHR||INFUSION_MONITOR||20240101000000||ACK^R01^ACK|R{control_id}|P|2.6\r"
                 f"MSA|{code}|{control_id}|{text}\r")


def control(message: hl7.Message) -> str:
    return str(message.segment("MSH")(10))


@pytest.fixture
def receivers() -> Iterator[Callable[..., ScriptedReceiver]]:
    started: list[ScriptedReceiver] = []

    def start(answer: Callable[[hl7.Message, int], list[bytes]]) -> ScriptedReceiver:
        receiver = ScriptedReceiver(answer)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short recorded session, copied for each test that feeds it."""
    return record_session(tmp_path_factory.mktemp("feed") / "m.db", plan=SHORT_PLAN).path


def copy_of(finished: Path, tmp_path: Path) -> tuple[Path, str]:
    import shutil

    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "m.db"
    shutil.copy(finished, path)
    with Store(path) as store:
        (session,) = store.sessions()
    return path, session.id


def test_original_mode_by_default_and_ca_accepted_in_enhanced_mode(
    tmp_path: Path, finished: Path, receivers: Callable[..., ScriptedReceiver], feeds: Callable[..., Feed]
) -> None:
    path, session_id = copy_of(finished, tmp_path)
    total = expected_sets(path, session_id)
    original = receivers(lambda m, n: [reply("AA", control(m))])
    feed = feeds(path, original.port)
    feed.follow(session_id)
    feed.start()
    wait_for(lambda: queued(path) == 0 and feed.delivered == total)
    assert {(str(m.segment("MSH")(15)), str(m.segment("MSH")(16))) for m in original.messages} == {("", "")}
    feed.stop()

    path, session_id = copy_of(finished, tmp_path / "e")
    # A receiver that honours enhanced mode answers the commit ACK only: CA.
    enhanced = receivers(lambda m, n: [reply("CA", control(m))])
    # A long ACK wait: a machine busy for over a second must not resend (the count below is about CA only).
    feed = feeds(path, enhanced.port, ack_mode="enhanced", ack_timeout_s=30.0)
    feed.follow(session_id)
    feed.start()
    wait_for(lambda: feed.delivered == total)
    assert {(str(m.segment("MSH")(15)), str(m.segment("MSH")(16))) for m in enhanced.messages} == {("AL", "NE")}
    assert len(enhanced.messages) == total  # each sent once: CA is an acceptance, nothing resent
    with pytest.raises(FeedConfigError, match="ack_mode"):
        FeedConfig("127.0.0.1", 1, ack_mode="commit")


class FakeRecorder:
    """What the feed needs of a recorder: the session id, listeners, and the command queue."""

    def __init__(self, session_id: str) -> None:
        self.session = type("S", (), {"id": session_id})()
        self.submitted: list[tuple[str, dict[str, object]]] = []

    def add_listener(self, listener: object) -> None:
        pass

    def submit(self, name: str, user: str | None = None, **args: object) -> None:
        self.submitted.append((name, args))


def test_a_refused_message_is_set_aside_and_can_be_resent(
    tmp_path: Path, finished: Path, receivers: Callable[..., ScriptedReceiver], feeds: Callable[..., Feed],
    signed_in_as: Callable[..., str],
) -> None:
    import io

    from monitor.cli import main

    path, session_id = copy_of(finished, tmp_path)
    total = expected_sets(path, session_id)
    refuse_first = [True]

    def answer(message: hl7.Message, n: int) -> list[bytes]:
        cid = control(message)
        if cid.endswith("L0000001") and refuse_first[0]:
            return [reply("AE", cid, "Unknown patient")]
        return [reply("AA", cid)]

    receiver = receivers(answer)
    feed = feeds(path, receiver.port, max_refusals=3)
    recorder = FakeRecorder(session_id)
    feed.attach(recorder)
    feed.start()
    # One refused message no longer blocks the feed: the rest is delivered behind it.
    wait_for(lambda: feed.delivered == total - 1)
    assert feed.delivered == total - 1
    assert feed.status().dead_letters == 1
    first_tries = [m for m in receiver.messages if control(m).endswith("L0000001")]
    assert len(first_tries) == 3
    (event,) = recorder.submitted
    assert event[0] == "technical_event"
    assert event[1]["condition"] == "feed_dead_letter"
    assert "Unknown patient" in str(event[1]["detail"])
    feed.stop()
    with Store(path) as store:
        assert any(e["action"] == "feed_dead_letter" for e in store.audit_log(session_id))

    out = io.StringIO()
    assert main(["feed", "list", "--db", str(path)], out) == 0
    listing = out.getvalue()
    assert "L0000001" in listing and "Unknown patient" in listing
    letter_id = listing.split()[0]
    refuse_first[0] = False  # the receiver's patient record is fixed
    user = signed_in_as(path, "it-admin", "admin")
    assert main(["feed", "resend", letter_id, "--db", str(path), "--user", user], io.StringIO()) == 0
    assert queued(path) == 1
    again = feeds(path, receiver.port)
    again.start()
    wait_for(lambda: again.delivered == 1)
    assert again.delivered == 1
    out = io.StringIO()
    assert main(["feed", "list", "--db", str(path)], out) == 0
    assert "no messages set aside" in out.getvalue()


def test_a_message_put_into_the_queue_by_hand_is_set_aside_unsent(
    tmp_path: Path, finished: Path, receivers: Callable[..., ScriptedReceiver], feeds: Callable[..., Feed],
) -> None:
    """Someone who can write the database but has no key file once had any message they queued sent to the clinic's
    records as this chair's: another patient's SpO2 62, here."""
    from monitor import identifiers

    path, session_id = copy_of(finished, tmp_path)
    total = expected_sets(path, session_id)
    forged = ("MSH|^~\\&|INFUSION_MONITOR||||20240101000000||ORU^R01^ORU_R01|FORGED1|P|2.6\r"
              "PID|||OTHER-42^^^&urn:infusion-monitor:mrn&URI^MR\r"
              "OBX|1|NM|59408-5^SpO2^LN^150456^MDC_PULS_OXIM_SAT_O2^MDC||62|%|||||R\r")
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO feed_queue (session_id, control_id, observed_at, queued_at, message) VALUES (?, ?, 0, 0, ?)",
            [(session_id, "FORGED1", forged), (session_id, "FORGED2", identifiers.PREFIX + "AAAAAAAAAAAAAAAAAAAAAAAA")],
        )
    conn.close()
    receiver = receivers(lambda m, n: [reply("AA", control(m))])
    feed = feeds(path, receiver.port)
    recorder = FakeRecorder(session_id)
    feed.attach(recorder)
    feed.follow(session_id)
    feed.start()
    # The forged messages do not hold up the chair's own either.
    wait_for(lambda: feed.delivered == total and feed.status().dead_letters == 2)
    feed.stop()
    assert not [m for m in receiver.messages if control(m).startswith("FORGED")]
    details = [str(args["detail"]) for name, args in recorder.submitted if args.get("condition") == "feed_dead_letter"]
    assert len(details) == 2 and all("set aside unsent" in d for d in details)
    assert "written outside this program" in details[0] and "altered" in details[1]
    with Store(path) as store:
        entries = [json.loads(e["detail"]) for e in store.audit_log(session_id) if e["action"] == "feed_dead_letter"]
    assert sorted(e["control_id"] for e in entries) == ["FORGED1", "FORGED2"]


def test_an_unexpected_error_is_reported_once_and_the_feed_carries_on(
    tmp_path: Path, finished: Path, receivers: Callable[..., ScriptedReceiver], feeds: Callable[..., Feed],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before, any error the feed did not expect ended its thread, with a log line only: delivery to the clinic's
    records stopped unnoticed until the program was started again."""
    path, session_id = copy_of(finished, tmp_path)
    total = expected_sets(path, session_id)
    receiver = receivers(lambda message, n: [reply("AA", control(message))])
    feed = feeds(path, receiver.port)
    recorder = FakeRecorder(session_id)
    feed.attach(recorder)
    send = feed._send_one
    failures = [5]

    def flaky(store: Store) -> bool:
        if failures[0] > 0:
            failures[0] -= 1
            raise sqlite3.OperationalError("disk I/O error")
        return send(store)

    monkeypatch.setattr(feed, "_send_one", flaky)
    feed.start()
    wait_for(lambda: feed.delivered == total)
    assert feed.running and failures == [0]
    assert [(name, args["condition"]) for name, args in recorder.submitted] == [("technical_event", "feed_error")]
    assert "disk I/O error" in str(recorder.submitted[0][1]["detail"])
    assert isinstance(feed.error, sqlite3.OperationalError)


def test_a_stray_ack_makes_the_feed_reconnect(
    tmp_path: Path, finished: Path, receivers: Callable[..., ScriptedReceiver], feeds: Callable[..., Feed]
) -> None:
    path, session_id = copy_of(finished, tmp_path)
    total = expected_sets(path, session_id)

    def answer(message: hl7.Message, n: int) -> list[bytes]:
        cid = control(message)
        if n == 1:
            # An answer to something else first, then the real one: later answers would be out of step.
            return [reply("AA", "SOMETHING-ELSE"), reply("AA", cid)]
        return [reply("AA", cid)]

    receiver = receivers(answer)
    # The product's ACK wait: under load a 1 s wait ran out now and then, and its reconnection was a third one.
    feed = feeds(path, receiver.port, ack_timeout_s=10.0)
    feed.follow(session_id)
    feed.start()
    wait_for(lambda: feed.delivered == total)
    assert receiver.connections == 2  # closed after the stray ACK, then a fresh connection
    numbers = [int(control(m)[-7:]) for m in receiver.messages]
    assert numbers == [1, *range(1, total + 1)]  # the first sent again on the new connection, then in order
    assert feed.delivered == total


def test_the_recorder_puts_a_reported_technical_event_on_the_timeline(tmp_path: Path) -> None:
    import math

    from drivers.simulated.driver import SimulatedSource
    from monitor.plan import SessionPlan
    from monitor.recorder import Recorder
    from monitor.session import EventKind

    with Store(tmp_path / "m.db") as store:
        recorder = Recorder.new_session(
            store, SimulatedSource(seed=1, speed=math.inf, start_time=1_790_000_000.0), driver="simulated",
            port=None, plan=SessionPlan(1, 40, 30),
        )
        try:
            recorder.step()
            future = recorder.submit("technical_event", None, condition="feed_dead_letter", detail="set aside")
            events = recorder.step().events
            future.result(timeout=0)
            (event,) = [e for e in events if e.kind is EventKind.TECHNICAL]
            assert event.detail["condition"] == "feed_dead_letter"
        finally:
            recorder.stop()
            recorder.close()


def test_record_feeds_in_enhanced_mode_when_configured(
    tmp_path: Path, receivers: Callable[..., ScriptedReceiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from monitor.cli import main

    monkeypatch.setenv("INFUSION_MONITOR_CONFIG", str(tmp_path / "none.toml"))
    receiver = receivers(lambda m, n: [reply("CA", control(m))])
    monkeypatch.setenv("INFUSION_MONITOR_FEED", f"127.0.0.1:{receiver.port}")
    monkeypatch.setenv("INFUSION_MONITOR_FEED_ACK_MODE", "enhanced")
    argv = ["record", "--db", str(tmp_path / "m.db"), "--speed", "max", "--plan", SHORT_PLAN, "--quiet"]
    assert main(argv, io.StringIO()) == 0
    assert queued(tmp_path / "m.db") == 0
    assert receiver.messages
    assert {str(m.segment("MSH")(15)) for m in receiver.messages} == {"AL"}
    monkeypatch.setenv("INFUSION_MONITOR_FEED_ACK_MODE", "sometimes")
    assert main([*argv[:2], str(tmp_path / "n.db"), *argv[3:]], io.StringIO()) != 0


def test_feed_into_medplums_hl7_server(tmp_path: Path, finished: Path, feeds: Callable[..., Feed]) -> None:
    """Medplum's HL7 server (Node, tests/node) receives the feed and answers with its own ACKs."""
    import subprocess

    from tests.independent import node_script

    command = node_script("hl7_receive.js")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path, session_id = copy_of(finished, tmp_path)
    total = expected_sets(path, session_id)
    with subprocess.Popen(
        [*command, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as server:
        assert server.stdout is not None and server.stdin is not None
        try:
            assert server.stdout.readline().strip() == "listening"
            feed = feeds(path, port)
            feed.follow(session_id)
            feed.start()
            wait_for(lambda: feed.delivered == total)
            feed.stop()
        finally:
            server.stdin.close()
            output = server.stdout.read()
            server.wait(10)
            server.stdout.close()
    received = [line.split() for line in output.splitlines() if line.startswith("got ")]
    assert len(received) == total  # each accepted at once: Medplum's AA answers the control id it was sent
    assert received[0][1].endswith("L0000001")
    assert all(len(fields) == 2 for fields in received)  # MSH-15 and MSH-16 empty: original mode
