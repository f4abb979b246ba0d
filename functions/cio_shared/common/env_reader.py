"""Read configuration from environment variables with errors that name the variable.

Handlers read their settings once at instance start: a missing or malformed variable fails
the start with a message naming it (never its value, which may be a secret).
"""

from __future__ import annotations

from collections.abc import Mapping


class SettingsError(ValueError):
    """A configuration variable is missing or malformed (the message names it)."""


class EnvReader:
    def __init__(self, env: Mapping[str, str], error: type[SettingsError] = SettingsError) -> None:
        self._env = env
        self._error = error

    def optional(self, name: str) -> str | None:
        """The stripped value, or None when unset or blank."""
        value = self._env.get(name, "").strip()
        return value or None

    def required(self, name: str, why: str = "") -> str:
        value = self.optional(name)
        if value is None:
            reason = f": {why}" if why else ""
            raise self._error(f"environment variable {name} is required and is not set{reason}")
        return value

    def number(
        self, name: str, default: float, minimum: float, maximum: float | None = None
    ) -> float:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise self._error(f"{name} must be a number (got {raw!r})") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f">= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
            raise self._error(f"{name} must be {bounds} (got {raw!r})")
        return value

    def integer(self, name: str, default: int, minimum: int, maximum: int | None = None) -> int:
        value = self.number(name, default, minimum, maximum)
        if value != int(value):
            raise self._error(f"{name} must be a whole number (got {value!r})")
        return int(value)

    def flag(self, name: str, default: bool) -> bool:
        raw = self.optional(name)
        if raw is None:
            return default
        if raw.lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.lower() in {"0", "false", "no", "off"}:
            return False
        raise self._error(f"{name} must be true or false (got {raw!r})")
