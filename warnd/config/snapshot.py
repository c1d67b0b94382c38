"""The last configuration set warnd ran, kept in its state directory.

An edit that breaks a rule file must not be able to keep warnings from going out after the
next crash or reboot: the daemon then starts from this copy (loudly: a notice, degraded health)
instead of refusing to start.

Layout under `<state_dir>/config-snapshot/`:

    blobs/<sha256>                  each file content once, read-only
    <digest>/manifest.json          {"origin", "taken_at", "files": {absolute path: sha256}}
    <digest>/tree/<absolute path>   every file of the set, hard links to the blobs
    current -> <digest>             the set last run successfully

The tree mirrors the files at their absolute paths, so the main file is read unchanged: paths
in it, relative or absolute, lead to the copies (`load(..., mirror=tree)`), while what warnd
writes (state_dir, file channels) still goes where the configuration says. The set is every
file `warnd check` reads: the main file, the feed catalogue, the rule files, the templates
folder, the region layers, the district points and the place aliases. Regions are large (13 MB
shipped) but change rarely; the blobs keep one copy of each content whatever the number of
snapshots, and an unchanged set costs a hash of its files and nothing else. A new snapshot is
written to a temporary folder, checked by loading it (`verify`), renamed into place, then made
current by replacing the `current` link: a crash at any point leaves the previous snapshot.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from warnd.config.load import Config, mirrored

FOLDER = "config-snapshot"
CURRENT = "current"


@dataclass(frozen=True)
class Snapshot:
    digest: str
    folder: Path
    # The main config file this is a copy of.
    origin: Path
    taken_at: str
    files: int

    @property
    def mirror(self) -> Path:
        return self.folder / "tree"

    def to_json(self) -> dict[str, object]:
        return {"digest": self.digest, "taken_at": self.taken_at, "files": self.files, "origin": str(self.origin)}


def files_of(cfg: Config) -> list[Path]:
    """Every file the set consists of, at its absolute path."""
    found: list[Path] = [cfg.path]
    if cfg.file.feed_catalogue is not None:
        found += sorted(cfg.input(cfg.file.feed_catalogue).glob("*.yaml"))
    found += list(cfg.rule_files)
    templates = cfg.input(cfg.file.templates)
    if templates.is_dir():
        found += [p for p in templates.rglob("*") if p.is_file()]
    found += [cfg.input(layer.path) for layer in cfg.file.regions]
    for extra in (cfg.file.district_points, cfg.file.place_aliases):
        if extra:
            found.append(cfg.input(extra))
    out: list[Path] = []
    for p in found:
        p = Path(os.path.normpath(p.absolute()))
        if p not in out:
            out.append(p)
    return out


def fingerprint(files: Iterable[Path]) -> dict[str, str]:
    return {str(p): _sha256(p) for p in files}


def digest_of(hashes: dict[str, str]) -> str:
    h = hashlib.sha256()
    for path, sha in sorted(hashes.items()):
        h.update(f"{path}\0{sha}\n".encode())
    return h.hexdigest()[:16]


def current(state_dir: Path, origin: Path) -> Snapshot | None:
    """The snapshot of this config file, or None (none taken yet, or of another file)."""
    root = state_dir / FOLDER
    try:
        folder = root / (root / CURRENT).readlink()
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("origin") != _norm(origin):
        return None
    return Snapshot(
        digest=folder.name,
        folder=folder,
        origin=Path(manifest["origin"]),
        taken_at=str(manifest.get("taken_at")),
        files=len(manifest.get("files") or {}),
    )


def save(cfg: Config, verify: Callable[[Path, Path], object], now: datetime) -> tuple[Snapshot, bool]:
    """Make the set `cfg` was loaded from the current snapshot, taken at `now`; returns it and
    whether it was new. `verify(config path, mirror)` loads the copy and raises if it does not
    load: files edited between the load and this copy are caught there and the previous snapshot
    stays."""
    if cfg.mirror is not None:
        raise ValueError("a set read from a snapshot is saved already")
    origin = Path(_norm(cfg.path))
    state_dir = cfg.state_dir
    root = state_dir / FOLDER
    hashes = fingerprint(files_of(cfg))
    digest = digest_of(hashes)
    folder = root / digest
    taken_at = now.isoformat(timespec="seconds")
    if not (folder / "manifest.json").is_file():
        blobs = root / "blobs"
        blobs.mkdir(parents=True, exist_ok=True)
        tmp = root / f".{digest}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            for path, sha in hashes.items():
                blob = blobs / sha
                if not blob.exists():
                    part = blobs / f".{sha}.tmp-{os.getpid()}"
                    shutil.copyfile(path, part)
                    if _sha256(part) != sha:
                        part.unlink()
                        raise ChangedWhileCopied(path)
                    part.chmod(0o400)
                    part.replace(blob)
                target = mirrored(tmp / "tree", Path(path))
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(blob, target)
                except OSError:
                    shutil.copyfile(blob, target)
            verify(origin, tmp / "tree")
            manifest = {"origin": str(origin), "taken_at": taken_at, "files": hashes}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
            tmp.rename(folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        new = True
    else:
        new = False
    previous = current(state_dir, origin)
    if previous is None or previous.digest != digest:
        link = root / f".{CURRENT}.tmp-{os.getpid()}"
        link.unlink(missing_ok=True)
        link.symlink_to(digest)
        link.replace(root / CURRENT)
        new = True
    _prune(root, keep=digest)
    snap = current(state_dir, origin)
    assert snap is not None
    return snap, new


class ChangedWhileCopied(OSError):
    """A file of the set changed between its hash and its copy: the copy waits for the next load."""


def _prune(root: Path, keep: str) -> None:
    """Only the current set is kept; a blob no tree links to any more goes too."""
    for entry in root.iterdir():
        if entry.name in (keep, "blobs", CURRENT) or entry.is_symlink():
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
    for blob in (root / "blobs").iterdir():
        with contextlib.suppress(OSError):
            if blob.stat().st_nlink <= 1:
                blob.unlink()


def _sha256(path: Path | str) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _norm(path: Path) -> str:
    return os.path.normpath(path.absolute())
