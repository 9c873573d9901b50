"""Rate limits per user and per client address (logins, runs, assistant questions).

Counts live in process memory, or in Redis when ``QUERYDECK_REDIS_URL`` is set so that every
process of a deployment shares them. Limits use a moving window: ``10/minute`` allows ten
hits in any sixty seconds, and the eleventh answers 429 ``RATE_LIMITED`` with the seconds
until the oldest hit leaves the window (the API's ``Retry-After``).

When Redis cannot be reached, a scope that guards against guessing or spending (logins,
assistant questions) refuses with 503 ``RATE_LIMIT_UNAVAILABLE``; runs go on unlimited by
rate (their in-flight caps still hold) and a warning is logged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import threading
import time
from typing import TYPE_CHECKING

from querydeck import logs
from querydeck.errors import RateLimited, RateLimitUnavailable
from querydeck.settings import Settings

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.errors import StorageError
    from limits.storage import Storage
    from limits.strategies import MovingWindowRateLimiter

log = logs.get("querydeck.auth.ratelimit")

LOGIN_USER = "login_user"
LOGIN_ADDRESS = "login_address"
RUNS_USER = "runs_user"
RUNS_ADDRESS = "runs_address"
ASSISTANT_USER = "assistant_user"

#: Redis operations give up after this long (a blackholed Redis must not hang a login).
REDIS_TIMEOUT_S = 2.0
_MAX_KEY_CHARS = 128


@dataclasses.dataclass(frozen=True, slots=True)
class _Scope:
    what: str  # "login attempts", as in "Too many login attempts"
    fail_closed: bool  # refuse (503) rather than allow when the store is unreachable
    items: tuple[RateLimitItem, ...]


def _scopes(settings: Settings) -> dict[str, _Scope]:
    from limits import parse_many

    def items(value: str) -> tuple[RateLimitItem, ...]:
        return tuple(parse_many(value)) if value else ()

    return {
        LOGIN_USER: _Scope(
            "login attempts for this account", True, items(settings.rate_limit_login_user)
        ),
        LOGIN_ADDRESS: _Scope(
            "login attempts from this address", True, items(settings.rate_limit_login_address)
        ),
        RUNS_USER: _Scope("runs started by this user", False, items(settings.rate_limit_runs_user)),
        RUNS_ADDRESS: _Scope(
            "runs started from this address", False, items(settings.rate_limit_runs_address)
        ),
        ASSISTANT_USER: _Scope(
            "assistant questions from this user", True, items(settings.rate_limit_assistant_user)
        ),
    }


def _storage(settings: Settings, key_prefix: str) -> Storage:
    from limits.storage import MemoryStorage, RedisStorage

    if settings.redis_url is None:
        return MemoryStorage()
    return RedisStorage(
        settings.redis_url,
        key_prefix=key_prefix,
        wrap_exceptions=True,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        socket_timeout=REDIS_TIMEOUT_S,
    )


def _safe_key(key: str) -> str:
    """Keys are user input (account names, addresses): long ones are hashed so a stored
    key stays small."""
    if len(key) <= _MAX_KEY_CHARS:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class _Built:
    scopes: dict[str, _Scope]
    storage: Storage
    limiter: MovingWindowRateLimiter


class RateLimiter:
    """``hit(scope, key)`` counts one attempt and raises ``RateLimited`` beyond the
    scope's limits; ``reset(scope, key)`` forgets a key's count (after a good login).

    The limits, their store and the `limits` library (about 0.1 s of imports) are set up
    on the first count: a CLI command on this machine counts nothing."""

    def __init__(self, settings: Settings, *, key_prefix: str = "querydeck") -> None:
        self._settings = settings
        self._key_prefix = key_prefix
        self._shared = settings.redis_url is not None
        self._built: _Built | None = None
        self._lock = threading.Lock()

    def _parts(self) -> _Built:
        built = self._built
        if built is not None:
            return built
        with self._lock:
            if self._built is None:
                from limits.strategies import MovingWindowRateLimiter

                storage = _storage(self._settings, self._key_prefix)
                limiter = MovingWindowRateLimiter(storage)
                self._built = _Built(_scopes(self._settings), storage, limiter)
            return self._built

    @property
    def shared(self) -> bool:
        """True when the counts live in Redis (shared by every process)."""
        return self._shared

    def _scope(self, scope: str) -> _Scope:
        try:
            return self._parts().scopes[scope]
        except KeyError:
            raise ValueError(f"unknown rate-limit scope {scope!r}") from None

    def hit(self, scope: str, key: str) -> None:
        """Count one attempt of ``scope`` by ``key`` (a user name or an address).

        Raises ``RateLimited`` (429, ``detail.retry_after_s``) when a limit is exceeded and
        ``RateLimitUnavailable`` (503) when Redis is unreachable for a login or assistant
        scope.
        """
        self._apply(scope, key, count=True)

    def check(self, scope: str, key: str) -> None:
        """Raise as ``hit`` would once ``key`` has used up a limit, without counting.

        For counting failures only (e.g. ``check`` before verifying a password, ``hit``
        after a wrong one); ``hit`` before every attempt is simpler and race-free.
        """
        self._apply(scope, key, count=False)

    def prepare(self) -> None:
        """Set up the limits now rather than on the first count (a server, at start)."""
        self._parts()

    def _apply(self, scope: str, key: str, *, count: bool) -> None:
        spec = self._scope(scope)
        parts = self._parts()
        # Only once _parts() has imported the library, under its lock: threads importing
        # parts of `limits` at the same time deadlock on its circular imports.
        from limits.errors import StorageError

        ident = _safe_key(key)
        for item in spec.items:
            try:
                if count:
                    allowed = parts.limiter.hit(item, scope, ident)
                else:
                    allowed = parts.limiter.test(item, scope, ident)
                if allowed:
                    continue
                stats = parts.limiter.get_window_stats(item, scope, ident)
            except StorageError as exc:
                self._unavailable(spec, scope, exc)
                return
            retry = max(1, math.ceil(stats.reset_time - time.time()))
            raise RateLimited(
                f"Too many {spec.what}; try again in {retry} s.",
                detail={"retry_after_s": retry, "scope": scope, "limit": str(item)},
            )

    def _unavailable(self, spec: _Scope, scope: str, exc: StorageError) -> None:
        error = type(exc.storage_error).__name__
        if spec.fail_closed:
            log.error("rate_limit_store_unavailable", scope=scope, error=error, refused=True)
            raise RateLimitUnavailable(
                "The rate-limit store cannot be reached, so this is refused for now; "
                "try again shortly.",
                detail={"scope": scope},
            )
        log.warning("rate_limit_store_unavailable", scope=scope, error=error, refused=False)

    def reset(self, scope: str, key: str) -> None:
        """Forget ``key``'s count in ``scope``. An unreachable store is logged, not raised:
        the count expires with its window anyway."""
        spec = self._scope(scope)
        parts = self._parts()
        from limits.errors import StorageError  # after _parts(): see _apply

        ident = _safe_key(key)
        for item in spec.items:
            try:
                parts.limiter.clear(item, scope, ident)
            except StorageError as exc:
                log.warning(
                    "rate_limit_reset_failed", scope=scope, error=type(exc.storage_error).__name__
                )

    def close(self) -> None:
        """Release the Redis connections (memory storage holds none)."""
        if self._built is None:
            return
        from limits.storage import RedisStorage

        if isinstance(self._built.storage, RedisStorage):
            self._built.storage.storage.close()
