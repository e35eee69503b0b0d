"""A source for a device on a serial port: a :class:`SerialLink` feeding a pure decoder.

The link reads on its own thread; decoding happens in :meth:`SerialSource.read`, on the
caller's thread (the recorder's), so the decoder has a single owner. Readings carry the wall
clock time at which their bytes arrived: device clocks drift and are set by hand, the receive
time is what the session and the alarms can trust.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import ClassVar

from drivers.base import (
    NIBP_NOT_STARTED,
    CuffStartRefused,
    Decoder,
    Driver,
    LinkEvent,
    LinkEventKind,
    OpenOptions,
    PortSettings,
    Source,
)
from drivers.core.clock import now as anchored_now
from drivers.core.readings import Reading
from drivers.settings import check_known
from drivers.transport.serial_link import LINK_LOST_AFTER_S, STATE_CLOSED, STATE_LOST, SerialLink

#: Time allowed for a polled device's answer to arrive after the request that was due.
ANSWER_SLACK_S = 2.0


class SerialSource(Source):
    """A running serial device: link + decoder, with the decoder's outgoing bytes written to the port."""

    def __init__(
        self,
        name: str,
        url: str,
        decoder: Decoder,
        settings: PortSettings,
        *,
        device_label: str | None = None,
        link_lost_after_s: float = LINK_LOST_AFTER_S,
        clock: Callable[[], float] = anchored_now,
    ) -> None:
        label = device_label or name
        super().__init__(name, f"{label} on {url} ({settings.describe()})")
        self.url = url
        self.decoder = decoder
        self.settings = settings
        self._clock = clock
        # A polled device is silent between requests by design: that silence is not a lost link. A time that
        # already outlasts the silence (the 5 s default, or a shorter one chosen with --link-lost-after) stands.
        quiet = decoder.quiet_by_design_s()
        if quiet > 0 and link_lost_after_s <= quiet:
            link_lost_after_s = quiet + ANSWER_SLACK_S
        self.link = SerialLink(url, settings, link_lost_after_s=link_lost_after_s, clock=clock)
        # One counters object: the link keeps bytes/reconnects/state, read() adds the decoder's.
        self.counters = self.link.counters

    def open(self) -> None:
        """Open the port (raises when it cannot be opened) and start reading; idempotent."""
        self.link.open()

    def now(self) -> float:
        """Anchored time (drivers.core.clock): the time the bytes arrived is the time of a device reading."""
        return self._clock()

    def reader(self) -> SerialLink:
        """The port-reading thread is the link's (watched by the watchdog)."""
        return self.link

    def read(self, timeout: float) -> list[Reading]:
        """Readings decoded from the bytes that arrived within ``timeout`` seconds."""
        self._send(self._clock())
        readings: list[Reading] = []
        for item in self.link.take(timeout):
            if isinstance(item, LinkEvent):
                # Bytes after a cut never continue a frame begun before it.
                self.decoder.reset()
                self._link_events.append(item)
            else:
                readings.extend(self.decoder.feed(item.data, item.t))
        self.counters.take_decoding(self.decoder.counters)
        self._send(self._clock())
        for reason in self.decoder.take_cuff_start_failures():
            self._link_event(LinkEventKind.TECHNICAL, self._clock(), reason, NIBP_NOT_STARTED)
        return readings

    def _send(self, at: float) -> None:
        data = self.decoder.outgoing(at)
        if data and not self.link.write(data):
            self.decoder.not_sent(at)

    def request_nibp(self) -> bool:
        """Queue the decoder's start-cuff command, sent on the next read; refused while the link is lost."""
        if self.link.state in (STATE_LOST, STATE_CLOSED):
            # The port's own error is on the timeline with link_lost; the nurse needs only what it means.
            raise CuffStartRefused("the link to the monitor is lost")
        return self.decoder.request_nibp()

    def close(self) -> None:
        """Stop reading and release the port; idempotent."""
        self.link.close()

    def drain(self) -> list[Reading]:
        """Decode bytes that arrived before the close but were not read (nothing is sent: the port is closed)."""
        return self.read(0)


class SerialDriver(Driver):
    """Base of drivers for devices on a serial port: subclasses give the decoder and port settings."""

    port_settings: ClassVar[PortSettings | None] = PortSettings()
    #: How the device is named in the session's device column (e.g. "Masimo Rad-8 (ASCII 1)").
    device_label: ClassVar[str] = ""
    #: The decoder of a device that has no settings, made with the driver's name as its source.
    decoder_class: ClassVar[type[Decoder] | None] = None
    #: The source a session reads through (a device with its own way of letting go of the port gives its own).
    source_class: ClassVar[type[SerialSource]] = SerialSource

    def decoder(self, settings: Mapping[str, str] | None = None) -> Decoder:
        """A fresh :attr:`decoder_class` decoder; a device with settings overrides this."""
        if self.decoder_class is None:
            raise NotImplementedError(f"driver '{self.name}' gives no decoder")
        check_known(settings or {}, (), self.name)
        return self.decoder_class(self.name)

    def held_port(self, port: str | None) -> str | None:
        """The serial port's real path (a symlink such as ``/dev/serial/by-id/...`` names the same port as its
        target) or the terminal server's URL; None for ``loop://``, which each open makes afresh."""
        if not port or port.startswith("loop://"):
            return None
        # A terminal server's port usually serves one connection at a time: the same URL is the same port.
        return port if "://" in port else os.path.realpath(port)

    def open(self, options: OpenOptions) -> Source:
        """Open the port with the driver's settings merged with the user's overrides."""
        if not options.port:
            raise ValueError(f"driver '{self.name}' needs a port")
        settings = (self.port_settings or PortSettings()).with_overrides(options.port_overrides)
        decoder = self.decoder(options.settings)
        source = self.source_class(
            self.name,
            options.port,
            decoder,
            settings,
            device_label=self.device_label or self.name,
            link_lost_after_s=options.link_lost_after_s,
        )
        # Whether the session may ask for a cuff is the device's (its decoder knows the command).
        source.can_start_nibp = self.can_start_nibp
        source.open()
        return source
