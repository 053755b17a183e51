"""What text is accepted: invisible-only messages and names, look-alike names, lone surrogates."""

import pytest
from asgiref.sync import sync_to_async

from chat import rooms
from chat.forms import MessageForm, RoomForm, SignUpForm
from chat.models import Message

from .sockets import htmx_frame, open_socket, receive_until, send_frame

INVISIBLE_ONLY = ["\u200b", "\u3164", "\u2800\u2800", " \u200b\u200d ", "\u202e"]


@pytest.mark.parametrize("body", INVISIBLE_ONLY)
def test_a_message_that_shows_nothing_is_refused(body):
    form = MessageForm({"message": body})
    assert not form.is_valid()
    assert form.errors["message"] == ["Type a message before sending."]


@pytest.mark.parametrize("body", ["日本語", "\uff46\uff55\uff4c\uff4c \uff76\uff80\uff76\uff85", "👍", "a\u200bb"])
def test_a_message_keeps_what_was_typed(body):
    form = MessageForm({"message": body})
    assert form.is_valid()
    assert form.cleaned_data["message"] == body


PASSWORD = "correct horse battery 42"


def sign_up(username: str) -> SignUpForm:
    return SignUpForm({"username": username, "password1": PASSWORD, "password2": PASSWORD}, address="192.0.2.1")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("username", "error"),
    [
        ("\u3164", "invisible"),
        ("alpha\u200b", "invisible"),
        ("bob\u202egnp", "invisible"),
        ("\u0430lice", "mixes alphabets (Cyrillic, Latin)"),  # a Cyrillic a
        ("p\u0430yp\u0430l", "mixes alphabets"),
    ],
)
def test_usernames_that_hide_or_pass_for_another_are_refused(username, error):
    form = sign_up(username)
    assert not form.is_valid()
    assert error in form.errors["username"][0]


@pytest.mark.django_db
def test_a_fullwidth_username_is_the_same_name(make_user):
    make_user("alpha")
    form = sign_up("\uff41\uff4c\uff50\uff48\uff41")  # alpha in fullwidth letters
    assert not form.is_valid()
    assert "already exists" in form.errors["username"][0]


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["田中太郎", "たなか_2024", "Django勉強会", "Ελένη", "Юлия"])
def test_names_in_one_script_or_a_japanese_mix_are_welcome(username):
    assert sign_up(username).is_valid()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "error"),
    [("\u2800", "invisible"), ("\u200b\u200b", "invisible"), ("Lobby\u202e", "invisible"), ("L\u043ebby", "mixes")],
)
def test_room_names_that_hide_or_pass_for_another_are_refused(name, error):
    form = RoomForm({"name": name})
    assert not form.is_valid()
    assert error in form.errors["name"][0]


@pytest.mark.django_db
def test_a_room_name_is_normalised():
    form = RoomForm({"name": "\uff2c\uff4f\uff42\uff42\uff59 \uff12"})  # fullwidth
    assert form.is_valid()
    assert form.cleaned_data["name"] == "Lobby 2"


@pytest.mark.django_db(transaction=True)
async def test_a_lone_surrogate_gets_an_error_and_the_socket_stays_open(make_user):
    alice = await sync_to_async(make_user)("alice")
    room = await sync_to_async(rooms.create_room)("Surrogates", alice)
    a, _, _ = await open_socket(room.slug, alice)
    await a.send_to(text_data=htmx_frame({"message": "x\\ud800y"}, "chat-form").replace("\\\\ud800", "\\ud800"))
    assert "not valid Unicode" in await receive_until(a, 'id="composer-error"')
    await a.send_to(text_data=send_frame("\u200b"))
    assert "Type a message before sending." in await receive_until(a, 'id="composer-error"')
    await a.send_to(text_data=send_frame("still here"))
    assert "still here" in await receive_until(a, "<article")
    assert [m.body for m in await sync_to_async(list)(Message.objects.all())] == ["still here"]
    await a.disconnect()
