"""Masimo Rad-8 / Radical-7 / Rad-97 serial output in ASCII 1 mode.

``codec`` decodes and encodes the lines, ``driver`` is the registry entry, ``emulator`` the device
side for ``infusion-monitor emulate`` and the tests.
"""
