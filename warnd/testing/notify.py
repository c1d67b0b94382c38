"""What systemd would hear from a daemon: every datagram on $NOTIFY_SOCKET, with when it came
(time.monotonic()). Tests and the benchmark bind one and pass its path to the daemon."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path


class NotifySocket:
    """What systemd would hear: every datagram on $NOTIFY_SOCKET, with when it came."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        # A socket file left by an earlier daemon of the same folder (a restart) is taken over.
        path.unlink(missing_ok=True)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []
        self._run = True
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while self._run:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def lines(self, prefix: str) -> list[tuple[float, str]]:
        return [(t, ln) for t, m in list(self.messages) for ln in m.split("\n") if ln.startswith(prefix)]

    def close(self) -> None:
        self._run = False
        self._thread.join(timeout=2)
        self.sock.close()

    def wait(self, prefix: str, timeout: float) -> float | None:
        """When the first line starting with `prefix` came, waiting up to `timeout` for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.lines(prefix)
            if got:
                return got[0][0]
            time.sleep(0.005)
        return None
