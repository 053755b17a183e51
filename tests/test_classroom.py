"""A classroom: `HOST=0.0.0.0 DJANGO_ALLOWED_HOSTS=192.168.1.20,my-laptop.local make run` on the teacher's laptop
(README: "For a classroom"). Students reach it by the laptop's LAN address: pages, forms (CSRF) and sockets
(Origin) accept that host, the join link names it, and the laptop still opens itself as 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys

import pytest
import websockets

from .live import ROOT, Daphne, HttpUser, migrate, server_env

LAN_HOSTS = "192.168.1.20,my-laptop.local"
LAN = "192.168.1.20:8000"  # as students type it: the laptop's address and make run's port
LOCAL = ["127.0.0.1", "localhost", "[::1]"]


def settings_with(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    code = "from project import settings; print(' '.join(settings.ALLOWED_HOSTS))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_debugging_the_listed_hosts_are_allowed_and_the_laptop_itself_still_is():
    assert settings_with(DJANGO_ALLOWED_HOSTS=LAN_HOSTS) == ["192.168.1.20", "my-laptop.local", *LOCAL]
    assert settings_with() == LOCAL


def test_in_production_only_the_listed_hosts_are_allowed():
    production = {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "x" * 50, "DJANGO_ALLOWED_HOSTS": "chat.example.com"}
    assert settings_with(**production) == ["chat.example.com"]


@pytest.fixture(scope="module")
def laptop(tmp_path_factory):
    """The teacher's `make run` with the LAN names (sign-up through the join link, as by default)."""
    directory = tmp_path_factory.mktemp("classroom")
    env = server_env(directory / "chat.sqlite3", DJANGO_ALLOWED_HOSTS=LAN_HOSTS, CHAT_OPEN_SIGNUP="0")
    migrate(env)
    server = Daphne(env, directory).start()  # it waits for http://127.0.0.1:<port>/accounts/login/ to answer 200
    yield server
    server.stop()


def browser_at(server: Daphne, host: str) -> HttpUser:
    """A student's browser that typed http://<host>/: what it sends as Host, Origin (on forms) and Referer."""
    return HttpUser(server.url, {"Host": host, "Origin": f"http://{host}", "Referer": f"http://{host}/"})


async def lan_socket(server: Daphne, session: str, slug: str, host: str = LAN, origin: str = f"http://{LAN}"):
    """A room's socket as a browser on the LAN opens it: ws://<host>/..., over a connection to the laptop."""
    connection = socket.create_connection(("127.0.0.1", server.port))
    return await websockets.connect(
        f"ws://{host}/ws/chat/{slug}/",
        sock=connection,
        origin=origin,  # type: ignore[arg-type]
        additional_headers={"Cookie": f"sessionid={session}"},
        proxy=None,
    )


async def frames_until(ws, text: str) -> str:
    async with asyncio.timeout(10):
        while text not in (frame := await ws.recv()):
            pass
    return frame


@pytest.mark.live
def test_a_class_signs_up_by_the_join_link_and_chats_over_the_laptops_lan_address(laptop):
    teacher = browser_at(laptop, LAN)
    assert teacher.sign_up("teacher")[0] == 200  # the first account: the site admin
    status, people = teacher.get("/people/")
    assert status == 200
    link = re.search(r'id="join-link" value="(http://192\.168\.1\.20:8000/join/[^"]+/)"', people)
    assert link, "the join link names the address the teacher opened the site at"

    student = browser_at(laptop, LAN)
    join_path = link.group(1).removeprefix(f"http://{LAN}")
    password = "教室のパスワード42"
    assert student.post(join_path, {"username": "生徒", "password1": password, "password2": password})[0] == 200
    _, room_page = teacher.post("/", {"name": "教室"})
    slug = room_page.split('ws-connect="/ws/chat/', 1)[1].split("/", 1)[0]
    assert student.get(f"/chat/{slug}/")[0] == 200

    async def chat() -> None:
        teachers = await lan_socket(laptop, teacher.cookie(), slug)
        students = await lan_socket(laptop, student.cookie(), slug)
        for ws in (teachers, students):
            await ws.send(json.dumps({"last_change": "0", "HEADERS": {"HX-Trigger": "catch-up"}}))
        await teachers.send(json.dumps({"message": "ようこそ、皆さん", "HEADERS": {"HX-Trigger": "chat-form"}}))
        await frames_until(students, "ようこそ、皆さん")
        await teachers.close()
        await students.close()

    asyncio.run(chat())


@pytest.mark.live
def test_the_laptop_still_opens_itself_as_localhost(laptop):
    for host in (f"127.0.0.1:{laptop.port}", f"localhost:{laptop.port}"):
        assert browser_at(laptop, host).get("/accounts/login/")[0] == 200


@pytest.mark.live
@pytest.mark.parametrize(
    ("host", "origin"),
    [
        (LAN, "http://evil.example"),  # another site's page
        ("192.168.1.99:8000", "http://192.168.1.99:8000"),  # a name the laptop was not given
    ],
)
def test_sockets_from_other_origins_are_refused(laptop, host, origin):
    async def open_socket() -> None:
        await lan_socket(laptop, "no-session", "lobby", host=host, origin=origin)

    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(open_socket())
    assert refused.value.response.status_code == 403
