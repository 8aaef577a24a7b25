"""smavenus: SMA Sunny Island inverters inside Victron Venus OS."""

__version__ = "0.1.0"
