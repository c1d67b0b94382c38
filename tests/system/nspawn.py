"""A Debian 12 machine booted with systemd as PID 1 under systemd-nspawn, for the system tests.

- The root (debootstrap, minbase plus systemd, dbus, python3) is built once and cached in
  /var/cache/warnd-test/bookworm-<hash of the package list> (WARND_NSPAWN_CACHE moves it); each
  run boots a copy of it (`cp -a --reflink=auto`), deleted afterwards.
- The container shares the host's network (no --private-network): servers a test runs on the
  host's 127.0.0.1 are the container's 127.0.0.1 too, both ways.
- The checkout is seen at /src through an overlay whose upper layer nspawn makes and removes
  itself: pip builds in the source tree, and the host's checkout is never written.
- The Python packages warnd needs are downloaded on the host into a wheelhouse (cached per
  pyproject.toml), seen read-only at /wheels: pip inside installs from it with no index, so the
  container needs neither PyPI nor the host's certificate authorities.
- With --register=no (no machined on the host), `machinectl` and `systemd-run -M` cannot reach
  the machine; commands run in it through `nsenter` into the namespaces of its PID 1 (the
  nspawn process's child whose comm is `systemd`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SUITE = "bookworm"
MIRROR = os.environ.get("WARND_NSPAWN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = ("systemd", "systemd-sysv", "dbus", "procps", "python3", "python3-venv")
CACHE = Path(os.environ.get("WARND_NSPAWN_CACHE", "/var/cache/warnd-test"))
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def missing() -> str | None:
    """Why this machine cannot boot the container, or None."""
    if os.geteuid() != 0:
        return "systemd-nspawn needs root"
    for tool in ("systemd-nspawn", "debootstrap", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: apt-get install systemd-container debootstrap)"
    return None


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def root_image() -> Path:
    """The cached root for this package list, built on first use (a few minutes)."""
    key = hashlib.sha256(f"{SUITE} minbase {MIRROR} {' '.join(PACKAGES)}".encode()).hexdigest()[:12]
    image = CACHE / f"{SUITE}-{key}"
    with _locked(image.name):
        if (image / "usr" / "lib" / "systemd" / "systemd").exists():
            return image
        building = CACHE / f"{image.name}.building"
        shutil.rmtree(building, ignore_errors=True)
        run = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(building),
                MIRROR,
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if run.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            raise RuntimeError(f"debootstrap failed ({run.returncode}):\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
        building.rename(image)
        return image


def wheelhouse() -> Path:
    """warnd's dependencies (and its build backend) as files pip can install from offline,
    downloaded with the host's pip settings; cached per pyproject.toml."""
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    folder = CACHE / f"wheels-{key}"
    with _locked(folder.name):
        if (folder / ".complete").exists():
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        run = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "-d", str(folder), str(ROOT), "setuptools>=68", "wheel"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if run.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            raise RuntimeError(f"pip download failed ({run.returncode}):\n{run.stderr[-3000:]}")
        (folder / ".complete").write_text("")
        return folder


class Machine:
    """One booted container. `run` executes a command inside it, as root, with a clean
    environment; `path` is where a file of the container lies on the host."""

    def __init__(self, name: str, workdir: Path, binds: dict[Path, str] | None = None) -> None:
        self.name = name
        self.workdir = workdir
        self.root = workdir / "root"
        self.console = workdir / "console.log"
        self.binds = binds or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.leader = 0

    def boot(self, image: Path, timeout: float = 120.0) -> None:
        subprocess.run(["cp", "-a", "--reflink=auto", str(image), str(self.root)], check=True, timeout=300)
        cmd = [
            "systemd-nspawn",
            "--quiet",
            "--boot",
            "--register=no",
            "--keep-unit",
            "--link-journal=no",
            "--console=passive",
            f"--machine={self.name}",
            f"--directory={self.root}",
            f"--overlay={ROOT}::/src",
            *[f"--bind-ro={host}:{inside}" for host, inside in self.binds.items()],
        ]
        with self.console.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self.leader:
            if self.proc.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited {self.proc.returncode}:\n{self.console_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no systemd in the container after {timeout:.0f} s:\n{self.console_tail()}")
            self.leader = _init_of(self.proc.pid)
            time.sleep(0.1)
        # Until PID 1 has finished booting, systemctl may not answer yet.
        wait = max(1.0, deadline - time.monotonic())
        while True:
            state = self.run("systemctl", "is-system-running", "--wait", timeout=wait, check=False)
            if state.stdout.strip() in ("running", "degraded"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the container did not finish booting: {state.stdout}{state.stderr}")
            time.sleep(0.5)

    def run(
        self, *cmd: str, timeout: float = 60.0, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        environment = [f"{k}={v}" for k, v in {"PATH": PATH, "LANG": "C.UTF-8", "HOME": "/root", **(env or {})}.items()]
        done = subprocess.run(
            ["nsenter", f"--target={self.leader}", "--all", "--root", "--wd", "env", "-i", *environment, *cmd],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")

    def console_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.console.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def shutdown(self, timeout: float = 60.0) -> None:
        """An orderly halt (nspawn passes SIGTERM on to PID 1 as SIGRTMIN+3), then, if that
        hangs, SIGKILL; then the copy of the root is deleted."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                if self.leader:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.leader, signal.SIGKILL)
                self.proc.kill()
                self.proc.wait(timeout=30)
        left = [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(self.root) in line]
        if left:
            raise RuntimeError(f"mounts left under {self.root}, nothing deleted: {left}\n{self.console_tail()}")
        shutil.rmtree(self.root, ignore_errors=True)


def _init_of(nspawn: int) -> int:
    """The container's PID 1 as the host sees it: a child of the nspawn process running systemd."""
    try:
        children = Path(f"/proc/{nspawn}/task/{nspawn}/children").read_text().split()
    except OSError:
        return 0
    for child in children:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                return int(child)
    return 0


def new_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="warnd-nspawn-", dir="/var/tmp"))
