"""Infusion Monitor core: readings, sessions, alarms, storage and exports (no Qt here)."""

__version__ = "0.1.0"
