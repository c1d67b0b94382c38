"""Secrets by reference: YAML names a credential, its value comes from systemd or the environment.

A credential `NAME` is read, first found wins, from
  1. `$CREDENTIALS_DIRECTORY/NAME` (systemd `LoadCredential=NAME:/path` or `SetCredentialEncrypted=`)
  2. `$CREDENTIALS_DIRECTORY/warnd_NAME`: the shipped unit loads the folder
     /etc/warnd/credentials with `LoadCredential=warnd:/etc/warnd/credentials`, which systemd
     names `warnd_<file name>`; an operator adds an account by adding a file, not a unit line
  3. the environment variable `WARND_SECRET_<NAME>`, upper case, every character that is not a
     letter or digit turned into `_` (`gempa-aceh.access_token` -> `WARND_SECRET_GEMPA_ACEH_ACCESS_TOKEN`).

`warnd check --secrets`, run by root outside the service, reads the installed folder in place of
`$CREDENTIALS_DIRECTORY` (see `Credentials`); the daemon never reads that folder itself.

A credential may hold a URL (`url_credential:` of a partner, an ops webhook or a feed), for
URLs that carry their own secret; `Credentials.url` checks it is one.

A value is held in `Secret`, whose repr and str never show it, so it cannot leak into a log line,
an error, `warnd status` or a metric by accident.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

ENV_PREFIX = "WARND_SECRET_"
# The credential id of the folder the shipped unit loads (systemd appends "_<file name>").
FOLDER_ID = "warnd"
FOLDER = "/etc/warnd/credentials"


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def fingerprint(self) -> str:
        """Tells two secrets apart (in status, on reload) without showing either."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:8]

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__


def env_name(name: str) -> str:
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def where(name: str) -> str:
    """Where an operator should put credential `name`, for error messages."""
    return f"put it in the file {FOLDER}/{name} (the systemd unit loads that folder) or set {env_name(name)}"


def missing(name: str) -> str:
    return f"credential {name!r} is missing: {where(name)}"


class Credentials:
    """Where credentials are read from: a folder of files (systemd's `$CREDENTIALS_DIRECTORY`,
    or, for `warnd check --secrets` run by root, the installed folder) and the environment."""

    def __init__(self, folder: Path | None, environ: Mapping[str, str] | None = None) -> None:
        self.folder = folder
        self.environ = os.environ if environ is None else environ

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """What the daemon reads: systemd's folder, if it gave one, and the environment. Never
        the installed folder itself, which the daemon's user cannot (and need not) read."""
        env = os.environ if environ is None else environ
        folder = env.get("CREDENTIALS_DIRECTORY")
        return cls(Path(folder) if folder else None, env)

    def read(self, name: str) -> Secret | None:
        if self.folder is not None:
            for file in (name, f"{FOLDER_ID}_{name}"):
                try:
                    value = (self.folder / file).read_text(encoding="utf-8").strip()
                except OSError:
                    value = ""
                if value:
                    return Secret(value)
        value = self.environ.get(env_name(name), "").strip()
        return Secret(value) if value else None

    def url(self, name: str) -> Secret:
        """A credential holding a URL (a webhook whose URL is its secret, a feed behind a
        password), checked to be one; CredentialError names the credential, never its value."""
        value = self.read(name)
        if value is None:
            raise CredentialError(missing(name))
        if not _is_http_url(value.reveal()):
            raise CredentialError(
                f"credential {name!r} does not hold an http(s) URL with a host (its value is not shown): {where(name)}"
            )
        return value


def _is_http_url(url: str) -> bool:
    if any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0  # .port raises ValueError when not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port_ok


class CredentialError(ValueError):
    """A credential is missing or its value is unfit; the message names it, never its value."""


def read(name: str, environ: Mapping[str, str] | None = None) -> Secret | None:
    return Credentials.from_environment(environ).read(name)
