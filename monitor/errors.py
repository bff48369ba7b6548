"""The monitor's own error, importable without the settings machinery (pydantic) behind it."""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable (and the file when it came from one)."""
