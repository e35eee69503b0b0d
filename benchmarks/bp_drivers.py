"""Decode throughput of the blood-pressure drivers and the HL7 ACK round trip on loopback.

Run: .venv/bin/python benchmarks/bp_drivers.py

- IntelliVue: poll-reply frames (HR, pulse, SpO2, NBP compound; 6 observations) built by the
  emulator, fed to the host decoder in one stream; frames per second and MB/s.
- DINAMAP: NIBP status and pulse-rate replies alternately, each answering its command.
- HL7: ORU^R01 messages (6 OBX) through the decoder, ACK included; messages per second.
- HL7 over TCP: the sender emulator against the listener on 127.0.0.1, ACK round trip per message
  (median and 95th percentile of 500).
"""

from __future__ import annotations

import statistics
import time

from drivers.dinamap.codec import DinamapDecoder, checksum
from drivers.hl7.listener import Hl7Decoder, Hl7MllpSource, Hl7Settings
from drivers.hl7.sender import Hl7Sender, oru_message
from drivers.intellivue import messages as msg
from drivers.intellivue.decoder import IntelliVueDecoder
from drivers.intellivue.emulator import IntelliVueMonitor
from drivers.intellivue.framing import encode_frame
from drivers.patient.vitals import CuffResult, PatientFeed, Vitals
from drivers.transport.mllp import frame

T0 = 1_700_000_000.0


def best_of(runs: int, work: callable) -> float:  # type: ignore[valid-type]
    """Shortest wall time of ``runs`` runs of ``work``."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def intellivue() -> None:
    feed = PatientFeed(seed=1, start=T0, cuff_at_start=True, auto_cuff_every_s=60)
    monitor = IntelliVueMonitor(feed, clock_origin=T0 - 100)
    decoder = IntelliVueDecoder()
    decoder.outgoing(T0)
    decoder.feed(monitor.receive(encode_frame(msg.association_request()), T0), T0)
    decoder.outgoing(T0)
    monitor.state = monitor.state.ASSOCIATED
    count = 2000
    frames = [
        encode_frame(msg.poll_reply(k, k, monitor.ticks(T0 + k), monitor.observations(T0 + k))) for k in range(count)
    ]
    stream = b"".join(frames)

    def work() -> None:
        d = IntelliVueDecoder()
        d.state = decoder.state  # associated: poll results become readings
        d.feed(stream, T0 + count)

    seconds = best_of(3, work)
    print(
        f"IntelliVue poll replies: {count / seconds:,.0f} frames/s "
        f"({len(stream) / seconds / 1e6:.2f} MB/s, {len(frames[0])} bytes/frame)"
    )


def dinamap() -> None:
    lines = []
    for k in range(2000):
        nibp = f" NA110{k % 5400:04d}128082097"
        lines.append((b" NA", (nibp + checksum(nibp)).encode() + b"\r"))
        hr = " RC2072"
        lines.append((b" RC", (hr + checksum(hr)).encode() + b"\r"))

    def work() -> None:
        d = DinamapDecoder()
        for i, (_, line) in enumerate(lines):
            d.outgoing(T0 + i)
            d.feed(line, T0 + i)
        assert d.counters.frames_rejected == 0 and d.unmatched == 0

    seconds = best_of(3, work)
    print(f"DINAMAP replies (with the command each answers): {len(lines) / seconds:,.0f} replies/s")


def hl7_decode() -> None:
    count = 1000
    vitals = Vitals(T0, 72.0, 71.0, 97.0)
    cuff = CuffResult(T0 - 30, 128.0, 82.0, 97.0)
    data = [frame(oru_message(f"M{k}", T0 + k, vitals, cuff)) for k in range(count)]

    def work() -> None:
        d = Hl7Decoder()
        for k, message in enumerate(data):
            d.feed(message, T0 + k)
            d.outgoing(T0 + k)

    seconds = best_of(3, work)
    print(f"HL7 ORU^R01 (6 OBX) parse + ACK: {count / seconds:,.0f} messages/s")


def hl7_round_trip() -> None:
    source = Hl7MllpSource(Hl7Settings("127.0.0.1", 0))
    source.open()
    try:
        feed = PatientFeed(seed=1, start=time.time(), cuff_at_start=True)
        sender = Hl7Sender(feed, *source.address, interval_s=0.0)
        for _ in range(500):
            sender.send_due(time.time())
            source.read(0)
        sender.close()
        rtts = sorted(sender.counters.round_trips_s)
        p95 = rtts[int(0.95 * len(rtts)) - 1]
        print(
            f"HL7 ACK round trip on 127.0.0.1 ({len(rtts)} messages): median {statistics.median(rtts) * 1000:.2f} ms, "
            f"95th percentile {p95 * 1000:.2f} ms, all AA: {sender.counters.accepted == len(rtts)}"
        )
    finally:
        source.close()


if __name__ == "__main__":
    intellivue()
    dinamap()
    hl7_decode()
    hl7_round_trip()
