"""Mentions (chat/mentions.py): display names and usernames, longest first, only people who can see the room."""

import pytest

from chat import message_display, rooms, services
from chat.models import Profile, Room

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user):
    hanako, ada, ada_lovelace, alice = make_user("hanako"), make_user("ada"), make_user("adal"), make_user("alice")
    Profile.objects.filter(user=hanako).update(display_name="はなこ")
    Profile.objects.filter(user=ada_lovelace).update(display_name="Ada Lovelace")
    return hanako, ada, ada_lovelace, alice


def mentioned(room, author, body: str) -> list[str]:
    message = services.post_message(room, author, body).message
    return [part.text for part in message.parts if part.user_id]


def test_display_names_and_usernames_are_mentioned_longest_first(people):
    hanako, _, ada_lovelace, alice = people
    room = rooms.create_room("Class", alice)
    assert mentioned(room, alice, "@はなこさん、おはよう") == ["はなこ"]
    assert mentioned(room, alice, "thanks @Ada Lovelace and @ada!") == ["Ada Lovelace", "ada"]
    assert mentioned(room, alice, "@HANAKO look") == ["HANAKO"]
    assert mentioned(room, alice, "@alice2 is nobody, mail a@alice.test") == []
    message = services.post_message(room, alice, "@はなこさん @Ada Lovelace").message
    assert sorted(u.pk for u in message.mentions.all()) == sorted([hanako.pk, ada_lovelace.pk])
    shown = message_display.with_display(room.messages.filter(pk=message.pk))[0]  # as a page reads it back
    assert [(p.text, p.user_id) for p in shown.parts if p.user_id] == [
        ("はなこ", hanako.pk),
        ("Ada Lovelace", ada_lovelace.pk),
    ]


def test_only_people_who_can_see_the_room_are_mentioned(people):
    _, ada, _, alice = people
    closed = rooms.create_room("Closed", alice, Room.Kind.CLOSED)
    rooms.add_member(closed, alice, ada)
    assert mentioned(closed, alice, "@ada and @はなこ") == ["ada"]
