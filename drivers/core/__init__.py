"""The vocabulary drivers and the monitor share, at the bottom of the layers.

Readings (parameters, flags, UCUM units, plausible ranges), the anchored clock that stamps them,
the MDC/LOINC/UCUM code table and the phase lengths a simulated patient follows. Nothing here
imports another part of the project.
"""
