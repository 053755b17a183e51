"""Log lines: tracebacks for errors (bugs), one line for warnings (expected trouble, such as Redis away).

As text by default, or one JSON object per line (CHAT_LOG_FORMAT=json, for a log collector: python-json-logger
with the time, level, logger and message, and any `extra` fields).
"""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter


def fold_expected_error(record: logging.LogRecord) -> logging.LogRecord:
    """A warning logged with its exception names the exception on the same line instead of carrying a traceback:
    an outage of a few seconds is dozens of warnings, and a traceback in the log should mean a bug."""
    if not (record.exc_info and record.levelno < logging.ERROR):
        return record
    error = record.exc_info[1]
    return logging.makeLogRecord(
        {
            **record.__dict__,
            "msg": f"{record.getMessage()} ({type(error).__name__}: {error})",
            "args": (),
            "exc_info": None,
            "exc_text": None,
        }
    )


class Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return super().format(fold_expected_error(record))


class JsonFormatter(_JsonFormatter):
    def __init__(self) -> None:
        super().__init__(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )

    def format(self, record: logging.LogRecord) -> str:
        return super().format(fold_expected_error(record))
