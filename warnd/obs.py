"""Logging: structlog everywhere, JSON lines when stderr is not a terminal (journald, files,
tests), readable columns when a person is watching.

One JSON object per line, whoever wrote it: warnd's own lines, the libraries' (aiohttp, httpx,
tweepy, APScheduler, asyncio log through the standard library), Python warnings and exceptions
nothing caught in a thread. Each has `event`, `level`, `logger` and `timestamp`.

When stderr is journald's stream (systemd sets JOURNAL_STREAM to its device and inode), each
line starts with the syslog priority of its level, `<4>` for a warning: journald takes the
priority from it and strips it (SyslogLevelPrefix=, on by default), so `journalctl -p warning`
shows warnings and worse and `journalctl -o cat` shows the JSON alone.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
import threading
from types import TracebackType
from typing import Any, TextIO

import structlog

# syslog(3) priorities, as sd-daemon(3) prefixes them.
PRIORITY = {"debug": 7, "info": 6, "notice": 5, "warning": 4, "error": 3, "exception": 3, "critical": 2}


def on_journal(stream: TextIO) -> bool:
    """Whether `stream` is the journal's: JOURNAL_STREAM names the stream systemd connected,
    and a redirect (`warnd run 2>file` under the unit) keeps the variable but not the stream."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    dev, _, ino = expected.partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError):
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


class Prefixed:
    """The JSON renderer, with the level's syslog priority in front for journald."""

    def __init__(self, render: Any, prefix: bool) -> None:
        self.render = render
        self.prefix = prefix

    def __call__(self, logger: Any, method: str, event: Any) -> str:
        level = str(event.get("level", method)).lower()
        line = str(self.render(logger, method, event))
        return f"<{PRIORITY.get(level, 6)}>{line}" if self.prefix else line


class _Named(structlog.WriteLogger):
    """A line writer that knows the name it was made for (`get_logger(name)`)."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


class _Factory:
    """Writes to the standard error of the moment a line is written, not of the moment logging
    was set up: a command run in-process (a test, a tool) may have set it up while standard error
    was a stream that is closed since."""

    def __call__(self, *args: Any) -> _Named:
        return _Named(sys.stderr, str(args[0]) if args else "warnd")


def _logger_name(logger: Any, method: str, event: Any) -> Any:
    """`logger` on every line: a library's comes from its record, warnd's from get_logger."""
    if "logger" not in event:
        record = event.get("_record")
        name = record.name if record is not None else getattr(logger, "name", None)
        if name is not None:
            event["logger"] = name
    return event


def setup_logging(level: str = "info", *, json: bool | None = None) -> bool:
    """Returns whether lines are JSON."""
    if json is None:
        json = not sys.stderr.isatty()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        Prefixed(structlog.processors.JSONRenderer(), on_journal(sys.stderr))
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(), exception_formatter=_traceback_formatter())
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer] if json else [*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # One write per line: a line never interleaves with a library's written from a thread.
        logger_factory=_Factory(),
        cache_logger_on_first_use=False,
    )
    # Libraries (APScheduler, httpx) log through the standard library: route them through the
    # same renderer so that every line has one shape. Their info lines stay out: httpx's name
    # every URL it requests, and a partner's URL may carry its token.
    handler = logging.StreamHandler(sys.stderr)
    post: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if json:
        post.append(structlog.processors.format_exc_info)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(processors=[*post, renderer], foreign_pre_chain=shared))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    # warnings.warn() from any library: a line at warning level, not free text.
    logging.captureWarnings(True)
    threading.excepthook = _thread_crashed
    sys.excepthook = _crashed
    return json


def _traceback_formatter() -> Any:
    """Tracebacks without the frames' local variables: a local may hold a secret (a partner's
    signing secret as it is made, a token as it is sent), and a log is read by many."""
    if importlib.util.find_spec("rich") is not None:
        return structlog.dev.RichTracebackFormatter(show_locals=False)
    return structlog.dev.plain_traceback


def _thread_crashed(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else None
    get_logger("warnd.thread").error(
        "thread.crashed", thread=name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback)
    )


def _crashed(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    get_logger("warnd").critical("process.crashed", exc_info=(kind, value, tb))


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


def bound(**fields: Any) -> contextlib.AbstractContextManager[object]:
    """Every line logged in this context (this thread, or this task) carries `fields`; a thread
    started by asyncio.to_thread takes a copy, so what is bound there never leaks back."""
    return structlog.contextvars.bound_contextvars(**fields)
