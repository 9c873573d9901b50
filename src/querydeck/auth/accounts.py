"""User accounts: names, roles, passwords, disabling, and the first administrator.

A user name has 1 to 64 characters: letters (any script, with their combining marks),
digits and ``._-``, starting with a letter or a digit. It is stored as given (NFC) and is
unique ignoring case. ``local`` is reserved for the local CLI's principal. Users are
disabled, never deleted, so a name stays a stable owner key for runs and saved queries;
disabling a user ends their sessions and revokes their tokens at once.
"""

from __future__ import annotations

import os
import unicodedata
import uuid
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from querydeck.auth.models import UserInfo
from querydeck.auth.passwords import PasswordHasher, PasswordPolicy, generate_password
from querydeck.auth.principal import LOCAL, Role
from querydeck.auth.sessions import end_sessions
from querydeck.auth.tokens import revoke_tokens
from querydeck.errors import (
    ConfigError,
    LastAdmin,
    LoginFailed,
    PasswordIncorrect,
    UserExists,
    UsernameInvalid,
    UserNotFound,
)
from querydeck.store.database import AppDatabase
from querydeck.store.pages import Page
from querydeck.store.plain import utcnow
from querydeck.store.tables import UserRow

USERNAME_CHARS = 64
RESERVED_NAMES = frozenset({LOCAL.username})
INITIAL_ADMIN = "admin"
INITIAL_PASSWORD_FILE = "initial-admin-password"  # noqa: S105 (a file name)


def username_key(name: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def _allowed(char: str, first: bool) -> bool:
    category = unicodedata.category(char)
    if category[0] == "L" or category == "Nd":
        return True
    return not first and (category[0] == "M" or char in "._-")


def check_username(value: str) -> str:
    """The NFC form of a valid user name, else :class:`UsernameInvalid`."""
    name = unicodedata.normalize("NFC", value)
    if not 1 <= len(name) <= USERNAME_CHARS or not all(
        _allowed(c, i == 0) for i, c in enumerate(name)
    ):
        raise UsernameInvalid(
            f"A user name has 1 to {USERNAME_CHARS} letters, digits, '.', '_' or '-', "
            "starting with a letter or a digit."
        )
    if username_key(name) in RESERVED_NAMES:
        raise UsernameInvalid(f"The user name {name!r} is reserved.")
    return name


def user_info(row: UserRow) -> UserInfo:
    return UserInfo(
        id=row.id,
        username=row.username,
        role=Role(row.role),
        disabled=row.disabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
        password_changed_at=row.password_changed_at,
        last_login_at=row.last_login_at,
    )


def _not_found(username: str) -> UserNotFound:
    return UserNotFound(f"No user {username!r}.", detail={"username": username[:USERNAME_CHARS]})


def _find(tx: Session, username: str) -> UserRow:
    row = tx.scalar(select(UserRow).where(UserRow.username_key == username_key(username)))
    if row is None:
        raise _not_found(username)
    return row


def _other_enabled_admins(tx: Session, row: UserRow) -> int:
    return (
        tx.scalar(
            select(func.count())
            .select_from(UserRow)
            .where(UserRow.role == Role.admin.value, ~UserRow.disabled, UserRow.id != row.id)
        )
        or 0
    )


class Accounts:
    """Users over the app database."""

    def __init__(self, db: AppDatabase, hasher: PasswordHasher, policy: PasswordPolicy) -> None:
        self._db = db
        self.hasher = hasher
        self.policy = policy

    # --- reading --------------------------------------------------------------------------

    def get(self, username: str) -> UserInfo:
        with self._db.read() as tx:
            return user_info(_find(tx, username))

    def by_id(self, user_id: str) -> UserInfo:
        with self._db.read() as tx:
            row = tx.get(UserRow, user_id)
            if row is None:
                raise UserNotFound("No such user.")
            return user_info(row)

    def listing(self, *, limit: int, offset: int) -> Page[UserInfo]:
        """Every user (disabled ones too), by name ignoring case."""
        with self._db.read() as tx:
            total = tx.scalar(select(func.count()).select_from(UserRow)) or 0
            rows = tx.scalars(
                select(UserRow).order_by(UserRow.username_key).limit(limit).offset(offset)
            ).all()
        return Page(items=[user_info(r) for r in rows], total=total, limit=limit, offset=offset)

    def any_user(self) -> bool:
        with self._db.read() as tx:
            return tx.scalar(select(UserRow.id).limit(1)) is not None

    # --- changing -------------------------------------------------------------------------

    def create(self, username: str, *, role: Role, password: str) -> UserInfo:
        name = check_username(username)
        hashed = self.hasher.hash(self.policy.check(password, username=name))
        now = utcnow()
        row = UserRow(
            id=str(uuid.uuid4()),
            username=name,
            username_key=username_key(name),
            role=Role(role).value,
            password_hash=hashed,
            disabled=False,
            created_at=now,
            updated_at=now,
            password_changed_at=now,
        )

        def insert(tx: Session) -> None:
            if tx.scalar(select(UserRow.id).where(UserRow.username_key == row.username_key)):
                raise UserExists(f"A user named {name!r} already exists.")
            tx.add(row)
            try:
                tx.flush()
            except IntegrityError:  # created at the same moment by another request
                raise UserExists(f"A user named {name!r} already exists.") from None

        self._db.write(insert)
        return user_info(row)

    def update(
        self, username: str, *, role: Role | None = None, disabled: bool | None = None
    ) -> UserInfo:
        """Change a user's role and/or disable or enable them. Disabling ends their
        sessions and revokes their tokens; the last enabled administrator can be neither
        demoted nor disabled."""

        def change(tx: Session) -> UserInfo:
            row = _find(tx, username)
            new_role = row.role if role is None else Role(role).value
            new_disabled = row.disabled if disabled is None else disabled
            leaves_admins = row.role == Role.admin.value and not row.disabled
            if (
                leaves_admins
                and (new_role != Role.admin.value or new_disabled)
                and _other_enabled_admins(tx, row) == 0
            ):
                raise LastAdmin(
                    "This is the last enabled administrator; make another user an "
                    "administrator first."
                )
            if new_disabled and not row.disabled:
                end_sessions(tx, row.id)
                revoke_tokens(tx, row.id)
            if (new_role, new_disabled) != (row.role, row.disabled):
                row.role, row.disabled, row.updated_at = new_role, new_disabled, utcnow()
            return user_info(row)

        return self._db.write(change)

    def reset_password(self, username: str, password: str) -> None:
        """An administrator sets a user's password: every session and token of the user
        ends."""
        with self._db.read() as tx:
            name = _find(tx, username).username
        hashed = self.hasher.hash(self.policy.check(password, username=name))

        def store(tx: Session) -> None:
            row = _find(tx, username)
            now = utcnow()
            row.password_hash, row.password_changed_at, row.updated_at = hashed, now, now
            end_sessions(tx, row.id)
            revoke_tokens(tx, row.id)

        self._db.write(store)

    def change_password(
        self, user_id: str, current: str, new: str, *, keep_session: str | None
    ) -> UserInfo:
        """A user changes their own password, proving the current one; their other
        sessions end (``keep_session``, the one asking, stays; tokens stay)."""
        with self._db.read() as tx:
            row = tx.get(UserRow, user_id)
        if row is None or row.disabled:
            raise LoginFailed("This account cannot be used.")
        if not self.hasher.verify(row.password_hash, current):
            raise PasswordIncorrect("The current password is not correct.")
        hashed = self.hasher.hash(self.policy.check(new, username=row.username))

        def store(tx: Session) -> UserInfo:
            found = tx.get(UserRow, user_id)
            if found is None:
                raise _not_found(row.username)
            now = utcnow()
            found.password_hash, found.password_changed_at, found.updated_at = hashed, now, now
            end_sessions(tx, user_id, keep=keep_session)
            return user_info(found)

        return self._db.write(store)

    # --- logging in -----------------------------------------------------------------------

    def verify_login(self, username: str, password: str) -> UserInfo:
        """The user whose name and password these are, else :class:`LoginFailed`. Unknown
        users cost the same argon2 verification as known ones; a hash made with other costs
        is replaced; ``last_login_at`` is recorded."""
        self.hasher.prepare()
        row = None
        if 0 < len(username) <= 4 * USERNAME_CHARS:
            with self._db.read() as tx:
                row = tx.scalar(
                    select(UserRow).where(UserRow.username_key == username_key(username))
                )
        if row is None:
            self.hasher.verify_dummy(password)
            raise _login_failed()
        if not self.hasher.verify(row.password_hash, password) or row.disabled:
            raise _login_failed()
        old_hash = row.password_hash
        new_hash = self.hasher.hash(password) if self.hasher.needs_rehash(old_hash) else None

        def record(tx: Session) -> UserInfo:
            found = tx.get(UserRow, row.id)
            if found is None or found.disabled:
                raise _login_failed()
            found.last_login_at = utcnow()
            if new_hash is not None and found.password_hash == old_hash:
                found.password_hash = new_hash
            return user_info(found)

        return self._db.write(record)

    # --- first start ----------------------------------------------------------------------

    def ensure_initial_admin(self, data_dir: Path) -> str | None:
        """When no user exists, create ``admin`` with a random password, write the password
        to ``initial-admin-password`` (mode 0600) in ``data_dir`` and return it; else
        None."""
        if self.any_user():
            return None
        password = generate_password()
        now = utcnow()
        row = UserRow(
            id=str(uuid.uuid4()),
            username=INITIAL_ADMIN,
            username_key=username_key(INITIAL_ADMIN),
            role=Role.admin.value,
            password_hash=self.hasher.hash(password),
            disabled=False,
            created_at=now,
            updated_at=now,
            password_changed_at=now,
        )

        def insert(tx: Session) -> bool:
            if tx.scalar(select(UserRow.id).limit(1)) is not None:
                return False
            tx.add(row)
            try:
                tx.flush()
            except IntegrityError:  # another process made the first user at this moment
                return False
            return True

        if not self._db.write(insert):
            return None
        write_secret_file(data_dir / INITIAL_PASSWORD_FILE, password + "\n")
        return password


def write_secret_file(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read (mode 0600, replaced if present)."""
    try:
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise ConfigError(
            f"Cannot write {path.name} in the data directory ({exc.strerror or 'error'}); "
            "set the admin's password with `querydeck users passwd admin`."
        ) from None


def _login_failed() -> LoginFailed:
    return LoginFailed("The user name or the password is not correct.")
