"""Who may see what, against two daphne processes sharing Redis (chat/live/members.py): a removed member's
pages close on the other process, and nothing of the room (messages, typing, unread badges) reaches them
afterwards; a deactivated person's sockets close on both processes."""

import asyncio
import json
import re
import subprocess
import sys
import time

import pytest

from .browser import unique
from .live import ROOT, HttpUser, Listener

pytestmark = pytest.mark.live


def send(text: str) -> str:
    return json.dumps({"message": text, "HEADERS": {"HX-Trigger": "chat-form"}})


TYPING = json.dumps({"action": "typing", "message": "x", "HEADERS": {"HX-Trigger": "chat-message-input"}})


async def a_closed_room_with_a_member(servers):
    """The owner (on process 1) and a member with a page of the room and a page elsewhere (on process 0)."""
    owner, member = HttpUser(servers[1].url), HttpUser(servers[0].url)
    member_name = unique("member")
    await asyncio.to_thread(owner.sign_up, unique("owner"))
    await asyncio.to_thread(member.sign_up, member_name)
    _, page = await asyncio.to_thread(owner.post, "/", {"name": unique("Closed "), "kind": "closed"})
    slug = page.split('ws-connect="/ws/chat/', 1)[1].split("/", 1)[0]
    room_id = re.search(r'id="chat-room"[^>]*data-room="(\d+)"', page)[1]
    member_id = re.search(rf'<option value="(\d+)">[^<]*\({member_name}\)</option>', page)[1]
    status, _ = await asyncio.to_thread(
        owner.post, f"/chat/{slug}/members/", {"user": member_id, "action": "add"}, f"/chat/{slug}/"
    )
    assert status == 200  # redirected back to the room
    _, elsewhere = await asyncio.to_thread(member.post, "/", {"name": unique("Elsewhere ")})
    elsewhere_slug = elsewhere.split('ws-connect="/ws/chat/', 1)[1].split("/", 1)[0]
    in_room = await Listener(servers[0], member.cookie(), slug).open()
    aside = await Listener(servers[0], member.cookie(), elsewhere_slug).open()
    talker = await Listener(servers[1], owner.cookie(), slug).open()
    return owner, member_id, slug, room_id, in_room, aside, talker


async def test_a_removed_member_is_closed_on_the_other_process_and_hears_nothing_after(chat_servers):
    owner, member_id, slug, room_id, in_room, aside, talker = await a_closed_room_with_a_member(chat_servers)
    await talker.ws.send(send("before"))
    await in_room.until(">before<")
    await aside.until(f'id="sidebar-room-{room_id}"')  # counted as unread on the member's other page
    removed_at = time.monotonic()
    status, _ = await asyncio.to_thread(
        owner.post, f"/chat/{slug}/members/", {"user": member_id, "action": "remove"}, f"/chat/{slug}/"
    )
    assert status == 200
    async with asyncio.timeout(2):
        assert await in_room.closed == 4403
    assert time.monotonic() - removed_at < 2
    assert in_room.received("You are no longer a member of this room.")
    await aside.until(f'<li id="sidebar-room-{room_id}" hx-swap-oob="delete">')
    heard = len(aside.frames)
    await talker.ws.send(TYPING)
    await talker.ws.send(send("after"))
    await talker.until(">after<")
    await asyncio.sleep(1.0)
    later = "".join(aside.frames[heard:])
    assert f"sidebar-room-{room_id}" not in later and "typing" not in later and ">after<" not in later
    assert not in_room.received(">after<")
    await aside.ws.close()
    await talker.ws.close()


async def test_a_deactivated_persons_sockets_close_on_both_processes(chat_servers):
    servers = chat_servers
    person = HttpUser(servers[0].url)
    name = unique("leaving")
    await asyncio.to_thread(person.sign_up, name)
    _, page = await asyncio.to_thread(person.post, "/", {"name": unique("Open ")})
    slug = page.split('ws-connect="/ws/chat/', 1)[1].split("/", 1)[0]
    sockets = [await Listener(server, person.cookie(), slug).open() for server in servers]
    for socket in sockets:
        await socket.until('id="connection-status"')
    # As the people page or Django's admin would: the account saved with is_active off.
    script = (
        "from django.contrib.auth.models import User\n"
        f"person = User.objects.get(username={name!r})\nperson.is_active = False\nperson.save()"
    )
    env = servers[0].env
    await asyncio.to_thread(
        subprocess.run, [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True
    )
    for socket in sockets:
        async with asyncio.timeout(2):
            assert await socket.closed == 4401
