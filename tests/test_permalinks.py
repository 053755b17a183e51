"""Permalinks (chat/permalinks.py, chat/permalink_views.py): a message's address opens the room at it; an older
message opens in a window of the log around it, continued by "load newer" up to the newest, then live."""

import re

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from chat import rooms, services
from chat.models import Message

from .conftest import logged_in, signed_in_client
from .sockets import catch_up_frame, drain, open_socket, receive_all, send_frame

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = 50  # settings.CHAT_PAGE_SIZE


@pytest.fixture
def people(make_user):
    return make_user("hanako"), make_user("taro")


@pytest.fixture
def room(people):
    return rooms.create_room("Lobby", people[0])


def fill(room, author, count: int) -> list[Message]:
    return [services.post_message(room, author, f"line {i}").message for i in range(count)]


def shown(html: str) -> list[str]:
    """The bodies of the messages a page or fragment shows, in order."""
    return re.findall(r'<p class="message-body">([^<]*)</p>', html)


def newer_url(html: str) -> str | None:
    found = re.search(r'hx-get="(/chat/[^"]*/newer/[^"]*)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_the_time_of_each_message_links_to_its_permalink(people, room):
    hanako, taro = people
    [message] = fill(room, hanako, 1)
    html = signed_in_client(taro).get(room.get_absolute_url()).content.decode()
    assert f'<a class="permalink" href="/chat/{room.slug}/m/{message.pk}/"><time' in html
    assert reverse("chat:permalink", args=[room.slug, message.pk]) == f"/chat/{room.slug}/m/{message.pk}/"


def test_a_recent_message_opens_on_the_room_page_at_it(people, room):
    hanako, taro = people
    messages = fill(room, hanako, 30)
    client = signed_in_client(taro)
    response = client.get(f"/chat/{room.slug}/m/{messages[10].pk}/")
    assert response.status_code == 302
    assert response["Location"] == f"/chat/{room.slug}/#message-{messages[10].pk}"
    assert f'id="message-{messages[10].pk}"' in client.get(room.get_absolute_url()).content.decode()


def test_an_old_message_opens_in_a_window_around_it(people, room):
    hanako, taro = people
    messages = fill(room, hanako, 200)
    target = messages[100]
    client = signed_in_client(taro)
    response = client.get(f"/chat/{room.slug}/m/{target.pk}/")
    assert response.status_code == 302
    assert response["Location"] == f"/chat/{room.slug}/around/{target.pk}/#message-{target.pk}"
    html = client.get(response["Location"].split("#")[0]).content.decode()
    # Half a page before it, the rest after: "line 75" to "line 124", load older above, load newer below.
    assert shown(html) == [f"line {i}" for i in range(75, 125)]
    assert f'id="message-{target.pk}"' in html
    places = [html.index(part) for part in ('id="load-older"', "line 75", "line 124", 'id="load-newer"')]
    assert places == sorted(places)
    assert f"?before={messages[75].pk}" in html
    assert newer_url(html) == f"/chat/{room.slug}/newer/?after={messages[124].pk}&change={room.messages.count()}"
    # Not live while older than the newest: no claim on the socket, and no composer (a link to the newest instead).
    assert '<form id="catch-up" hidden>' in html
    assert 'id="chat-form" class="composer composer-paused"' in html and 'id="chat-message-input"' not in html
    assert f'href="{room.get_absolute_url()}">Go to the newest messages</a>' in html


def test_a_message_near_the_start_fills_the_window_after_it(people, room):
    hanako, taro = people
    messages = fill(room, hanako, 120)
    html = signed_in_client(taro).get(f"/chat/{room.slug}/around/{messages[3].pk}/").content.decode()
    assert shown(html) == [f"line {i}" for i in range(PAGE)]
    assert 'id="load-older"' not in html and 'id="load-newer"' in html


def test_load_newer_continues_to_the_newest_then_makes_the_page_live(people, room):
    hanako, taro = people
    messages = fill(room, hanako, 160)
    page = signed_in_client(taro).get(f"/chat/{room.slug}/around/{messages[30].pk}/").content.decode()
    seen = shown(page)
    client, url = logged_in(taro), newer_url(page)
    fragments = []
    while url:
        fragment = client.get(url).content.decode()
        assert "<html" not in fragment
        fragments.append(fragment)
        seen += shown(fragment)
        url = newer_url(fragment)
    assert seen == [f"line {i}" for i in range(5, 160)]  # every message once, in order, up to the newest
    assert len(fragments) == 3  # 50, 50, then the last 5
    last = fragments[-1]
    # The last page brings the composer and a catch-up form that claims the window's change at once.
    claim_now = '<form id="catch-up" ws-send hx-trigger="load, htmx:wsOpen from:#chat-room" hx-swap-oob="true" hidden>'
    assert claim_now in last
    assert f'name="last_change" value="{messages[-1].change}"' in last
    assert '<form id="chat-form" class="composer" ws-send' in last and 'hx-swap-oob="true"' in last
    assert all('id="chat-form"' not in fragment for fragment in fragments[:-1])


def test_a_window_that_reaches_the_newest_is_live_at_once(people, room):
    hanako, taro = people
    messages = fill(room, hanako, 60)
    html = signed_in_client(taro).get(f"/chat/{room.slug}/around/{messages[40].pk}/").content.decode()
    assert shown(html)[-1] == "line 59" and 'id="load-newer"' not in html
    assert '<form id="catch-up" ws-send hx-trigger="htmx:wsOpen from:#chat-room" hidden>' in html
    assert 'id="chat-message-input"' in html


def test_messages_posted_while_reading_come_through_the_socket_once_the_page_reaches_the_newest(people, room):
    """The window and its newer pages stop at the change the page was made at; what was posted or edited after
    it comes through the socket when the last page claims that change: in order, and none twice."""
    hanako, taro = people
    messages = fill(room, hanako, 100)
    page = signed_in_client(taro).get(f"/chat/{room.slug}/around/{messages[20].pk}/").content.decode()
    later = services.post_message(room, hanako, "posted while taro was reading").message
    services.edit_message(messages[30], hanako, "edited while taro was reading")
    fragment = logged_in(taro).get(newer_url(page)).content.decode()
    assert "posted while" not in fragment and newer_url(fragment) is None  # cut at the window's change
    claim = int(re.search(r'name="last_change" value="(\d+)"', fragment).group(1))
    assert claim == messages[-1].change and later.created_change > claim


async def test_a_paused_page_gets_nothing_live_until_its_claim_then_everything_since(people, room):
    hanako, taro = people
    messages = await sync_to_async(fill)(room, hanako, 100)
    window_change = messages[-1].change
    reader, _, _ = await open_socket(room.slug, taro, catch_up=None)  # a window's page: its socket claims nothing
    writer, _, _ = await open_socket(room.slug, hanako)
    await drain(reader)
    await writer.send_to(text_data=send_frame("posted while taro was reading"))
    edit = f"/chat/{room.slug}/messages/{messages[30].pk}/edit/"
    editor = await sync_to_async(logged_in)(hanako)
    response = await sync_to_async(editor.post)(edit, {"message": "edited while taro was reading"})
    assert response.status_code == 200
    assert not any("while taro was reading" in frame for frame in await drain(reader, timeout=0.5))
    # The last "load newer" page claims the window's change: the page gets what came after it.
    await reader.send_to(text_data=catch_up_frame(window_change))
    frames = await receive_all(reader, "posted while taro was reading", "edited while taro was reading")
    new = re.search(r'<div id="chat-log" hx-swap-oob="beforeend"><article id="message-\d+"[^>]*>', frames)
    assert new is not None  # the new message is appended to the log
    assert re.search(rf'<article id="message-{messages[30].pk}" class="message[^"]*" ', frames)  # the edit replaces it
    assert frames.count("posted while taro was reading") == 1 and "line 99" not in frames  # nothing twice
    await reader.disconnect()
    await writer.disconnect()


def test_a_permalink_needs_a_room_the_user_sees_and_a_message_of_that_room(people, room, make_user):
    hanako, taro = people
    [message] = fill(room, hanako, 1)
    other = rooms.create_room("Other", hanako)
    closed = rooms.create_room("Staff", hanako, kind="closed")
    [secret] = fill(closed, hanako, 1)
    client = signed_in_client(taro)
    assert client.get(f"/chat/{other.slug}/m/{message.pk}/").status_code == 404  # not that room's message
    assert client.get(f"/chat/{room.slug}/m/999999/").status_code == 404
    assert client.get(f"/chat/nowhere/m/{message.pk}/").status_code == 404
    for url in (
        f"/chat/{closed.slug}/m/{secret.pk}/",
        f"/chat/{closed.slug}/around/{secret.pk}/",
        f"/chat/{closed.slug}/newer/?after=0",
        f"/chat/{other.slug}/around/{message.pk}/",
    ):
        assert client.get(url).status_code == 404, url
        assert logged_in(taro).get(url).status_code == 404, url
    assert signed_in_client(hanako).get(f"/chat/{closed.slug}/m/{secret.pk}/").status_code == 302  # a member
    anonymous = signed_in_client(make_user("stranger"))
    anonymous.logout()
    assert anonymous.get(f"/chat/{room.slug}/m/{message.pk}/")["Location"].startswith("/accounts/login/")


def test_load_newer_needs_numbers_and_without_javascript_opens_the_window_at_the_last_message(people, room):
    hanako, taro = people
    messages = fill(room, hanako, 3)
    assert logged_in(taro).get(f"/chat/{room.slug}/newer/?after=x").status_code == 400
    assert logged_in(taro).get(f"/chat/{room.slug}/newer/?after=1&change=y").status_code == 400
    plain = signed_in_client(taro).get(f"/chat/{room.slug}/newer/?after={messages[1].pk}&change=3")
    assert plain.status_code == 302 and plain["Location"] == f"/chat/{room.slug}/m/{messages[1].pk}/"
    assert "HX-Request" in plain["Vary"]


def test_reading_an_old_window_marks_nothing_read(people, room):
    hanako, taro = people
    messages = fill(room, hanako, 100)
    client = signed_in_client(taro)
    client.get(room.get_absolute_url())  # read up to "line 99"
    fill(room, hanako, 60)
    client.get(f"/chat/{room.slug}/around/{messages[10].pk}/")
    assert room.memberships.get(user=taro).last_read_seq == 100  # the 60 newer ones are still unread
