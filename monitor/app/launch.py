"""The parsed command line as typed specs: what ``record``, ``gui`` and ``review`` were asked to do.

The command line (``monitor/cli.py``) defines the options; the window front-ends are started
with the same parsed options. Both turn them into specs here, so no option is read in two places.
"""

from __future__ import annotations

import argparse

from monitor.app.device import DeviceSpec, port_overrides
from monitor.app.services import ServiceSpec
from monitor.app.sessions import SessionSpec


def device_spec(args: argparse.Namespace) -> DeviceSpec:
    """The device options of ``record`` / ``gui`` (``--driver``, ``--port``, ``--set``, ``--seed``, …)."""
    return DeviceSpec(
        driver=args.driver or "simulated",
        port=args.port,
        settings=dict(args.settings),
        port_overrides=port_overrides(args.baud, args.parity, args.flow),
        scenario=args.scenario,
        speed=args.speed,
        seed=args.seed,
        pleth=args.pleth,
        link_lost_after_s=args.link_lost_after,
    )


def session_spec(args: argparse.Namespace) -> SessionSpec:
    """The session options of ``record`` / ``gui`` with their device."""
    return SessionSpec(
        device=device_spec(args),
        plan=args.plan,
        patient=args.patient,
        nurse=args.nurse,
        resume=args.resume,
        protocol=args.protocol,
        nibp_infusion_min=args.nibp_infusion,
        nibp_recovery_min=args.nibp_recovery,
        profile=args.profile,
        device_given=args.driver is not None,
        change_device=getattr(args, "change_device", False),
        beside_recording=getattr(args, "beside_recording", False),
    )


def service_spec(args: argparse.Namespace) -> ServiceSpec:
    """Where ``record`` / ``gui`` send their data besides the local database."""
    return ServiceSpec(feed=args.feed, server=args.server, chair=args.chair)
