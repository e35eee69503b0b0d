"""GE / Critikon DINAMAP host communications: the host starts the cuff and polls NIBP, SpO2 and rate.

``codec`` holds the commands, reply parsing and the polling decoder, ``driver`` the registry entry,
``emulator`` the monitor's side for ``infusion-monitor emulate`` and the tests.
"""
