"""The room without JavaScript: its composers, reaction buttons, Edit and Delete are plain forms and links, answered
by the same rules as the socket and htmx (chat/views.py: send_message, react, edit_message, delete_message).

Browser tests of the same (JavaScript off, and on): test_browser_nojs.py."""

import json
import re
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from chat import rooms, services
from chat.models import Message, Reaction, Room

from .conftest import signed_in_client
from .sockets import drain, htmx_frame, open_socket, receive_until, send_frame

pytestmark = pytest.mark.django_db(transaction=True)


def page_of(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def token_for(page: str, form_id: str) -> str:
    """The CSRF token a browser would post with the form `form_id` of the page."""
    if form_id == "act":
        found = re.search(r'<form id="act"[^>]*><input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)"', page)
    else:
        found = re.search(rf'name="csrfmiddlewaretoken" value="([^"]+)" form="{form_id}"', page)
    assert found, f"no CSRF token for #{form_id}"
    return found.group(1)


@pytest.fixture
def closed(make_user):
    return rooms.create_room("Staff only", make_user("staff"), Room.Kind.CLOSED)


def browser_without_js(user) -> Client:
    """A browser that posts forms as they are, CSRF checks on (the test client skips them by default)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_the_room_page_holds_forms_that_post_without_javascript(people, room):
    _, alice, _ = people
    page = page_of(signed_in_client(alice), room.get_absolute_url())
    send = f'method="post" action="/chat/{room.slug}/send/"'
    assert f'<form id="chat-form" class="composer" ws-send {send}' in page
    assert f'<form id="chat-lines-form" class="composer" ws-send {send}' in page
    assert '<input type="text" id="chat-message-input" name="message"' in page
    assert f'<form id="act" method="post" action="/chat/{room.slug}/react/" hidden>' in page
    for form_id in ("chat-form", "chat-lines-form", "act"):
        assert token_for(page, form_id)
    # No socket without JavaScript: a stylesheet only <noscript> loads hides the status, a note says what to do.
    assert '<noscript><link rel="stylesheet" href="/static/css/noscript.css"></noscript>' in page
    note = re.search(r'<noscript><p class="noscript-note">(.*?)</p></noscript>', page).group(1)
    assert "Live updates need JavaScript; this page shows messages as of when it loaded." in note
    assert f'<a href="/chat/{room.slug}/">Check for new messages</a>' in note


async def test_a_posted_message_is_stored_once_published_like_the_sockets_and_the_page_goes_to_it(people, room):
    _, alice, bob = people
    listening, _, _ = await open_socket(room.slug, bob)
    await drain(listening)
    client = await sync_to_async(browser_without_js)(alice)
    page = await sync_to_async(page_of)(client, room.get_absolute_url())
    client_id = re.search(r'<form id="chat-form".*?name="client_id" value="([^"]+)"', page, re.S).group(1)
    form = {"csrfmiddlewaretoken": token_for(page, "chat-form"), "client_id": client_id, "message": "secret plans"}
    posted = await sync_to_async(client.post)(f"/chat/{room.slug}/send/", form)
    message = await Message.objects.aget(room=room, body="secret plans")
    assert posted.status_code == 302
    assert posted["Location"] == f"/chat/{room.slug}/#message-{message.pk}"  # the text in no address
    frame = await receive_until(listening, "secret plans")  # every open page has it, as from the socket
    assert f'<article id="message-{message.pk}"' in frame and 'hx-swap-oob="beforeend"' in frame
    again = await sync_to_async(client.post)(f"/chat/{room.slug}/send/", form)  # the form posted twice
    assert again["Location"] == posted["Location"]
    assert await Message.objects.filter(room=room, body="secret plans").acount() == 1
    assert not any("secret plans" in frame for frame in await drain(listening))  # nor shown twice
    await listening.disconnect()


def test_the_multi_line_composer_posts_its_lines(people, room):
    _, alice, _ = people
    client = browser_without_js(alice)
    page = page_of(client, room.get_absolute_url())
    form = {"csrfmiddlewaretoken": token_for(page, "chat-lines-form"), "composer": "lines"}
    posted = client.post(f"/chat/{room.slug}/send/", {**form, "message": "first\r\nsecond"})
    message = Message.objects.get(room=room)
    assert posted["Location"].endswith(f"#message-{message.pk}") and message.body == "first\nsecond"


@pytest.mark.parametrize(
    ("fields", "status", "error"),
    [
        ({"message": "   "}, 400, "Type a message before sending."),
        ({"message": "x" * 2001}, 400, "Messages can be at most 2000 characters (this one has 2001)."),
    ],
)
def test_a_refused_post_shows_the_room_with_the_error_and_the_text_back(people, room, fields, status, error):
    _, alice, _ = people
    response = signed_in_client(alice).post(f"/chat/{room.slug}/send/", fields)
    assert response.status_code == status
    page = response.content.decode()
    assert f'<div id="composer-error" class="composer-error" role="alert">{error}</div>' in page
    assert re.search(rf'id="chat-message-input" [^>]*value="{re.escape(fields["message"])}"', page)
    assert not Message.objects.exists()


def test_a_refused_post_from_the_multi_line_composer_comes_back_in_it_open(people, room):
    _, alice, _ = people
    response = signed_in_client(alice).post(f"/chat/{room.slug}/send/", {"message": " \r\n ", "composer": "lines"})
    page = response.content.decode()
    assert response.status_code == 400 and "Type a message before sending." in page
    assert '<details id="chat-lines" class="composer-lines" open>' in page
    assert re.search(r'<textarea id="chat-lines-input" [^>]*autofocus>\n \r?\n </textarea>', page)


def test_posting_faster_than_the_flood_control_allows_is_refused_with_429(people, room, settings):
    settings.CHAT_RATE_BURST, settings.CHAT_RATE_PER_SECOND = 2, 0.001
    _, alice, _ = people
    client = signed_in_client(alice)
    statuses = [client.post(f"/chat/{room.slug}/send/", {"message": f"m{i}"}).status_code for i in range(3)]
    assert statuses == [302, 302, 429]
    refused = client.post(f"/chat/{room.slug}/send/", {"message": "one more"})
    assert "You are sending too fast. Wait a moment and try again." in refused.content.decode()
    assert Message.objects.count() == 2
    react = client.post(f"/chat/{room.slug}/react/", {"reaction": f"{Message.objects.first().pk} 👍"})
    assert react.status_code == 429 and not Reaction.objects.exists()  # the same bucket as the socket's frames


def test_sending_is_a_post_and_only_to_a_room_one_may_see(people, room, closed):
    _, alice, _ = people
    client = signed_in_client(alice)
    assert client.get(f"/chat/{room.slug}/send/?message=hello").status_code == 405
    assert client.post(f"/chat/{closed.slug}/send/", {"message": "hello"}).status_code == 404
    assert not Message.objects.filter(body="hello").exists()


async def test_a_reaction_button_posts_toggles_and_reaches_open_pages(people, room):
    _, alice, bob = people
    message = await sync_to_async(lambda: services.post_message(room, alice, "react to me").message)()
    listening, _, _ = await open_socket(room.slug, alice)
    await drain(listening)
    client = await sync_to_async(browser_without_js)(bob)
    page = await sync_to_async(page_of)(client, room.get_absolute_url())
    # The button names the page's #act form and carries its message and emoji (the picker's first: 👍).
    button = f'<button form="act" name="reaction" value="{message.pk} &#128077;" class="reaction"'
    assert button in page
    form = {"csrfmiddlewaretoken": token_for(page, "act"), "reaction": f"{message.pk} 👍"}
    posted = await sync_to_async(client.post)(f"/chat/{room.slug}/react/", form)
    assert posted.status_code == 302 and posted["Location"] == f"/chat/{room.slug}/#message-{message.pk}"
    frame = await receive_until(listening, f'id="message-{message.pk}"')
    assert '<span class="count">1</span>' in frame and 'title="bob"' in frame
    await sync_to_async(client.post)(f"/chat/{room.slug}/react/", form)  # pressed again: taken back
    assert not await Reaction.objects.aexists()
    await listening.disconnect()


def test_a_reaction_post_is_refused_like_the_sockets(people, room, closed):
    _, alice, bob = people
    message = services.post_message(room, alice, "hello").message
    client = signed_in_client(bob)
    url = f"/chat/{room.slug}/react/"
    unknown = client.post(url, {"reaction": f"{message.pk} 💩"})
    assert unknown.status_code == 403 and "not offered" in unknown.content.decode()
    elsewhere = services.post_message(closed, closed.created_by, "there").message
    gone = client.post(url, {"reaction": f"{elsewhere.pk} 👍"})  # a message of another room
    assert gone.status_code == 403 and "does not exist" in gone.content.decode()
    for value in ("", "👍", f"{message.pk}", f"x {message.pk}", f"-{message.pk} 👍"):
        assert client.post(url, {"reaction": value}).status_code == 400, value
    assert not Reaction.objects.exists()


async def test_the_socket_takes_the_buttons_value_and_ignores_the_csrf_token(people, room):
    _, alice, bob = people
    message = await sync_to_async(lambda: services.post_message(room, alice, "over the socket").message)()
    socket, _, _ = await open_socket(room.slug, bob)
    await drain(socket)
    # What the ws extension sends for a reaction button: its value, its hx-vals, and its form's CSRF token.
    fields = {"csrfmiddlewaretoken": "x" * 64, "reaction": f"{message.pk} 🎉", "action": "react"}
    await socket.send_to(text_data=htmx_frame(fields, ""))  # (a button without an id: no HX-Trigger)
    frame = await receive_until(socket, f'id="message-{message.pk}"')
    assert '<span class="count">1</span>' in frame
    # And for the multi-line composer: its CSRF token and its "composer" field are dropped.
    lines = json.loads(send_frame("sent with a token", str(uuid.uuid4())))
    lines.update({"csrfmiddlewaretoken": "x" * 64, "composer": "lines"})
    lines["HEADERS"]["HX-Trigger"] = "chat-lines-form"
    await socket.send_to(text_data=json.dumps(lines))
    await receive_until(socket, "sent with a token")
    assert await Message.objects.filter(body="sent with a token").acount() == 1
    await socket.disconnect()


def test_edit_without_javascript_is_a_page_with_the_form_then_back_to_the_room(people, room):
    _, alice, _ = people
    message = services.post_message(room, alice, "draft").message
    client = browser_without_js(alice)
    room_page = page_of(client, room.get_absolute_url())
    url = f"/chat/{room.slug}/messages/{message.pk}/edit/"
    assert f'<a class="edit-action" href="{url}" hx-get="{url}">Edit</a>' in room_page
    page = page_of(client, url)
    assert page.startswith("<!doctype html>") and '<title id="page-title">Edit message · Rules · Chat</title>' in page
    form = re.search(r'<form id="message-\d+" class="message editing" method="post" action="([^"]+)">', page)
    assert form and form.group(1) == url  # no hx-post here: with JavaScript too, the page's form posts
    assert 'value="draft"' in page
    assert f'<a class="secondary" href="/chat/{room.slug}/m/{message.pk}/">Cancel</a>' in page
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    empty = client.post(url, {"csrfmiddlewaretoken": token, "message": "  "})
    assert empty.status_code == 400 and "Type a message before sending." in empty.content.decode()
    assert "<!doctype html>" in empty.content.decode()
    saved = client.post(url, {"csrfmiddlewaretoken": token, "message": "final"})
    assert saved.status_code == 302 and saved["Location"] == f"/chat/{room.slug}/#message-{message.pk}"
    assert Message.objects.get(pk=message.pk).body == "final"


def test_someone_elses_message_gets_an_edit_page_that_says_no(people, room):
    _, alice, bob = people
    message = services.post_message(room, alice, "mine").message
    url = f"/chat/{room.slug}/messages/{message.pk}/edit/"
    refused = signed_in_client(bob).get(url)
    assert refused.status_code == 403 and "<!doctype html>" in refused.content.decode()
    assert "You can only edit your own messages." in refused.content.decode()
    posted = signed_in_client(bob).post(url, {"message": "hijacked"})
    assert posted.status_code == 403 and Message.objects.get(pk=message.pk).body == "mine"


def test_htmx_still_gets_the_edit_form_as_a_fragment_that_swaps_itself(people, room):
    _, alice, _ = people
    message = services.post_message(room, alice, "draft").message
    url = f"/chat/{room.slug}/messages/{message.pk}/edit/"
    fragment = signed_in_client(alice).get(url, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment
    assert f'hx-post="{url}" hx-target="this" hx-swap="outerHTML"' in fragment
    assert f'hx-get="/chat/{room.slug}/messages/{message.pk}/"' in fragment  # Cancel swaps the message back


def test_delete_without_javascript_posts_the_pages_form_with_its_token(people, room):
    _, alice, _ = people
    message = services.post_message(room, alice, "gone soon").message
    client = browser_without_js(alice)
    page = page_of(client, room.get_absolute_url())
    url = f"/chat/{room.slug}/messages/{message.pk}/delete/"
    assert f'<button form="act" formaction="{url}" class="delete-action" hx-post="{url}">Delete</button>' in page
    assert client.post(url).status_code == 403  # without the token: refused
    deleted = client.post(url, {"csrfmiddlewaretoken": token_for(page, "act")})
    assert deleted.status_code == 302 and deleted["Location"] == f"/chat/{room.slug}/#message-{message.pk}"
    assert Message.objects.get(pk=message.pk).deleted_at is not None


def test_load_older_without_javascript_opens_the_room_around_the_first_message_shown(people, room, settings):
    settings.CHAT_PAGE_SIZE = 10
    _, alice, _ = people
    messages = [services.post_message(room, alice, f"line {i}").message for i in range(15)]
    client = signed_in_client(alice)
    page = page_of(client, room.get_absolute_url())
    first_shown = messages[5]
    action = f"/chat/{room.slug}/around/{first_shown.pk}/#message-{first_shown.pk}"
    assert f'<form method="get" action="{action}"><button hx-get=' in page
    older = page_of(client, action.split("#")[0])
    assert "line 0<" in older and "line 5<" in older  # the five before it, and it
