import pytest
from django.urls import reverse

from chat import rooms, services
from chat.models import Message, Room

pytestmark = pytest.mark.django_db


def test_chat_pages_need_login(client, make_user):
    room = rooms.create_room("Lobby", make_user())
    for url in ["/", room.get_absolute_url(), f"{room.get_absolute_url()}history/?before=1"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_signup_logs_in_and_validates_passwords(client):
    response = client.post("/accounts/signup/", {"username": "alice", "password1": "123", "password2": "123"})
    assert response.status_code == 400  # refused, with the reasons on the page
    assert "too short" in response.content.decode()
    response = client.post(
        "/accounts/signup/",
        {"username": "alice", "password1": "correct horse 42", "password2": "correct horse 42"},
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_login_with_username_and_password(client, make_user):
    make_user("bob")
    response = client.post("/accounts/login/", {"username": "bob", "password": "a-long-test-password"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_logout_is_post_only(client, make_user):
    client.force_login(make_user())
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_create_room_redirects_to_it(client, make_user):
    client.force_login(make_user())
    response = client.post("/", {"name": "東京 chat"})
    room = Room.objects.get()
    assert response.status_code == 302
    assert response["Location"] == room.get_absolute_url()
    assert client.get(response["Location"]).status_code == 200


@pytest.mark.parametrize(("name", "error"), [("", "This field is required."), ("Lobby", "already exists")])
def test_create_room_errors_are_shown(client, make_user, name, error):
    client.force_login(make_user())
    rooms.create_room("Lobby", make_user())
    response = client.post("/", {"name": name})
    assert response.status_code == 400
    assert error in response.content.decode()
    assert Room.objects.count() == 1


def test_unknown_room_is_404(client, make_user):
    client.force_login(make_user())
    assert client.get("/chat/nowhere/").status_code == 404


def test_room_page_shows_newest_page_with_load_older(client, make_user):
    user = make_user("carol")
    room = rooms.create_room("Busy", user)
    for i in range(55):
        services.post_message(room, user, f"line {i}\nsecond <b>bold</b>")
    client.force_login(user)
    html = client.get(room.get_absolute_url()).content.decode()
    assert html.count('<article id="message-') == 50
    assert html.index("line 5\n") < html.index("line 54") if "line 5\n" in html else True
    assert "line 4<br>" not in html and "line 5<br>" in html
    assert "second &lt;b&gt;bold&lt;/b&gt;" in html
    assert 'id="load-older"' in html
    assert 'value="55"' in html  # the catch-up form knows the newest seq
    first_shown = room.messages.order_by("seq")[5]
    older_url = reverse("chat:history", args=[room.slug]) + f"?before={first_shown.pk}"
    older = client.get(older_url, headers={"HX-Request": "true"}).content.decode()
    assert older.count('<article id="message-') == 5
    assert 'id="load-older"' not in older
    assert older.index("line 0<br>") < older.index("line 4<br>")


def test_history_needs_numeric_cursor(client, make_user):
    user = make_user()
    room = rooms.create_room("A", user)
    client.force_login(user)
    assert client.get(f"{room.get_absolute_url()}history/?before=x").status_code == 400


def test_fragments_go_to_htmx_and_a_plain_browser_gets_the_room_page(client, make_user):
    user = make_user()
    room = rooms.create_room("Fragments", user)
    message = services.post_message(room, user, "hello").message
    client.force_login(user)
    history = f"{room.get_absolute_url()}history/?before={message.pk + 1}"
    fragment = client.get(history, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.content.decode()
    assert "hello" in fragment.content.decode()
    assert client.get(history)["Location"] == room.get_absolute_url()
    deleted = client.post(f"{room.get_absolute_url()}messages/{message.pk}/delete/")  # a form without JavaScript
    assert deleted.status_code == 302 and deleted["Location"] == f"{room.get_absolute_url()}#message-{message.pk}"
    assert Message.objects.get(pk=message.pk).deleted_at is not None
