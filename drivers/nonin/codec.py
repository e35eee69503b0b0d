"""Nonin oximeters (OEM III module, Xpod, 9560 and others): binary serial data formats #2, #7 and #8.

The format is a driver setting (``--set format=2``, ``7`` or ``8``; 2 is the default), because
the device is configured for one and cannot be asked which.

Format #2: 5-byte frames ``01 STATUS PLETH DATA CHK`` with CHK = (b0+b1+b2+b3) mod 256, 75
frames a second, 25 frames to a packet. STATUS bit 7 is always 1 and bit 0 (SYNC) marks the
first frame of a packet. The DATA byte's meaning depends on the frame's place in the packet:
0-1 pulse rate (9 bits: ``(msb & 3) << 7 | (lsb & 0x7F)``), 2 SpO2, 3 firmware revision, 8
SpO2-D, 9 SpO2 fast, 10 beat-to-beat SpO2, 13-14 E-HR, 15 E-SpO2, 16 E-SpO2-D, 19-20 HR-D,
21-22 E-HR-D. This decoder reports the 4-beat average pulse rate (frames 0-1) and SpO2
(frame 2) once per packet (three times a second) as ``pr`` and ``spo2``, and every frame's pleth
byte as a ``pleth`` reading (75 Hz). Pulse rate 511 and SpO2 127 mean "missing" and become None.

STATUS bits (format #2 and #7): 6 sensor disconnect, 5 artifact, 4 out of track, 3 sensor alarm,
2 red perfusion (low), 1 green perfusion (good); red and green together mean yellow (marginal).
The flags of a packet's numerics are those of any frame in the packet, but for artifact: ARTF marks
one pulse beat that did not match the pulse interval (an irregular beat, a movement), not the
averaged values, which the oximeter withholds (127, 511) when it cannot give them. So ARTF makes a
pleth sample ``artifact`` and the numerics only ``questionable`` (still judged by the alarms: an
irregular rhythm must not hide a desaturation).

Format #7: as #2 without the leading 01 and with a 16-bit pleth: ``STATUS PLETH_MSB PLETH_LSB
DATA CHK``, CHK = sum of the first four bytes mod 256. *Unconfirmed*: the byte order of the
16-bit pleth (taken as most significant first) and the checksum span; no public capture of
format #7 was available, so frames must pass the same checks as #2.

Format #8: 4 bytes once a second, no checksum: ``STATUS HR-D SPO2-D STATUS2``, its own bit layout
(Nonin 9560 specification). STATUS: bit 7 always 1, bit 6 reserved, bit 5 out of track, bit 4 low
perfusion, bit 3 marginal perfusion, bit 2 artifact, bits 1-0 pulse-rate bits 8-7. STATUS2 (bit 7
clear): bit 5 SmartPoint, bit 3 sensor alarm, bit 0 low battery. The other bytes have bit 7 clear.
The values are the display values, which go on showing the last reading for 10 s after the finger
is removed, with the sensor alarm set: such a value is marked ``sensor_off`` (not a measurement).

Frame synchronisation: a frame is accepted only if its fixed bits (and checksum) are right.
Out of sync, a candidate frame is confirmed by the frame that follows it before anything is
reported, so a chance match in noise does not produce a value; a format #8 record, which has no
checksum, by the two that follow it: a 5-byte format (#2, the factory default, or #7) whose pulse
wave byte happens to fit can pass for two records in a row, never for three (its STATUS bytes, 5
apart, would have to fall 4 apart), so a device set to another format gives no numbers. A packet that is cut short
(SYNC early, or a frame lost) is rejected whole; the decoder then waits for the next SYNC.
Values out of range (SpO2 101-126, pulse rate 351-510) reject the packet. *Unconfirmed*: a
DATA byte with bit 7 set in the SpO2 slot; it is rejected rather than masked.

The 9560 is switched between formats by the host with ``02 70 02 02 <fmt> 03`` (answered ACK
06 or NAK 15): see :func:`set_format_command`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from drivers.base import Decoder, PortSettings
from drivers.core.readings import PLETH_RATE_HZ, Flag, Parameter, Reading
from drivers.settings import SettingsError, check_known
from drivers.transport.framing import FrameRejected, JunkRun, SyncTracker

NAME = "nonin"
PORT_SETTINGS = PortSettings(baudrate=9600, bytesize=8, parity="N", stopbits=1)
FORMATS = (2, 7, 8)

FRAMES_PER_PACKET = 25
#: Frames that must follow a candidate frame, valid, before a new alignment is trusted (format #8 has no checksum).
CONFIRMING_FRAMES = {2: 1, 7: 1, 8: 2}
HR_MISSING = 511
SPO2_MISSING = 127
HR_MAX = 350
SPO2_MAX = 100

STATUS_ALWAYS = 0x80
SNSD = 0x40  # sensor disconnect
ARTF = 0x20  # artifact
OOT = 0x10  # out of track
SNSA = 0x08  # sensor alarm
RPRF = 0x04  # red perfusion
GPRF = 0x02  # green perfusion
SYNC = 0x01

ACK = 0x06
NAK = 0x15

# Format #8 has a layout of its own: STATUS bits, then STATUS2 bits.
F8_OOT = 0x20  # out of track
F8_LPRF = 0x10  # low perfusion
F8_MPRF = 0x08  # marginal perfusion
F8_ARTF = 0x04  # artifact
F8_SNSA = 0x08  # STATUS2: sensor alarm (finger removed; the held display values are not current)


def status_flags(status: int, *, perfusion: bool = True) -> frozenset[Flag]:
    """Flags for a STATUS byte."""
    flags: set[Flag] = set()
    if status & SNSD:
        flags.add(Flag.NO_SENSOR)
    if status & ARTF:
        flags.add(Flag.ARTIFACT)
    if status & OOT:
        flags.add(Flag.OUT_OF_TRACK)
    if status & SNSA:
        flags.add(Flag.SENSOR_ALARM)
    if perfusion:
        red, green = bool(status & RPRF), bool(status & GPRF)
        if red and green:
            flags.add(Flag.PERFUSION_MARGINAL)
        elif red:
            flags.add(Flag.LOW_PERFUSION)
    return frozenset(flags)


def format8_flags(status: int, status2: int) -> frozenset[Flag]:
    """Flags for format #8's STATUS and STATUS2 bytes."""
    flags = {flag for bit, flag in ((F8_OOT, Flag.OUT_OF_TRACK), (F8_ARTF, Flag.ARTIFACT)) if status & bit}
    if status & F8_LPRF:
        flags.add(Flag.LOW_PERFUSION)
    elif status & F8_MPRF:
        flags.add(Flag.PERFUSION_MARGINAL)
    if status2 & F8_SNSA:
        flags |= {Flag.SENSOR_ALARM, Flag.SENSOR_OFF}
    return frozenset(flags)


def format8_status(flags: frozenset[Flag]) -> tuple[int, int]:
    """Format #8's STATUS (without the pulse-rate bits) and STATUS2 for these flags."""
    status = STATUS_ALWAYS
    status |= F8_OOT if Flag.OUT_OF_TRACK in flags else 0
    status |= F8_LPRF if Flag.LOW_PERFUSION in flags else 0
    status |= F8_MPRF if Flag.PERFUSION_MARGINAL in flags else 0
    status |= F8_ARTF if flags & {Flag.ARTIFACT, Flag.QUESTIONABLE} else 0
    status2 = F8_SNSA if flags & {Flag.SENSOR_ALARM, Flag.SENSOR_OFF, Flag.NO_SENSOR} else 0
    return status, status2


def flags_status(flags: frozenset[Flag], *, perfusion: bool = True) -> int:
    """The STATUS bits (without SYNC) that carry these flags: the inverse of :func:`status_flags`."""
    status = STATUS_ALWAYS
    status |= SNSD if Flag.NO_SENSOR in flags else 0
    status |= ARTF if flags & {Flag.ARTIFACT, Flag.QUESTIONABLE} else 0
    status |= OOT if Flag.OUT_OF_TRACK in flags else 0
    status |= SNSA if Flag.SENSOR_ALARM in flags else 0
    if perfusion:
        if Flag.PERFUSION_MARGINAL in flags:
            status |= RPRF | GPRF
        elif Flag.LOW_PERFUSION in flags:
            status |= RPRF
        else:
            status |= GPRF
    return status


@dataclass(frozen=True, slots=True)
class _Frame:
    status: int
    pleth: int
    data: int


@dataclass(frozen=True, slots=True)
class NoninPacket:
    """Every value of one format #2/#7 packet (9-bit rates and SpO2 as sent; 511/127 = missing)."""

    hr: int
    spo2: int
    firmware: int
    spo2_d: int
    spo2_fast: int
    spo2_beat: int
    e_hr: int
    e_spo2: int
    e_spo2_d: int
    hr_d: int
    e_hr_d: int

    @classmethod
    def from_data(cls, data: Sequence[int]) -> NoninPacket:
        """Read the values out of the 25 DATA bytes of a packet."""

        def rate(i: int) -> int:
            return ((data[i] & 0x03) << 7) | (data[i + 1] & 0x7F)

        return cls(
            hr=rate(0), spo2=data[2], firmware=data[3], spo2_d=data[8], spo2_fast=data[9], spo2_beat=data[10],
            e_hr=rate(13), e_spo2=data[15], e_spo2_d=data[16], hr_d=rate(19), e_hr_d=rate(21),
        )


class NoninDecoder(Decoder):
    """Incremental decoder for Nonin formats #2, #7 and #8."""

    def __init__(self, source: str = NAME, data_format: int = 2) -> None:
        super().__init__(source)
        if data_format not in FORMATS:
            raise ValueError(f"Nonin data format must be 2, 7 or 8, not {data_format}")
        self.data_format = data_format
        self.frame_len = 4 if data_format == 8 else 5
        self._buf = bytearray()
        self._locked = False  # frame boundaries known
        self._packet: list[_Frame] | None = None  # frames of the packet in progress
        self._junk = JunkRun()  # bytes being skipped: one rejection per run, and per second it lasts
        self._sync = SyncTracker(self.counters)
        self._last_pleth_t = float("-inf")
        #: The last complete packet (format #2/#7), for diagnostics and the firmware revision.
        self.last_packet: NoninPacket | None = None

    def reset(self) -> None:
        """Forget partial frames and packet position (after a reconnect)."""
        self._buf.clear()
        self._locked = False
        self._packet = None
        self._junk.end()

    # -- framing -------------------------------------------------------------------------

    def _frame_at(self, i: int) -> _Frame | None:
        """The frame starting at ``i`` if its fixed bits and checksum are right."""
        b = self._buf
        if self.data_format == 2:
            if b[i] != 0x01 or not b[i + 1] & STATUS_ALWAYS or sum(b[i : i + 4]) & 0xFF != b[i + 4]:
                return None
            return _Frame(b[i + 1], b[i + 2], b[i + 3])
        if self.data_format == 7:
            if not b[i] & STATUS_ALWAYS or sum(b[i : i + 4]) & 0xFF != b[i + 4]:
                return None
            return _Frame(b[i], (b[i + 1] << 8) | b[i + 2], b[i + 3])
        if not b[i] & STATUS_ALWAYS or (b[i + 1] | b[i + 2] | b[i + 3]) & 0x80:
            return None
        return _Frame(b[i], b[i + 1], b[i + 2] | (b[i + 3] << 8))

    def _frames(self, at: float) -> Iterator[_Frame | None]:
        """Frames in order, with None where a run of bytes that are no frame begins."""
        n = self.frame_len
        i = 0
        try:
            while len(self._buf) - i >= n:
                frame = self._frame_at(i)
                if frame is not None and not self._locked:
                    # Confirm by the frames that follow before trusting a new alignment.
                    following = CONFIRMING_FRAMES[self.data_format]
                    if len(self._buf) - i < (following + 1) * n:
                        return
                    if any(self._frame_at(i + k * n) is None for k in range(1, following + 1)):
                        frame = None
                if frame is None:
                    if self._junk.skipped(at):
                        yield None
                    self._locked = False
                    i += 1
                    continue
                self._locked = True
                self._junk.end()
                i += n
                yield frame
        finally:
            del self._buf[:i]

    # -- decoding ------------------------------------------------------------------------

    def feed(self, data: bytes, at: float) -> list[Reading]:
        """Readings completed by ``data``: pleth for every frame, numerics for every packet."""
        self._buf += data
        items = list(self._frames(at))
        out: list[Reading] = []
        if self.data_format == 8:
            for item in items:
                if item is None:
                    self._sync.bad()
                else:
                    out.extend(self._format8(item, at))
            return out
        step = 1.0 / PLETH_RATE_HZ
        count = sum(1 for item in items if item is not None)
        k = 0
        for frame in items:
            if frame is None:
                self._sync.bad()
                self._packet = None
                continue
            # Frames that arrived together were sent 1/75 s apart: spread them back from `at`.
            t = max(at - (count - 1 - k) * step, self._last_pleth_t)
            k += 1
            self._last_pleth_t = t
            flags = status_flags(frame.status)
            out.append(Reading(t, Parameter.PLETH, float(frame.pleth), self.source, flags))
            out.extend(self._packet_frame(frame, t))
        return out

    def _packet_frame(self, frame: _Frame, t: float) -> list[Reading]:
        if frame.status & SYNC:
            if self._packet is not None and self._packet:
                self._sync.bad()  # a packet cut short
            self._packet = [frame]
            return []
        if self._packet is None:
            return []  # waiting for the start of a packet
        self._packet.append(frame)
        if len(self._packet) < FRAMES_PER_PACKET:
            return []
        packet, self._packet = self._packet, None
        return self._sync.judged(lambda: self._numerics(packet, t))

    def _numerics(self, packet: Sequence[_Frame], t: float) -> list[Reading]:
        values = NoninPacket.from_data([f.data for f in packet])
        if values.spo2 & 0x80:
            raise FrameRejected("SpO2 byte with bit 7 set")
        flags: frozenset[Flag] = frozenset().union(*(status_flags(f.status) for f in packet))
        readings = self._values(values.hr, values.spo2, _numeric_flags(flags), t)
        self.last_packet = values
        return readings

    def _values(self, hr: int, spo2: int, flags: frozenset[Flag], t: float) -> list[Reading]:
        if hr != HR_MISSING and hr > HR_MAX:
            raise FrameRejected(f"pulse rate {hr}")
        if spo2 != SPO2_MISSING and spo2 > SPO2_MAX:
            raise FrameRejected(f"SpO2 {spo2}")
        return [
            Reading(t, Parameter.SPO2, None if spo2 == SPO2_MISSING else float(spo2), self.source, flags),
            Reading(t, Parameter.PR, None if hr == HR_MISSING else float(hr), self.source, flags),
        ]

    def _format8(self, frame: _Frame, at: float) -> list[Reading]:
        status, lsb, spo2, status2 = frame.status, frame.pleth, frame.data & 0xFF, frame.data >> 8
        hr = ((status & 0x03) << 7) | lsb
        return self._sync.judged(
            lambda: self._values(hr, spo2, _numeric_flags(format8_flags(status, status2)), at))


def _numeric_flags(flags: frozenset[Flag]) -> frozenset[Flag]:
    """The flags of SpO2 and pulse rate from the status bits: a beat's artifact makes them questionable only."""
    if Flag.ARTIFACT not in flags:
        return flags
    return (flags - {Flag.ARTIFACT}) | {Flag.QUESTIONABLE}


# -- encoder ---------------------------------------------------------------------------------


def _hr_bytes(pr: float | None) -> tuple[int, int]:
    hr = HR_MISSING if pr is None else round(pr)
    return (hr >> 7) & 0x03, hr & 0x7F


def encode_packet(
    spo2: float | None,
    pr: float | None,
    pleth: Sequence[float],
    flags: frozenset[Flag] = frozenset(),
    *,
    data_format: int = 2,
    firmware: int = 48,
) -> bytes:
    """One 25-frame packet in format #2 or #7 carrying SpO2, pulse rate and 25 pleth samples.

    The extended and display values (SpO2-D, E-HR, HR-D, ...) carry the same numbers, as a
    settled reading would.
    """
    if data_format not in (2, 7):
        raise ValueError("packets exist in formats 2 and 7 only")
    if len(pleth) != FRAMES_PER_PACKET:
        raise ValueError(f"a packet carries {FRAMES_PER_PACKET} pleth samples")
    msb, lsb = _hr_bytes(pr)
    sat = SPO2_MISSING if spo2 is None else round(spo2)
    data = [0] * FRAMES_PER_PACKET
    data[0], data[1], data[2], data[3] = msb, lsb, sat, firmware
    for i in (8, 9, 10, 15, 16):
        data[i] = sat
    for i in (13, 19, 21):
        data[i], data[i + 1] = msb, lsb
    status = flags_status(flags)
    out = bytearray()
    for i in range(FRAMES_PER_PACKET):
        st = status | (SYNC if i == 0 else 0)
        wave = max(0, min(round(pleth[i]), 0xFF if data_format == 2 else 0xFFFF))
        lead, wave_bytes = (b"\x01", [wave]) if data_format == 2 else (b"", [wave >> 8, wave & 0xFF])
        body = lead + bytes([st, *wave_bytes, data[i]])
        out += body + bytes([sum(body) & 0xFF])
    return bytes(out)


def encode_format8(spo2: float | None, pr: float | None, flags: frozenset[Flag] = frozenset()) -> bytes:
    """The 4-byte format #8 record sent once a second."""
    msb, lsb = _hr_bytes(pr)
    status, status2 = format8_status(flags)
    sat = SPO2_MISSING if spo2 is None else round(spo2)
    return bytes([status | msb, lsb, sat, status2])


def set_format_command(data_format: int) -> bytes:
    """The 9560's "set data format" command (answered ACK 06 or NAK 15)."""
    if not 0 <= data_format <= 0xFF:
        raise ValueError("data format is one byte")
    return bytes([0x02, 0x70, 0x02, 0x02, data_format, 0x03])


def set_time_command(when: datetime) -> bytes:
    """The 9560's "set date and time" command (two-digit year)."""
    fields = [when.year % 100, when.month, when.day, when.hour, when.minute, when.second]
    return bytes([0x02, 0x72, 0x06, *fields, 0x03])


def get_time_command() -> bytes:
    """The 9560's "get date and time" command."""
    return bytes([0x02, 0x72, 0x00, 0x03])


def format_setting(settings: Mapping[str, str] | None) -> int:
    """The data format chosen with ``--set format=N`` (2, 7 or 8; ``#8`` is accepted), 2 when absent."""
    given = dict(settings or {})
    check_known(given, ("format",), NAME)
    text = given.get("format", "2").strip().lstrip("#")
    value = int(text) if text.isascii() and text.isdigit() else -1
    if value not in FORMATS:
        raise SettingsError(f"setting format={text}: Nonin data format must be 2, 7 or 8")
    return value
