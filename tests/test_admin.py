"""Django's admin (chat/admin.py): the site admin's edits and deletes go through the chat's services, so open
pages update live and a deleted message stays a "message deleted" line."""

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from chat import rooms, services
from chat.live import events
from chat.models import Message

from .sockets import drain, open_socket, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def setting(make_user):
    boss = make_user("boss", is_superuser=True, is_staff=True)
    alice = make_user("alice")
    room = rooms.create_room("Moderated", alice)
    return boss, alice, room


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def test_an_edit_in_djangos_admin_reaches_open_pages_live(setting):
    boss, alice, room = setting
    message = await sync_to_async(lambda: services.post_message(room, alice, "rude words").message)()
    page, _, _ = await open_socket(room.slug, alice)
    await drain(page)
    client = await sync_to_async(admin_client)(boss)
    url = f"/admin/chat/message/{message.pk}/change/"
    response = await sync_to_async(client.post)(url, {"body": "[removed by the moderator]"})
    assert response.status_code == 302
    frame = await receive_until(page, "removed by the moderator")
    assert f'<article id="message-{message.pk}"' in frame and 'hx-swap-oob="true"' in frame
    stored = await sync_to_async(Message.objects.get)(pk=message.pk)
    assert stored.edited_at is not None and "removed by the moderator" in stored.body_html
    await page.disconnect()


@pytest.mark.django_db(transaction=False)
@pytest.mark.parametrize("action", ["edit", "delete"])
def test_the_admin_announces_an_edit_or_a_delete_once_it_is_committed(
    make_user, monkeypatch, django_capture_on_commit_callbacks, action
):
    """The admin's views run in a transaction. Another process's page of a look the frame was not rendered in
    reads the change from the database: announced from inside the transaction, it could read it before the
    commit and miss it until the reconciliation (5 s)."""
    boss = make_user("boss", is_superuser=True, is_staff=True)
    alice = make_user("alice")
    message = services.post_message(rooms.create_room("Moderated", alice), alice, "rude words").message
    announced = []
    monkeypatch.setattr(events, "publish_message_changed", lambda changed: announced.append(changed.pk))
    client = admin_client(boss)
    with django_capture_on_commit_callbacks(execute=False) as on_commit:
        if action == "edit":
            client.post(f"/admin/chat/message/{message.pk}/change/", {"body": "[removed by the moderator]"})
        else:
            client.post(f"/admin/chat/message/{message.pk}/delete/", {"post": "yes"})
    assert announced == []  # nothing while the transaction is open
    for callback in on_commit:
        callback()
    assert announced == [message.pk]


async def test_a_delete_in_djangos_admin_is_a_delete_for_everyone(setting):
    boss, alice, room = setting
    message = await sync_to_async(lambda: services.post_message(room, alice, "to go").message)()
    page, _, _ = await open_socket(room.slug, alice)
    await drain(page)
    client = await sync_to_async(admin_client)(boss)
    response = await sync_to_async(client.post)(f"/admin/chat/message/{message.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert "message deleted" in await receive_until(page, "message deleted")
    stored = await sync_to_async(Message.objects.get)(pk=message.pk)  # the row stays: the log keeps its place
    assert stored.deleted_at is not None and stored.body == ""
    await page.disconnect()


def test_a_plain_account_cannot_use_the_admin(setting):
    _, alice, _ = setting
    assert admin_client(alice).get("/admin/chat/message/").status_code == 302  # to the admin's login
