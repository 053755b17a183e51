"""Log lines (chat/logs.py): as text, or as one JSON object per line for a log collector (CHAT_LOG_FORMAT=json)."""

import json
import subprocess
import sys

from .live import ROOT

LOG_SOME = """
import logging, django
django.setup()
log = logging.getLogger("chat.live.hub")
try:
    raise ConnectionError("Redis away")
except ConnectionError:
    log.warning("broadcast to %s failed", "chat.room.1", exc_info=True)
    log.error("a bug", exc_info=True)
log.warning("ルーム %s", "教室", extra={"room": 7})
"""


def log_lines(**env: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", LOG_SOME],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "project.settings", "PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stderr.splitlines()


def test_json_logs_are_one_object_per_line_with_the_time_level_logger_and_message():
    lines = log_lines(CHAT_LOG_FORMAT="json")
    records = [json.loads(line) for line in lines]
    warning, error, extra = records
    assert warning["level"] == "WARNING" and warning["logger"] == "chat.live.hub" and warning["time"]
    # Expected trouble: the exception on the same line, no traceback.
    assert warning["message"] == "broadcast to chat.room.1 failed (ConnectionError: Redis away)"
    assert "exc_info" not in warning
    assert error["level"] == "ERROR" and "Traceback" in error["exc_info"]  # a bug keeps its traceback
    assert extra["message"] == "ルーム 教室" and extra["room"] == 7


def test_text_logs_by_default_fold_an_expected_error_into_its_line():
    lines = log_lines()
    assert lines[0].endswith("broadcast to chat.room.1 failed (ConnectionError: Redis away)")
    assert any("Traceback" in line for line in lines[1:])
