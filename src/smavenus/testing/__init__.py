"""Real components in miniature for tests, benchmarks and the simulated bench (not mocks)."""
