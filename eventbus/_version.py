"""The installed distribution's version, read from its metadata so pyproject.toml stays the one place it is written."""

from __future__ import annotations

from importlib.metadata import version

__version__ = version("typed-eventbus")
