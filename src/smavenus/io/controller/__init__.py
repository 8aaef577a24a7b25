"""The bms-controller's edges: its D-Bus service, timer, live settings and battery monitor."""
