"""Server addresses and the CLI's API tokens for querydeck servers.

``querydeck login URL`` keeps one personal API token per server in a JSON file:
``$QUERYDECK_CREDENTIALS``, else ``$XDG_CONFIG_HOME/querydeck/credentials.json``, else
``~/.config/querydeck/credentials.json``. The file is written 0600 through a temporary file
created 0600 and renamed over it (never readable by others, not even for an instant); a
folder it creates is 0700. A file that others can read is refused, as ssh does. A change
(read, change, write) holds an exclusive lock on ``.credentials.json.lock`` beside the file,
so two logins at once both keep their entry.

Only http(s) addresses of a host are accepted; plain http is refused unless the host is
this machine (loopback) or ``--insecure`` is given, since the token would cross the
network in clear.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import ipaddress
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from querydeck.errors import CredentialsInvalid, ServerUrlInvalid

SERVER_ENV = "QUERYDECK_SERVER"
TOKEN_ENV = "QUERYDECK_TOKEN"  # noqa: S105 (the variable's name, not a token)
CREDENTIALS_ENV = "QUERYDECK_CREDENTIALS"
FILE_VERSION = 1
_DEFAULT_PORTS = {"http": 80, "https": 443}


def server_url(raw: str) -> str:
    """The normalised base address of a server: scheme and host in lower case, no default
    port, no trailing slash (a path prefix is kept for servers behind a proxy)."""
    text = raw.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ServerUrlInvalid(f"{raw!r} is not a valid server address.") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        raise ServerUrlInvalid(
            f"{raw!r} is not a server address: give http(s)://HOST[:PORT], e.g. "
            "https://querydeck.example.com."
        )
    if parts.username is not None or parts.password is not None:
        raise ServerUrlInvalid("A server address cannot hold a user name or password.")
    if parts.query or parts.fragment:
        raise ServerUrlInvalid("A server address has no query (?…) or fragment (#…).")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def is_loopback(server: str) -> bool:
    host = (urlsplit(server).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(server: str, *, insecure: bool) -> None:
    """Refuse plain http to another machine unless ``insecure``."""
    if server.startswith("http://") and not insecure and not is_loopback(server):
        raise ServerUrlInvalid(
            f"{server} is plain http to another machine: the API token would cross the "
            "network in clear. Use https, or pass --insecure if you accept that.",
            detail={"server": server},
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Credential:
    """One server's token as kept in the file (the token never appears in a repr)."""

    token: str = dataclasses.field(repr=False)
    token_id: str | None = None
    username: str | None = None
    insecure: bool = False
    expires_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def credentials_path() -> Path:
    explicit = os.environ.get(CREDENTIALS_ENV)
    if explicit:
        return Path(explicit).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(config) if config and Path(config).is_absolute() else Path.home() / ".config"
    return base / "querydeck" / "credentials.json"


class CredentialStore:
    """The credentials file: read whole, changed, written whole (it holds a few entries)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or credentials_path()

    def servers(self) -> dict[str, Credential]:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise CredentialsInvalid(f"{self.path} cannot be read: {exc.strerror}.") from None
        if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise CredentialsInvalid(
                f"{self.path} can be read by other users; it holds API tokens. "
                f"Run: chmod 600 {self.path}",
            )
        try:
            data = orjson.loads(self.path.read_bytes())
            entries = data["servers"]
            return {
                str(server): Credential(
                    token=str(entry["token"]),
                    token_id=entry.get("token_id"),
                    username=entry.get("username"),
                    insecure=bool(entry.get("insecure", False)),
                    expires_at=entry.get("expires_at"),
                )
                for server, entry in entries.items()
            }
        except OSError as exc:
            raise CredentialsInvalid(f"{self.path} cannot be read: {exc.strerror}.") from None
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise CredentialsInvalid(
                f"{self.path} is not a querydeck credentials file; remove it and log in again."
            ) from None

    def get(self, server: str) -> Credential | None:
        return self.servers().get(server)

    def put(self, server: str, credential: Credential) -> None:
        with self._changing():
            servers = self.servers()
            servers[server] = credential
            self._write(servers)

    def remove(self, server: str) -> bool:
        with self._changing():
            servers = self.servers()
            if servers.pop(server, None) is None:
                return False
            self._write(servers)
            return True

    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """Hold the file's change lock (other processes' changes wait for it)."""
        folder = self.path.parent
        try:
            if not folder.is_dir():
                folder.parent.mkdir(parents=True, exist_ok=True)
                folder.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(folder / f".{self.path.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise CredentialsInvalid(
                f"{self.path} cannot be changed: {exc.strerror or exc}."
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _write(self, servers: dict[str, Credential]) -> None:
        folder = self.path.parent
        try:
            data = orjson.dumps(
                {
                    "version": FILE_VERSION,
                    "servers": {name: c.as_json() for name, c in sorted(servers.items())},
                },
                option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE,
            )
            temporary = folder / f".{self.path.name}.{secrets.token_hex(6)}.tmp"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as handle:
                    if hasattr(os, "fchmod"):
                        os.fchmod(handle.fileno(), 0o600)  # whatever the umask
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self.path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    temporary.unlink()
        except OSError as exc:
            raise CredentialsInvalid(
                f"{self.path} cannot be written: {exc.strerror or exc}."
            ) from None
