"""Secrets by reference: YAML names a credential, its value comes from systemd or the environment.

A credential `NAME` is read, first found wins, from
  1. `$CREDENTIALS_DIRECTORY/NAME` (systemd `LoadCredential=NAME:/path` or `SetCredentialEncrypted=`)
  2. `$CREDENTIALS_DIRECTORY/warnd_NAME`: the shipped unit loads the folder
     /etc/warnd/credentials with `LoadCredential=warnd:/etc/warnd/credentials`, which systemd
     names `warnd_<file name>`; an operator adds an account by adding a file, not a unit line
  3. the environment variable `WARND_SECRET_<NAME>`, upper case, every character that is not a
     letter or digit turned into `_` (`gempa-aceh.access_token` -> `WARND_SECRET_GEMPA_ACEH_ACCESS_TOKEN`).

A value is held in `Secret`, whose repr and str never show it, so it cannot leak into a log line,
an error, `warnd status` or a metric by accident.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

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


def read(name: str, environ: dict[str, str] | None = None) -> Secret | None:
    env = os.environ if environ is None else environ
    folder = env.get("CREDENTIALS_DIRECTORY")
    if folder:
        for file in (name, f"{FOLDER_ID}_{name}"):
            try:
                value = (Path(folder) / file).read_text(encoding="utf-8").strip()
            except OSError:
                value = ""
            if value:
                return Secret(value)
    value = env.get(env_name(name), "").strip()
    return Secret(value) if value else None
