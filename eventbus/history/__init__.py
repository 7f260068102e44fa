"""Delivery guarantees: the packet log behind connection state recovery, and per-room history with positions."""
