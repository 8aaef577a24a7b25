"""The contract between smavenus's processes: bus names, members and message models (pure)."""
