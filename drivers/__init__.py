"""Device drivers, emulated devices and the vocabulary the monitor shares with them (the bottom layer)."""
