"""Nellcor N-595 / NPB-290 / NPB-295 data port (real-time ASCII rows).

``codec`` decodes and encodes the rows, ``driver`` is the registry entry, ``emulator`` the device
side for ``infusion-monitor emulate`` and the tests.
"""
