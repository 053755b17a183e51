"""Edits, deletes, reactions, mentions and admin rights: the rules, over HTTP and over the socket.

Typing, presence, the sidebar and the heartbeat are tested in test_typing.py, test_presence.py, test_sidebar.py
and test_heartbeat.py."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from chat import services
from chat.models import Message, Reaction

from .conftest import logged_in
from .sockets import drain, htmx_frame, open_socket, receive_all, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_mentions_are_parsed_against_real_users(people, room):
    _, alice, bob = people
    message = services.post_message(room, alice, "hi @bob and @nobody, @alice.").message
    assert set(message.mentions.values_list("username", flat=True)) == {"bob", "alice"}
    parts = [(part.text, part.user_id) for part in message.parts]
    assert parts == [("hi ", None), ("bob", bob.pk), (" and @nobody, ", None), ("alice", alice.pk), (".", None)]
    assert set(message.mention_ids.split()) == {str(bob.pk), str(alice.pk)}


def test_user_stylesheet_styles_own_mentions_reactions_and_admin_rooms(people, room):
    admin, alice, _ = people
    css = logged_in(admin).get("/me.css")
    assert css["Content-Type"].startswith("text/css")
    text = css.content.decode()
    assert f'.message[data-author="{admin.pk}"]' in text
    assert f'.message[data-mentions~="{admin.pk}"]' in text
    assert f'.reaction[data-reactors~="{admin.pk}"]' in text
    assert f'.chat-room[data-room="{room.pk}"] .delete-action' in text
    assert f'data-room="{room.pk}"' not in logged_in(alice).get("/me.css").content.decode()


def test_only_the_author_edits_and_only_within_a_day(people, room):
    _, alice, bob = people
    message = services.post_message(room, alice, "draft").message
    url = f"/chat/{room.slug}/messages/{message.pk}/edit/"
    refused = logged_in(bob).post(url, {"message": "hijacked"})
    assert refused.status_code == 403 and "only edit your own" in refused.content.decode()
    edited = logged_in(alice).post(url, {"message": "final"})
    assert edited.status_code == 200 and "final" in edited.content.decode() and "edited" in edited.content.decode()
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(hours=25))
    late = logged_in(alice).post(url, {"message": "too late"})
    assert "24 hours" in late.content.decode()
    assert Message.objects.get(pk=message.pk).body == "final"


def test_deleting_others_messages_needs_the_room_admin_over_http(people, room):
    admin, alice, bob = people
    message = services.post_message(room, alice, "mine").message
    url = f"/chat/{room.slug}/messages/{message.pk}/delete/"
    refused = logged_in(bob).post(url)
    assert refused.status_code == 403 and "author or the room's admin" in refused.content.decode()
    assert Message.objects.get(pk=message.pk).deleted_at is None
    assert logged_in(admin).post(url).status_code == 200
    deleted = Message.objects.get(pk=message.pk)
    assert deleted.deleted_at is not None and deleted.body == ""


def test_only_the_admin_renames_the_room(people, room):
    admin, alice, _ = people
    assert logged_in(alice).post(room.get_absolute_url(), {"rename-name": "Mine now"}).status_code == 403
    assert logged_in(admin).post(room.get_absolute_url(), {"rename-name": "Renamed"}).status_code == 302
    room.refresh_from_db()
    assert room.name == "Renamed"


async def test_a_delete_by_the_room_admin_reaches_open_pages_live(people, room):
    admin, alice, bob = people
    message = await sync_to_async(lambda: services.post_message(room, alice, "keep me").message)()
    b, _, _ = await open_socket(room.slug, bob)
    await drain(b)
    url = f"/chat/{room.slug}/messages/{message.pk}/delete/"
    bobs, admins = await sync_to_async(logged_in)(bob), await sync_to_async(logged_in)(admin)
    assert (await sync_to_async(bobs.post)(url)).status_code == 403
    assert (await Message.objects.aget(pk=message.pk)).deleted_at is None
    assert (await sync_to_async(admins.post)(url)).status_code == 200
    frame = await receive_until(b, "message deleted")
    assert f'id="message-{message.pk}"' in frame and 'hx-swap-oob="true"' in frame
    await b.disconnect()


async def test_reactions_toggle_over_the_socket_and_refuse_unknown_emoji(people, room):
    _, alice, bob = people
    message = await sync_to_async(lambda: services.post_message(room, alice, "react").message)()
    b, _, _ = await open_socket(room.slug, bob)
    await drain(b)  # the catch-up and presence
    react = htmx_frame({"action": "react", "message_id": str(message.pk), "emoji": "👍"}, "x")
    await b.send_to(text_data=react)
    frame = await receive_until(b, f'id="message-{message.pk}"')
    assert '<span class="count">1</span>' in frame and 'title="bob"' in frame
    await b.send_to(text_data=react)
    frame = await receive_until(b, f'id="message-{message.pk}"')
    assert '<span class="count">' not in frame
    await b.send_to(text_data=htmx_frame({"action": "react", "message_id": str(message.pk), "emoji": "💩"}, "x"))
    assert "not offered" in await receive_until(b, 'id="composer-error"')
    assert not await Reaction.objects.aexists()
    await b.disconnect()


async def test_a_page_that_missed_an_edit_catches_it_up(people, room):
    _, alice, _ = people
    message = await sync_to_async(lambda: services.post_message(room, alice, "before").message)()
    await sync_to_async(services.edit_message)(message, alice, "after")
    a, _, _ = await open_socket(room.slug, alice, catch_up=message.change)  # saw the message, not the edit
    frame = await receive_all(a, "after")
    assert f'<article id="message-{message.pk}"' in frame and 'hx-swap-oob="true"' in frame
    assert 'hx-swap-oob="beforeend"' not in frame  # replaced where it is, not appended again
    await a.disconnect()
