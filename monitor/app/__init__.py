"""The application layer: what the command line and the windows both do, with the wiring hidden.

``monitor/cli.py`` parses arguments and prints; ``ui/`` draws and asks. Both go through here to
open a device from one typed :class:`~monitor.app.device.DeviceSpec`, start, resume or close a
session (:mod:`monitor.app.sessions`), find the alarm profile in force (:mod:`monitor.app.profile`),
start the live feed and the link to the clinic's server (:mod:`monitor.app.services`), and open
the record for reading, on this computer or on the clinic's server (:mod:`monitor.app.stores`).
A problem the user can fix is an :class:`~monitor.app.errors.AppError`: one line, never a traceback.
"""
