"""The installation's sandbox, built from the settings: the outbound-address policy (with
querydeck's own listeners) and the file roots (with querydeck's own files protected)."""

from __future__ import annotations

from pathlib import Path

from querydeck.drivers.base import Sandbox
from querydeck.errors import ConfigError
from querydeck.sandbox.addresses import policy_for
from querydeck.sandbox.fileroots import FileRoots, real
from querydeck.settings import Settings
from querydeck.sources.certificates import certificates_dir
from querydeck.sources.secrets import KEY_FILE_NAME
from querydeck.store.urls import parse_url

_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}
#: The directory under the data directory where querydeck writes its own demo files.
DEMO_DIR = "demo"
#: The directory under the data directory holding each user's uploaded files.
UPLOADS_DIR = "uploads"


def own_listeners(settings: Settings) -> list[tuple[str, int]]:
    """The API's address and, for a server app database, its host and port."""
    listeners = [(settings.host, settings.port)]
    if settings.database_url:
        try:
            url = parse_url(settings.database_url)
        except ValueError:
            return listeners
        backend = url.backend
        if url.host and backend in _DEFAULT_PORTS:
            listeners.append((url.host, url.port or _DEFAULT_PORTS[backend]))
    return listeners


def app_database_file(settings: Settings) -> Path | None:
    url = parse_url(settings.app_database_url)
    if url.backend == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(str(url.database))
    return None


def build_sandbox(settings: Settings) -> Sandbox:
    data_dir = settings.data_dir
    roots = [*settings.allowed_file_roots, data_dir / DEMO_DIR, data_dir / UPLOADS_DIR]
    key = data_dir / KEY_FILE_NAME
    protected = [key, key.with_name(KEY_FILE_NAME + ".new"), key.with_name(KEY_FILE_NAME + ".old")]
    app_file = app_database_file(settings)
    if app_file is not None:
        protected.append(app_file)
    own_dirs = [settings.results_dir, certificates_dir(data_dir)]
    files = FileRoots.create(roots, protected_files=protected, protected_dirs=own_dirs)
    for root in files.roots:
        if real(data_dir) == root or real(data_dir).is_relative_to(root):
            raise ConfigError(
                f"The file root {root.name or root!s} contains querydeck's data directory (the "
                "key file and the app database); choose a directory inside or beside it."
            )
        if any(_overlap(root, own) for own in files.protected_dirs):
            raise ConfigError(
                f"The file root {root.name or root!s} overlaps a directory querydeck keeps "
                "its own files in (results, uploaded certificates); choose another one."
            )
    addresses = policy_for(settings.outbound_allow, settings.outbound_deny, own_listeners(settings))
    return Sandbox(addresses=addresses, files=files)


def _overlap(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def prepare_file_roots(settings: Settings) -> None:
    """Create the default file root (``files`` in the data directory) when no roots are
    configured."""
    if settings.file_roots is None:
        (settings.data_dir / "files").mkdir(parents=True, exist_ok=True, mode=0o700)
