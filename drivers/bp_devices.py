"""Emulated blood-pressure monitors for ``infusion-monitor emulate``: Philips IntelliVue and GE DINAMAP.

Both are host-driven: they send nothing until the host (the recorder's driver) speaks, then answer
through :meth:`~drivers.emulator.EmulatedDevice.answer`. The IntelliVue runs its own NBP cycle, as
the real monitor does in auto mode; the DINAMAP measures when the host starts the cuff.

Settings (``--set KEY=VALUE``):

* philips-intellivue: ``nbp_every`` (seconds between the monitor's own cuff measurements, 300),
  ``cuff_s`` (how long a measurement takes, 35), ``demo=on`` (mark every value as demo data),
  ``linked=on`` (split poll replies into linked parts), ``time_stamps=rel|abs|both|off`` (which
  time stamps the NBP carries; rel), ``nbp_unit=mmhg|kpa``, ``clock_offset`` (the monitor clock
  minus UTC in seconds, 3600), ``inactivity_s`` (drop an association left silent that long).
* ge-dinamap: ``cuff_s`` (35), ``model`` (``pro`` answers RC, ``v100`` answers RA; pro),
  ``spo2`` (on: the monitor has an SpO2 module), ``held_s`` (the monitor still holds the previous
  patient's result from that many seconds before the session; none by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from drivers.base import PortSettings
from drivers.dinamap import MODEL_PRO, MODELS
from drivers.dinamap import SOURCE_NAME as DINAMAP_NAME
from drivers.dinamap_emulator import DinamapMonitor
from drivers.emulator import EmulatedDevice, Frame, register_device
from drivers.intellivue.decoder import SOURCE_NAME as INTELLIVUE_NAME
from drivers.intellivue.emulator import NBP_STAMPS, IntelliVueMonitor
from drivers.patient_feed import CuffResult, PatientFeed
from drivers.settings import check_known, seconds
from drivers.simulation import CUFF_DURATION_S, SimulatedPatient

#: The emulated IntelliVue has been switched on this long before the patient's session starts.
MONITOR_UPTIME_S = 3600.0


def _seconds(settings: Mapping[str, str], name: str, default: float) -> float:
    return seconds(settings, name, default, 0, 24 * 3600)


def _switch(settings: Mapping[str, str], name: str, default: bool) -> bool:
    text = settings.get(name)
    if text is None:
        return default
    value = text.strip().lower()
    if value not in ("on", "off", "yes", "no", "true", "false", "1", "0"):
        raise ValueError(f"setting {name}='{text}' must be on or off")
    return value in ("on", "yes", "true", "1")


def _choice(settings: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = settings.get(name, default).strip().lower()
    if value not in choices:
        raise ValueError(f"setting {name}='{settings[name]}' must be one of {', '.join(choices)}")
    return value


def _stamps(text: str) -> str:
    value = text.strip().lower()
    aliases = {"on": "rel", "yes": "rel", "true": "rel", "1": "rel", "off": "none", "no": "none", "false": "none",
               "0": "none"}
    value = aliases.get(value, value)
    if value not in NBP_STAMPS:
        raise ValueError(f"setting time_stamps='{text}' must be one of rel, abs, both, off")
    return value


def _offset(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"setting clock_offset='{text}' is not a number of seconds") from None
    if not abs(value) <= 24 * 3600:
        raise ValueError(f"setting clock_offset={text} must be within a day of UTC")
    return value


@register_device
class IntelliVueDevice(EmulatedDevice):
    """An IntelliVue MP monitor's MIB/RS232 Data Export port, with the monitor's own NBP cycle."""

    protocol = INTELLIVUE_NAME
    port_settings: ClassVar[PortSettings] = PortSettings(baudrate=115200)

    def __init__(self, patient: SimulatedPatient, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(patient, settings)
        s = self.settings
        check_known(
            s,
            {"nbp_every", "cuff_s", "demo", "linked", "time_stamps", "nbp_unit", "clock_offset", "inactivity_s"},
            self.protocol,
        )
        self.nbp_every = _seconds(s, "nbp_every", 300.0)
        self.feed = PatientFeed(
            patient=patient,
            cuff_duration_s=_seconds(s, "cuff_s", CUFF_DURATION_S),
            auto_cuff_every_s=self.nbp_every,
            cuff_at_start=True,
            source=self.protocol,
        )
        self.monitor = IntelliVueMonitor(
            self.feed,
            demo=_switch(s, "demo", False),
            linked_replies=_switch(s, "linked", False),
            nbp_stamps=_stamps(s.get("time_stamps", "rel")),
            nbp_kpa=_choice(s, "nbp_unit", ("mmhg", "kpa"), "mmhg") == "kpa",
            clock_origin=patient.start - MONITOR_UPTIME_S,
            clock_offset_s=_offset(s.get("clock_offset", "3600")),
            inactivity_s=_seconds(s, "inactivity_s", 0.0) if "inactivity_s" in s else None,
        )

    def frames_until(self, t: float) -> list[Frame]:
        """Nothing unsolicited: the monitor only answers the host."""
        return []

    def answer(self, data: bytes, t: float) -> bytes:
        """Association, MDS Create and poll answers."""
        if self.patient.link_down(t):
            return b""
        return self.monitor.receive(data, t)

    def describe(self) -> str:
        """Protocol and the cuff cycle."""
        demo = ", DEMO data" if self.monitor.demo else ""
        return f"{self.protocol} (NBP every {self.nbp_every:g} s{demo})"


@register_device
class DinamapDevice(EmulatedDevice):
    """A DINAMAP answering host commands; the cuff measures when the host starts it."""

    protocol = DINAMAP_NAME
    port_settings: ClassVar[PortSettings] = PortSettings(baudrate=9600)

    def __init__(self, patient: SimulatedPatient, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(patient, settings)
        s = self.settings
        check_known(s, {"cuff_s", "model", "spo2", "held_s"}, self.protocol)
        self.feed = PatientFeed(
            patient=patient, cuff_duration_s=_seconds(s, "cuff_s", CUFF_DURATION_S), source=self.protocol
        )
        model = s.get("model", MODEL_PRO).strip().lower()
        if model not in MODELS:
            raise ValueError(f"setting model='{model}' must be one of {', '.join(MODELS)}")
        held_s = s.get("held_s")
        held = None
        if held_s is not None:
            # The previous patient's last result: plausible numbers the new session must not take.
            held = CuffResult(patient.start - _seconds(s, "held_s", 0.0), 142.0, 91.0, 108.0, number=0)
        self.monitor = DinamapMonitor(self.feed, model=model, spo2=_switch(s, "spo2", True), held=held)

    def frames_until(self, t: float) -> list[Frame]:
        """Nothing unsolicited: the monitor only answers the host."""
        return []

    def answer(self, data: bytes, t: float) -> bytes:
        """Replies to the host's commands."""
        if self.patient.link_down(t):
            return b""
        return self.monitor.receive(data, t)
