"""Emulated devices: the base class and pacing (``device``) and the one registry of emulators
(``registry``); each device's own emulator is in its folder."""
