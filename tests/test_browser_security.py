"""Security against a live daphne: origins, oversize frames, CSP and injection in a real browser."""

import asyncio
import concurrent.futures
import sqlite3

import pytest
from playwright.sync_api import expect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .browser import bodies, create_room, send, sign_up, unique, wait_live, watch
from .live import chat_socket, create_room_over_http, sign_up_over_http

pytestmark = pytest.mark.browser


def in_thread(coroutine):
    """Run a coroutine on its own loop: Playwright's sync API holds this thread's loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="module")
def account(server):
    session = sign_up_over_http(server.url, unique("sock"))
    slug = create_room_over_http(server.url, session, unique("Sockets ")).split("/")[2]
    return session, slug


@pytest.mark.parametrize("origin", ["http://evil.example", "null", None, "http://localhost.evil.example"])
def test_foreign_origins_are_refused_with_403(server, account, origin):
    session, slug = account

    async def connect():
        with pytest.raises(InvalidStatus) as refused:
            async with chat_socket(server, session, slug, origin=origin):
                pass
        return refused.value.response.status_code

    assert in_thread(connect()) == 403


def test_own_origin_is_accepted(server, account):
    session, slug = account

    async def connect():
        async with chat_socket(server, session, slug) as ws:
            return [await ws.recv(), await ws.recv()]  # the status and the room's presence list

    assert any('id="connection-status"' in frame for frame in in_thread(connect()))


def test_a_frame_over_64_kib_is_refused_without_touching_the_database(server, live_db, account):
    session, slug = account

    async def send_oversize():
        async with chat_socket(server, session, slug) as ws:
            await ws.send('{"message": "' + "x" * (65 * 1024) + '"}')
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 5)

    before = sqlite3.connect(live_db).execute("select count(*) from chat_message").fetchone()[0]
    in_thread(send_oversize())
    assert sqlite3.connect(live_db).execute("select count(*) from chat_message").fetchone()[0] == before


CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def test_zero_csp_violations_through_a_whole_visit(server, new_page):
    page = new_page()
    page.add_init_script(CSP_RECORDER)
    seen = watch(page)
    violations = []

    def record():
        violations.extend(page.evaluate("window.__cspViolations"))

    sign_up(page, server.url, unique("csp"))
    record()
    create_room(page, unique("CSP "))
    for i in range(52):
        send(page, f"message {i}")
    record()
    page.reload()
    wait_live(page)
    page.click("#load-older button")
    expect(page.locator("#chat-log .message")).to_have_count(52)
    record()
    page.click("text=Log out")
    expect(page).to_have_url(f"{server.url}/accounts/login/")
    record()
    assert violations == []
    assert not [error for error in seen.console_errors if "Content Security Policy" in error]
    assert seen.console_errors == []


INJECTIONS = [
    '<div id="chat-form" hx-get="/accounts/logout/" hx-trigger="load">',
    "<img src=x onerror=alert(1)>",
    '<form id="chat-log" hx-swap-oob="true">gone</form>',
    "{{ request.user }} {% now 'Y' %}",
]


def test_injected_markup_is_inert_in_a_real_browser(server, new_page):
    alice, bob = new_page(), new_page()
    seen = watch(bob)
    sign_up(alice, server.url, unique("alice"))
    room_name = "x, #chat-log"
    create_room(alice, room_name)
    room_url = alice.url
    sign_up(bob, server.url, unique("bob"))
    bob.goto(room_url)
    wait_live(bob)
    for payload in INJECTIONS:
        send(alice, payload)
    expect(bob.locator("#chat-log .message")).to_have_count(len(INJECTIONS), timeout=5000)
    for page in (alice, bob):
        assert bodies(page) == INJECTIONS
        assert page.locator("#chat-form").count() == 1
        assert page.locator("#chat-log").count() == 1
        assert page.locator("#chat-log img, #chat-log div[hx-get], #chat-log form").count() == 0
        expect(page.locator(".room-name")).to_have_text(room_name)
    bob.wait_for_timeout(500)
    assert not [url for url in seen.requests if "logout" in url or url.endswith("/x")]
    assert seen.dialogs == []
    bob.reload()  # still signed in: nothing logged us out
    wait_live(bob)
    assert bodies(bob) == INJECTIONS


@pytest.mark.parametrize("path", ["/static/..%2f..%2fproject/settings.py", "/static/../manage.py", "/static/%2e%2e/x"])
def test_paths_out_of_the_static_folder_are_not_found(server, path):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server.url + path, timeout=5)
    assert refused.value.code == 404
    assert "Traceback" not in server.log()
