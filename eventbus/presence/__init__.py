"""Presence: who is in a room, live, in memory (`store`) or across processes (`redis_store`), and its wire events."""
