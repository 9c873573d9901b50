"""Per-user preferences, as the shells see them: a principal reads and writes only their
own."""

from __future__ import annotations

from typing import Any

from querydeck.auth.preferences import Preference, Preferences
from querydeck.auth.principal import Principal
from querydeck.store.pages import Page


class PreferenceService:
    """The principal's own preferences (key → JSON value)."""

    def __init__(self, preferences: Preferences) -> None:
        self._preferences = preferences

    def listing(
        self, principal: Principal, *, limit: int = 100, offset: int = 0
    ) -> Page[Preference]:
        """The principal's own preferences, by key."""
        return self._preferences.list(principal.username, limit=limit, offset=offset)

    def get(self, principal: Principal, key: str) -> Preference:
        return self._preferences.get(principal.username, key)

    def put(self, principal: Principal, key: str, value: Any) -> tuple[Preference, bool]:
        """Create or replace one of the principal's preferences; ``True`` when created."""
        return self._preferences.put(principal.username, key, value)

    def delete(self, principal: Principal, key: str) -> None:
        self._preferences.delete(principal.username, key)
