"""Tools for developing the library that the tests, the benchmark and the demo share (not shipped)."""
