"""CSV of the session's timeline events (format ``csv-events``); see :mod:`monitor.exports.csv_tables`."""

from monitor.exports.csv_tables import write_events as write

__all__ = ["write"]
