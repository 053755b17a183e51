"""The heartbeat (chat/live/heartbeat.py): a page turns stale after two missed heartbeats."""

import pytest

from .conftest import logged_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_page_turns_stale_after_two_heartbeats_whatever_the_interval(people, settings):
    settings.CHAT_HEARTBEAT_SECONDS = 45
    css = logged_in(people[1]).get("/me.css").content.decode()
    assert "animation-delay: 90s" in css
