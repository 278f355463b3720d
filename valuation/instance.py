"""Instance-local state that must survive restarts: the server secrets that key API-key digests
and sign console session cookies when the API_KEY_SECRET and SECRET_KEY settings are not given
(each generated once, mode 0600, in the instance folder; every worker and command of this
instance reads the same file)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_FILE = "api_key_secret"
SESSION_SECRET_FILE = "session_secret"


def api_key_secret(setting: str, instance_path: Path) -> bytes:
    """The secret for API-key digests: the setting, else this instance's generated one."""
    return instance_secret(setting, instance_path, SECRET_FILE)


def session_secret(setting: str, instance_path: Path) -> bytes:
    """The secret that signs console session cookies (Flask's SECRET_KEY)."""
    return instance_secret(setting, instance_path, SESSION_SECRET_FILE)


def instance_secret(setting: str, instance_path: Path, filename: str) -> bytes:
    """A secret: the setting, else this instance's generated one in `filename`."""
    if setting:
        return setting.encode()
    path = Path(instance_path) / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip().encode()
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secrets.token_hex(32))
    return path.read_text(encoding="ascii").strip().encode()
