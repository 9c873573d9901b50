"""Passwords: argon2id hashing and the policy new passwords must meet.

The policy follows NIST SP 800-63B: a minimum length (setting ``password_min_length``), at
most :data:`MAX_LENGTH` characters, no composition rules, and refusal of the user's own name
and of common passwords (the packaged ``data/common-passwords.txt``, compared casefolded).
Passwords are NFKC-normalised before they are checked or hashed, so the same password typed
on another keyboard still matches.

Hashes are argon2id PHC strings with the costs from the settings; a hash made with other
costs is re-hashed at the owner's next login. Logins for unknown users verify against a
dummy hash with the same costs, so they take as long as logins for known users.
"""

from __future__ import annotations

import functools
import secrets
import threading
import unicodedata
from importlib import resources

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

from querydeck.errors import PasswordRejected

#: Longest password accepted, characters (after NFKC).
MAX_LENGTH = 256


def normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The packaged list of common passwords, NFKC-normalised and casefolded."""
    text = (resources.files("querydeck.data") / "common-passwords.txt").read_text("utf-8")
    return frozenset(
        normalize(line.strip()).casefold()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def generate_password() -> str:
    """A random password of 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)


class PasswordPolicy:
    """What a new password must be."""

    def __init__(self, min_length: int) -> None:
        self.min_length = min_length

    def check(self, password: str, *, username: str) -> str:
        """The normalised password, or :class:`PasswordRejected` saying why (never echoing
        the password)."""
        value = normalize(password)
        if len(value) < self.min_length:
            raise PasswordRejected(
                f"A password needs at least {self.min_length} characters.",
                detail={"reason": "too_short", "min_length": self.min_length},
            )
        if len(value) > MAX_LENGTH:
            raise PasswordRejected(
                f"A password has at most {MAX_LENGTH} characters.",
                detail={"reason": "too_long", "max_length": MAX_LENGTH},
            )
        folded = value.casefold()
        if folded == normalize(username).casefold():
            raise PasswordRejected(
                "A password must not be the user name.", detail={"reason": "username"}
            )
        if folded in common_passwords():
            raise PasswordRejected(
                "This password is on a list of common passwords; choose another one "
                "(a few unrelated words make a long password that is easy to remember).",
                detail={"reason": "common"},
            )
        return value


class PasswordHasher:
    """argon2id with the configured costs."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._argon2 = Argon2Hasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._dummy: str | None = None
        self._lock = threading.Lock()

    def hash(self, password: str) -> str:
        return self._argon2.hash(normalize(password))

    def verify(self, stored: str, password: str) -> bool:
        """True when ``password`` matches ``stored``; False for a wrong password or a
        stored value that is not an argon2 hash."""
        if len(password) > 4 * MAX_LENGTH:
            return False
        try:
            return self._argon2.verify(stored, normalize(password))
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._argon2.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    def prepare(self) -> None:
        """Compute the dummy hash now (a login calls this before looking the user up, so
        the first unknown-user login is not the slow one)."""
        if self._dummy is None:
            with self._lock:
                if self._dummy is None:
                    self._dummy = self._argon2.hash(secrets.token_urlsafe(16))

    def verify_dummy(self, password: str) -> None:
        """Spend the time a real verification takes, for a user who does not exist."""
        self.prepare()
        assert self._dummy is not None
        self.verify(self._dummy, password)
