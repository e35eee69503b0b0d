"""Philips IntelliVue MP series over MIB/RS232 Data Export (115200 8N1): HR, pulse, SpO2 and NBP.

The package is split by layer: :mod:`~drivers.intellivue.framing` (byte stuffing, FCS, resync),
:mod:`~drivers.intellivue.values` (FLOAT, measurement state, nomenclature),
:mod:`~drivers.intellivue.messages` (session and remote-operation messages),
:mod:`~drivers.intellivue.decoder` (the host's association and polling state machine) and
:mod:`~drivers.intellivue.emulator` (the monitor's side, for tests and ``infusion-monitor emulate``).
The driver registered as ``philips-intellivue`` lives in :mod:`~drivers.intellivue.driver`.
"""
