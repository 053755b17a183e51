"""Who stays connected (chat/accounts.py): sign-out and deactivation close sockets; frames check the session."""

import asyncio

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.models import Session
from django.test import Client

from chat.live.hub import get_hub
from chat.models import Message
from project.asgi import application

from .conftest import signed_in_client
from .sockets import ORIGIN, catch_up_frame, closed_with, pytest_async, receive_until, send_frame


async def socket_for(client: Client, slug: str):
    """A socket on the same session as `client` (as a second tab of that browser would be)."""
    headers = [(b"host", b"127.0.0.1:8000"), (b"origin", ORIGIN)]
    headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    communicator = WebsocketCommunicator(application, f"/ws/chat/{slug}/", headers=headers)
    assert (await communicator.connect())[0]
    await receive_until(communicator, 'id="connection-status"')
    await communicator.send_to(text_data=catch_up_frame(0))
    return communicator


@pytest_async
async def test_logout_closes_every_socket_of_that_session_within_two_seconds(make_user, lobby):
    alice = await sync_to_async(make_user)("alice")
    laptop = await sync_to_async(signed_in_client)(alice)
    phone = await sync_to_async(signed_in_client)(alice)
    tabs = [await socket_for(laptop, lobby.slug), await socket_for(laptop, lobby.slug)]
    phone_tab = await socket_for(phone, lobby.slug)
    await sync_to_async(laptop.post)("/accounts/logout/")
    for tab in tabs:
        assert await closed_with(tab) == 4401
    # The phone's session is still signed in: its socket stays and works.
    await phone_tab.send_to(text_data=send_frame("phone still here"))
    assert "phone still here" in await receive_until(phone_tab, "<article")
    await phone_tab.disconnect()


@pytest_async
async def test_deactivated_user_is_disconnected(make_user, lobby):
    mallory = await sync_to_async(make_user)("mallory")
    tab = await socket_for(await sync_to_async(signed_in_client)(mallory), lobby.slug)
    mallory.is_active = False
    await sync_to_async(mallory.save)()
    assert await closed_with(tab) == 4401


@pytest_async
async def test_a_session_ended_without_an_announcement_is_refused_within_the_recheck_time(make_user, lobby, settings):
    settings.CHAT_ACCESS_RECHECK_SECONDS = 0.3
    alice = await sync_to_async(make_user)("alice")
    tab = await socket_for(await sync_to_async(signed_in_client)(alice), lobby.slug)
    await sync_to_async(Session.objects.all().delete)()  # signed out with no event to tell us (expired, the admin)
    await asyncio.sleep(0.4)
    await tab.send_to(text_data=send_frame("after sign-out"))
    assert await closed_with(tab) == 4401
    assert not await sync_to_async(Message.objects.exists)()


@pytest_async
async def test_while_announcements_may_be_lost_every_frame_checks_the_session(make_user, lobby):
    """The recheck time (30 s by default) stands on sign-outs being announced; when the layer failed, they may
    not have been: then a frame asks the database, however lately its socket was checked."""
    alice = await sync_to_async(make_user)("alice")
    tab = await socket_for(await sync_to_async(signed_in_client)(alice), lobby.slug)
    await tab.send_to(text_data=send_frame("checked just now"))
    assert "checked just now" in await receive_until(tab, "<article")
    get_hub().layer_outage.begin()  # a broadcast failed: announcements of other processes may be lost
    try:
        await sync_to_async(Session.objects.all().delete)()
        await tab.send_to(text_data=send_frame("after sign-out"))
        assert await closed_with(tab) == 4401
    finally:
        get_hub().layer_outage.end()
    assert not await sync_to_async(Message.objects.filter(body="after sign-out").exists)()
