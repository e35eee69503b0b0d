"""The simulated bedside monitor: readings straight from the simulated patient, without bytes."""
