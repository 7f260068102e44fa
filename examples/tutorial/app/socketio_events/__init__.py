"""Rooms and events: the contract the bus serves and codegen reads."""
