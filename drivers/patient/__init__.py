"""The simulated patient every emulator and the simulated monitor play.

``model`` is the patient (scenarios, ketamine effect, seeded noise); ``vitals`` is that patient as a
bedside monitor sees it (numerics once a second and cuff measurements), for the device emulators.
"""
