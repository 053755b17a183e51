"""Kept message HTML (chat/message_html.py): a page never shows a stale copy, and reading a page costs the same
number of queries however many messages it shows."""

import re
import zoneinfo
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import strip_spaces_between_tags

from chat import looks, message_display, message_html, profiles, rooms, services
from chat.looks import rendering
from chat.models import Message, Profile

from .conftest import logged_in, signed_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def author(make_user):
    return make_user("ann")


@pytest.fixture
def chat(author):
    return rooms.create_room("Kept", author)


def page(client, room) -> str:
    return client.get(room.get_absolute_url()).content.decode()


def history(client, room, before: int) -> str:
    return client.get(f"{room.get_absolute_url()}history/?before={before}").content.decode()


def article(html: str, message: Message) -> str:
    start = html.index(f'<article id="message-{message.pk}"')
    return html[start : html.index("</article>", start)]


def test_the_kept_copy_is_what_the_partial_renders(author, make_user, chat):
    bob = make_user("bob")
    services.post_message(chat, author, "**hello** @bob")
    services.post_message(chat, author, "the same author, a minute later")
    reacted = services.post_message(chat, bob, "`code` and https://example.com/").message
    services.toggle_reaction(reacted, author, "🎉")
    services.delete_message(services.post_message(chat, bob, "gone").message, bob)
    messages, _ = services.latest_messages(chat)
    for oob in (False, True):
        expected = [render_to_string("chat/_message.html", {"message": m, "oob": oob}) for m in messages]
        assert [message_html.render(m, oob) for m in messages] == expected  # rendered and kept
        assert [message_html.render(m, oob) for m in messages] == expected  # the kept copies
    assert message_html.kept.hits >= 2 * len(messages)


def test_a_reload_shows_an_edit(author, chat):
    message = services.post_message(chat, author, "teh first draft").message
    client = signed_in_client(author)
    assert "teh first draft" in page(client, chat)
    services.edit_message(message, author, "the first draft")
    html = page(client, chat)
    assert "teh first draft" not in html
    assert "the first draft" in article(html, message)
    assert 'class="edited"' in article(html, message)


def test_a_reload_shows_a_reaction_and_its_removal(author, make_user, chat):
    bob = make_user("bob")
    message = services.post_message(chat, author, "lunch?").message
    client = signed_in_client(bob)
    assert 'class="reactions"' not in article(page(client, chat), message)
    services.toggle_reaction(message, bob, "👍")
    shown = article(page(client, chat), message)
    assert 'class="reactions"' in shown
    assert f'data-reactors=" {bob.pk} "' in shown
    services.toggle_reaction(message, bob, "👍")
    assert 'class="reactions"' not in article(page(client, chat), message)


def test_a_reload_and_the_history_show_a_deletion(author, chat):
    message = services.post_message(chat, author, "oops, wrong room").message
    newer = services.post_message(chat, author, "next").message
    client = logged_in(author)
    assert "oops, wrong room" in history(client, chat, newer.pk)
    services.delete_message(message, author)
    shown = history(client, chat, newer.pk)
    assert "oops, wrong room" not in shown
    assert "is-deleted" in article(shown, message)


def test_a_new_name_shows_on_a_reload(author, make_user, chat):
    bob = make_user("bob")
    message = services.post_message(chat, author, "hi").message
    services.toggle_reaction(message, bob, "❤️")
    client = signed_in_client(bob)
    assert ">ann<" in article(page(client, chat), message)
    Profile.objects.filter(user=author).update(display_name="Ann Smith")
    Profile.objects.filter(user=bob).update(display_name="Bobby")
    shown = article(page(client, chat), message)
    assert ">Ann Smith<" in shown
    assert ">AS<" in shown  # the avatar's initials
    assert 'title="Bobby"' in shown  # who reacted


def test_a_renamed_room_links_to_its_new_address(author, chat):
    message = services.post_message(chat, author, "hi").message
    client = signed_in_client(author)
    assert f"/chat/{chat.slug}/m/{message.pk}/" in page(client, chat)
    chat = rooms.rename_room(chat, author, "Kept elsewhere")
    shown = article(page(client, chat), message)
    assert f"/chat/{chat.slug}/m/{message.pk}/" in shown
    assert f"/chat/{chat.slug}/messages/{message.pk}/edit/" in shown


def test_a_message_joining_its_authors_run_is_drawn_without_its_header(author, make_user, chat):
    first = services.post_message(chat, author, "one").message
    second = services.post_message(chat, author, "two").message
    client = signed_in_client(author)
    assert 'class="message continues"' in article(page(client, chat), second)
    # Its place depends on the message before: pushed apart in time, the second one starts a run of its own.
    Message.objects.filter(pk=first.pk).update(created_at=first.created_at - timedelta(minutes=30))
    assert 'class="message continues"' not in article(page(client, chat), second)


def test_times_show_their_date_once_their_day_is_over(author, chat):
    message = services.post_message(chat, author, "see you tomorrow").message
    client = signed_in_client(author)
    today = timezone.localtime(message.created_at)
    assert f">{today:%H:%M}</time>" in article(page(client, chat), message)
    tomorrow = timezone.now() + timedelta(days=1)
    with mock.patch("django.utils.timezone.now", return_value=tomorrow):
        html = page(client, chat)
    assert f">{today:%H:%M}</time>" not in article(html, message)
    assert re.search(rf">{today:%b} {today.day}, ([0-9]{{4}}, )?{today:%H:%M}</time>", article(html, message))
    assert "Yesterday" in html


def test_each_reader_sees_their_own_zone_and_language(author, make_user, chat):
    message = services.post_message(chat, author, "hello").message
    services.edit_message(message, author, "hello again")
    Profile.objects.filter(user=author).update(time_zone="UTC", language="en")
    tokyo = make_user("hanako")
    Profile.objects.filter(user=tokyo).update(time_zone="Asia/Tokyo", language="ja")
    in_utc = article(page(signed_in_client(author), chat), message)
    in_tokyo = article(page(signed_in_client(tokyo), chat), message)
    assert in_utc != in_tokyo
    assert ">edited<" in in_utc
    assert "編集済み" in in_tokyo
    at = message.created_at
    assert f"{at.astimezone(zoneinfo.ZoneInfo('Asia/Tokyo')):%H:%M}</time>" in in_tokyo
    assert f"{at.astimezone(zoneinfo.ZoneInfo('UTC')):%H:%M}</time>" in in_utc
    assert article(page(signed_in_client(author), chat), message) == in_utc  # each look has its own copy


def test_a_live_frame_and_a_page_share_the_copy(author, chat):
    from chat.live import frames

    message = services.post_message(chat, author, "live").message
    with rendering(looks.default()):
        frame = frames.render_new_message_frame(message)
    message_html.kept.hits = 0
    html = page(signed_in_client(author), chat)
    assert article(html, message) in frame
    assert message_html.kept.hits >= 1


def counted(request) -> int:
    """The queries a request makes (the request's start clears Django's own query log: counted as they run)."""
    count = 0

    def count_one(execute, sql, params, many, context):
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count_one):
        request()
    return count


def test_reading_a_page_costs_the_same_queries_for_few_messages_as_for_many(author, make_user, chat, settings):
    bob, cy = make_user("bob"), make_user("cy")
    client, htmx = signed_in_client(bob), logged_in(bob)

    def queries() -> tuple[int, int]:
        page(client, chat)  # opening the room once makes bob a member, read to the end
        newest = Message.objects.filter(room=chat).order_by("-pk").first()
        return counted(lambda: page(client, chat)), counted(lambda: history(htmx, chat, newest.pk + 1))

    def post(count: int) -> None:
        for i in range(count):
            message = services.post_message(chat, [author, bob, cy][i % 3], f"@bob and @cy, number {i}").message
            services.toggle_reaction(message, cy, "👍")
            services.toggle_reaction(message, author, "🎉")

    post(3)
    settings.CHAT_PAGE_SIZE = 2  # both pages have older messages: the one before the first is read for its place
    few = queries()
    post(60)
    settings.CHAT_PAGE_SIZE = 50
    assert queries() == few


def test_display_names_come_from_the_profile_read_with_the_message(author, chat):
    message = services.post_message(chat, author, "hi").message
    [shown] = message_display.with_display(Message.objects.filter(pk=message.pk))
    assert profiles.display_name(shown.author) == "ann"
    assert shown.files == []
    assert shown.reaction_counts[0].count == 0


def test_a_messages_tools_copied_from_their_shape_are_what_their_partials_render_for_it(author, make_user, chat):
    """{% message_tools %} renders the picker and the menu once per room, language and reactions given, then puts
    each message's id in: the copy must be what rendering them for the message gives."""
    bob = make_user("bob")
    plain = services.post_message(chat, author, "nothing given yet").message
    reacted = services.post_message(chat, bob, "given some").message
    services.toggle_reaction(reacted, author, "🎉")
    services.toggle_reaction(reacted, bob, "👍")
    messages, _ = services.latest_messages(chat)
    assert {m.pk for m in messages} >= {plain.pk, reacted.pk}
    for look in (looks.Look("en", "UTC"), looks.Look("ja", "Asia/Tokyo")):
        with rendering(look):
            for message in messages:
                copied = render_to_string("chat/_message.html", {"message": message})
                tools = render_to_string("chat/_message_tools.html", {"message": message})
                assert strip_spaces_between_tags(tools) in copied  # _message.html's {% spaceless %}
                assert f'value="{message.pk} ' in tools and f"/messages/{message.pk}/edit/" in tools
                assert ("でリアクション" in copied) == (look.language == "ja")  # each language its own shape
