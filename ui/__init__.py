"""Qt user interface. The only package that imports Qt; it uses the core through its public API."""
