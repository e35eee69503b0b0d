"""Nonin oximeters (OEM III, Xpod, 9560): data formats 2, 7 and 8.

``codec`` decodes and encodes the wire format, ``driver`` is the registry entry, ``emulator`` the
device side for ``infusion-monitor emulate`` and the tests.
"""
