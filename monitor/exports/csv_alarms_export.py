"""CSV of the session's alarm log (format ``csv-alarms``); see :mod:`monitor.exports.csv_tables`."""

from monitor.exports.csv_tables import write_alarms as write

__all__ = ["write"]
