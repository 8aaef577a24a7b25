"""The device side of the slcan (Lawicel) serial protocol, sans-I/O (used by the simulator)."""
