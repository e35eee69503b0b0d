"""A message over the 1 MiB limit is answered (AR, from the MSH at its start), counted as rejected and put on the
timeline, while the listener never holds more than the limit of it; one with no readable MSH closes the connection."""

from __future__ import annotations

import socket
import time

from drivers.base import LinkEventKind
from drivers.hl7.listener import Hl7Decoder, Hl7MllpSource, Hl7Settings
from drivers.hl7.sender import oru_message
from drivers.patient.vitals import Vitals
from drivers.transport.mllp import MAX_MESSAGE_BYTES, OVERSIZE_HEAD_BYTES, MllpDeframer, OversizeMessage, frame
from tests.drivers.sockets import closed_by_peer, mllp_answer

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
MSH = "MSH|^~\\&|GW|ICU|IM|CLINIC|20231114221320+0000||ORU^R01^ORU_R01|BIG1|P|2.6"
CHUNK = 65536  # what the listener reads at a time


def padded(header: str, size: int) -> bytes:
    """A message of exactly ``size`` bytes: ``header``, a PID, and one long comment."""
    start = header + "\rPID|||MRN1\rNTE|1||"
    return (start + "x" * (size - len(start) - 1) + "\r").encode()


def mllp(body: bytes) -> bytes:
    return b"\x0b" + body + b"\x1c\x0d"


def chunks(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# -- the framing: exact (bytes in, blocks out) --------------------------------------------------


def test_a_message_over_the_limit_is_its_head_and_size_and_the_buffer_stays_bounded() -> None:
    big = padded(MSH, MAX_MESSAGE_BYTES + 1)
    deframer = MllpDeframer()
    out: list[bytes | OversizeMessage] = []
    for piece in chunks(mllp(big) + mllp(b"MSH|next")):
        out += deframer.blocks(piece)
        assert len(deframer._buf) <= MAX_MESSAGE_BYTES + CHUNK
    assert out == [OversizeMessage(big[:OVERSIZE_HEAD_BYTES], MAX_MESSAGE_BYTES + 1), b"MSH|next"]
    assert (deframer.oversize, deframer.stray) == (1, 0)


def test_exactly_the_limit_is_read_and_one_byte_more_in_one_chunk_is_not() -> None:
    at_limit = padded(MSH, MAX_MESSAGE_BYTES)
    assert MllpDeframer().blocks(mllp(at_limit)) == [at_limit]
    over = padded(MSH, MAX_MESSAGE_BYTES + 1)
    assert MllpDeframer().blocks(mllp(over)) == [OversizeMessage(over[:OVERSIZE_HEAD_BYTES], len(over))]
    # feed(), which the clients use, leaves it out.
    assert MllpDeframer().feed(mllp(over) + mllp(b"MSH|next")) == [b"MSH|next"]


def test_the_end_block_split_between_chunks_ends_the_skipped_message() -> None:
    big = padded(MSH, 2 * MAX_MESSAGE_BYTES)
    data = mllp(big) + mllp(b"MSH|next")
    cut = len(big) + 2  # just after the FS: the CR comes in the next chunk
    deframer = MllpDeframer()
    out = deframer.blocks(data[: cut - CHUNK]) + deframer.blocks(data[cut - CHUNK : cut])
    assert out == []
    assert deframer.blocks(data[cut:]) == [OversizeMessage(big[:OVERSIZE_HEAD_BYTES], len(big)), b"MSH|next"]


def test_a_new_start_block_inside_the_skipped_message_abandons_it() -> None:
    big = padded(MSH, MAX_MESSAGE_BYTES + CHUNK)
    deframer = MllpDeframer()
    out: list[bytes | OversizeMessage] = []
    for piece in chunks(b"\x0b" + big + mllp(b"MSH|after")):  # the sender gave up and began anew
        out += deframer.blocks(piece)
    assert out == [b"MSH|after"]
    assert (deframer.oversize, deframer.stray) == (1, 1)


# -- the answer: exact (bytes sent, bytes received) ---------------------------------------------

REASON = "message of 1,100,000 bytes is over the limit of 1,048,576 bytes (1 MiB)"
ACK_HEAD = "\x0bMSH|^~\\&|INFUSION-MONITOR|CLINIC|GW|ICU|20231114221320+0000||ACK^R01^ACK|{id}|P|2.6\r"
ERR = f"ERR|||207^Application internal error^HL70357|E||||{REASON}\r\x1c\r"


def test_a_message_over_the_limit_is_answered_ar_with_its_size_and_the_limit() -> None:
    decoder = Hl7Decoder(peer="10.0.4.17:40000")
    sent = mllp(padded(MSH, 1_100_000))
    assert [r for piece in chunks(sent) for r in decoder.feed(piece, T0)] == []
    received = decoder.outgoing(T0).decode()
    assert received == ACK_HEAD.format(id="IM700000000000001") + f"MSA|AR|BIG1|{REASON}\r" + ERR
    assert (decoder.counters.frames_rejected, decoder.counters.frames_decoded, decoder.rejects) == (1, 0, 1)
    assert decoder.counters.resyncs == 0
    (refused,) = decoder.take_refusals()
    assert refused.refusal is not None
    assert (refused.refusal.condition, refused.refusal.reason) == ("hl7_message_too_large", REASON)
    assert refused.sender == "GW^ICU"
    assert decoder.hang_up == ""


def test_enhanced_mode_gets_the_commit_and_application_answers_it_asks_for() -> None:
    decoder = Hl7Decoder()
    decoder.feed(mllp(padded(MSH + "|||AL|AL", 1_100_000)), T0)
    received = decoder.outgoing(T0).decode()
    assert received == (
        ACK_HEAD.format(id="IM700000000000001") + f"MSA|CR|BIG1|{REASON}\r" + ERR
        + ACK_HEAD.format(id="IM700000000000002") + f"MSA|AR|BIG1|{REASON}\r" + ERR
    )


def test_without_a_readable_msh_nothing_is_answered_and_the_connection_is_to_be_closed() -> None:
    decoder = Hl7Decoder(peer="10.0.4.17:40000")
    decoder.feed(mllp(b"x" * 1_100_000), T0)
    assert decoder.outgoing(T0) == b""
    assert decoder.hang_up == f"{REASON}, and its start holds no readable MSH to answer"
    assert decoder.counters.frames_rejected == 1
    (refused,) = decoder.take_refusals()
    assert refused.sender == "address 10.0.4.17"


# -- end to end through the listener on a socket ------------------------------------------------


def answer(sock: socket.socket, data: bytes) -> str:
    return mllp_answer(sock, data).decode()


def normal(control: str) -> bytes:
    now = time.time()
    return frame(oru_message(control, now, Vitals(now, 72, 72, 97), None))


def test_the_listener_answers_a_large_message_counts_it_and_tells_the_timeline_once() -> None:
    source = Hl7MllpSource(Hl7Settings("127.0.0.1", 0))
    source.open()
    try:
        with socket.create_connection(source.address, timeout=10) as sock:
            assert "MSA|AA|N1" in answer(sock, normal("N1"))
            big = padded(MSH, 1_800_000)
            for _ in range(2):  # a gateway sending it again gets the same answer, and the timeline one entry
                ack = answer(sock, mllp(big))
                assert "MSA|AR|BIG1|message of 1,800,000 bytes is over the limit of 1,048,576 bytes (1 MiB)" in ack
            assert "MSA|AA|N2" in answer(sock, normal("N2"))
        assert (source.counters.frames_decoded, source.counters.frames_rejected) == (2, 2)
        assert source.counters.resyncs == 0
        technical = [e for e in source.take_link_events() if e.kind is LinkEventKind.TECHNICAL]
        assert [e.condition for e in technical] == ["hl7_message_too_large"]
        assert "1,800,000 bytes" in technical[0].detail and "1,048,576 bytes" in technical[0].detail
        # No MSH at its start: nothing to answer, so the connection is closed (and still counted).
        with socket.create_connection(source.address, timeout=10) as sock:
            sock.sendall(mllp(b"x" * 1_200_000))
            assert closed_by_peer(sock, within_s=10.0)
        assert source.counters.frames_rejected == 3
    finally:
        source.close()
