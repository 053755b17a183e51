"""Log lines: tracebacks for errors (bugs), one line for warnings (expected trouble, such as Redis away)."""

from __future__ import annotations

import logging


class Formatter(logging.Formatter):
    """A warning logged with its exception names the exception on the same line instead of printing a traceback:
    an outage of a few seconds is dozens of warnings, and a traceback in the log should mean a bug."""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and record.levelno < logging.ERROR:
            error = record.exc_info[1]
            record = logging.makeLogRecord(
                {
                    **record.__dict__,
                    "msg": f"{record.getMessage()} ({type(error).__name__}: {error})",
                    "args": (),
                    "exc_info": None,
                    "exc_text": None,
                }
            )
        return super().format(record)
