"""The alarm system: rules, states, technical alarms, clinic profiles and alarm sounds (no Qt)."""
