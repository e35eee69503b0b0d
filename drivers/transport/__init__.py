"""Moving bytes: serial links with reconnection, the serial source, line and sync framing, MLLP
framing and HOST:PORT parsing, listing serial ports, and device-side ports for the emulators."""
