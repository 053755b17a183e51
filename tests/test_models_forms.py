import uuid

import pytest
from channels.layers import get_channel_layer
from django.db import IntegrityError

from chat import rooms, services
from chat.forms import MessageForm, RoomForm
from chat.live.events import room_group
from chat.models import Message, Room

pytestmark = pytest.mark.django_db


def test_japanese_room_name_gets_unicode_slug(make_user):
    room = rooms.create_room("日本語の部屋", make_user())
    assert room.slug == "日本語の部屋"
    assert room.get_absolute_url() == "/chat/%E6%97%A5%E6%9C%AC%E8%AA%9E%E3%81%AE%E9%83%A8%E5%B1%8B/"


def test_slugs_are_deduplicated(make_user):
    user = make_user()
    first = rooms.create_room("Hello World", user)
    second = rooms.create_room("hello-world", user)
    third = rooms.create_room("Hello  World!", user)
    assert [first.slug, second.slug, third.slug] == ["hello-world", "hello-world-2", "hello-world-3"]


def test_the_thousandth_room_slugging_to_room_takes_one_slug_query(make_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    owner = make_user()
    taken = ["room", *(f"room-{n}" for n in range(2, 1000)), "roommates", "room-a", "room-12b"]
    Room.objects.bulk_create([Room(name=f"taken {slug}", slug=slug, created_by=owner) for slug in taken])
    with CaptureQueriesContext(connection) as queries:
        room = rooms.create_room("Room!", owner)
    assert room.slug == "room-1000"
    slug_queries = [q["sql"] for q in queries.captured_queries if '"slug"' in q["sql"] and "SELECT" in q["sql"]]
    assert len(slug_queries) == 1, slug_queries


def test_name_without_slug_characters_still_gets_a_slug(make_user):
    room = rooms.create_room("!!!", make_user())
    assert room.slug == "room"


def test_group_name_uses_primary_key_not_user_text(make_user):
    room = rooms.create_room("x, #chat-log 講義", make_user())
    assert room_group(room.pk) == f"chat.room.{room.pk}"
    assert get_channel_layer().require_valid_group_name(room_group(room.pk))


@pytest.mark.parametrize(
    ("name", "error"),
    [("", "This field is required."), ("   ", "This field is required."), ("x" * 81, "at most 80 characters")],
)
def test_room_form_rejects_bad_names(name, error):
    form = RoomForm({"name": name})
    assert not form.is_valid()
    assert error in form.errors["name"][0]


def test_room_form_rejects_duplicate_name_case_insensitively(make_user):
    rooms.create_room("Lobby", make_user())
    form = RoomForm({"name": "lobby"})
    assert not form.is_valid()
    assert "already exists" in form.errors["name"][0]


def test_room_form_accepts_eighty_japanese_characters():
    assert RoomForm({"name": "部" * 80}).is_valid()


@pytest.mark.parametrize(
    ("body", "valid"),
    [("hi", True), ("  hi  ", True), ("", False), ("   \n ", False), ("x" * 2000, True), ("x" * 2001, False)],
)
def test_message_form_length_rules(body, valid):
    assert MessageForm({"message": body}).is_valid() is valid


def test_message_form_strips_body():
    form = MessageForm({"message": "  hello\nworld  "})
    assert form.is_valid()
    assert form.cleaned_data["message"] == "hello\nworld"


def test_messages_get_consecutive_sequence_numbers_per_room(make_user):
    user = make_user()
    a = rooms.create_room("A", user)
    b = rooms.create_room("B", user)
    seqs = [services.post_message(room, user, "x").message.seq for room in (a, a, b, a, b)]
    assert seqs == [1, 2, 1, 3, 2]
    a.refresh_from_db()
    assert a.last_seq == 3


def test_same_client_id_stores_one_message(make_user):
    user = make_user()
    room = rooms.create_room("A", user)
    client_id = uuid.uuid4()
    first = services.post_message(room, user, "once", client_id)
    again = services.post_message(room, user, "once", client_id)
    assert first.created and not again.created
    assert again.message.pk == first.message.pk
    assert Message.objects.count() == 1
    room.refresh_from_db()
    assert room.last_seq == 1


def test_room_seq_must_be_unique(make_user):
    user = make_user()
    room = rooms.create_room("A", user)
    Message.objects.create(room=room, author=user, body="a", seq=1, created_change=1, change=1)
    with pytest.raises(IntegrityError):
        Message.objects.create(room=room, author=user, body="b", seq=1, created_change=2, change=2)


def test_rooms_are_listed_most_recently_active_first(make_user):
    user = make_user()
    old = rooms.create_room("Old", user)
    rooms.create_room("New", user)
    services.post_message(old, user, "bump")
    assert [r.name for r in Room.objects.all()] == ["Old", "New"]


def test_history_pages_are_oldest_first_with_cursor(make_user):
    user = make_user()
    room = rooms.create_room("A", user)
    for i in range(120):
        services.post_message(room, user, f"m{i}")
    newest, has_older = services.latest_messages(room)
    assert [m.body for m in newest] == [f"m{i}" for i in range(70, 120)]
    assert has_older
    older, has_older = services.messages_before(room, newest[0].pk)
    assert [m.body for m in older] == [f"m{i}" for i in range(20, 70)]
    assert has_older
    oldest, has_older = services.messages_before(room, older[0].pk)
    assert [m.body for m in oldest] == [f"m{i}" for i in range(20)]
    assert not has_older
