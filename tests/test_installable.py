"""Installable: the web app manifest, its icons (served as `make run` serves static files), /favicon.ico and the
links in every page's head, under the same strict CSP."""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from asgiref.testing import ApplicationCommunicator
from PIL import Image

from project.asgi import application

from .live import ROOT
from .test_security import EXPECTED_CSP, parse_csp


def css_variable(name: str, theme: str) -> str:
    """A colour of static/css/chat.css: `theme` "light" is the first :root block, "dark" the media query's."""
    css = (ROOT / "static/css/chat.css").read_text()
    blocks = re.findall(r":root\s*\{([^}]*)\}", css)
    block = blocks[0] if theme == "light" else blocks[1]
    return re.search(rf"{name}:\s*(#[0-9a-fA-F]+);", block).group(1).lower()


def get(path: str) -> tuple[int, dict[str, str], bytes]:
    """GET through the site's ASGI application (project/asgi.py), its static files handler included: static
    files are served as `make run` serves them."""

    async def fetch() -> tuple[dict, bytes]:
        scope = {"type": "http", "http_version": "1.1", "method": "GET", "scheme": "http", "path": path}
        scope |= {"raw_path": path.encode(), "query_string": b"", "headers": [(b"host", b"testserver")]}
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": b""})
        start, body = await communicator.receive_output(10), b""
        while True:  # the last message may have no "body" (ASGI), which channels' HttpCommunicator cannot take
            message = await communicator.receive_output(10)
            body += message.get("body", b"")
            if not message.get("more_body"):
                return start, body

    start, body = asyncio.run(fetch())
    headers = {name.decode().lower(): value.decode() for name, value in start["headers"]}
    return start["status"], headers, body


def manifest() -> dict:
    status, _, body = get("/manifest.webmanifest")
    assert status == 200
    return json.loads(body)


class Head(HTMLParser):
    """The <link> and <meta> elements of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str]] = []
        self.metas: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"link", "meta"}:
            (self.links if tag == "link" else self.metas).append({k: v or "" for k, v in attrs})


def head_of(html: str) -> Head:
    head = Head()
    head.feed(html)
    return head


# The manifest ----------------------------------------------------------------------------------------------------


def test_the_manifest_is_served_as_a_manifest_to_anyone(client):
    response = client.get("/manifest.webmanifest")  # signed out: browsers fetch it without cookies
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    fields = json.loads(response.content)
    assert fields["name"] == "Chat" and fields["short_name"] == "Chat"
    assert fields["start_url"] == "/" and fields["display"] == "standalone"
    assert fields["theme_color"] == fields["background_color"] == css_variable("--bg", "light")
    assert parse_csp(response["Content-Security-Policy"]) == EXPECTED_CSP


def test_the_manifests_icons_are_pngs_of_the_sizes_it_says():
    icons = manifest()["icons"]
    assert {(icon["sizes"], icon["purpose"]) for icon in icons} == {
        ("192x192", "any"),
        ("512x512", "any"),
        ("512x512", "maskable"),
    }
    for icon in icons:
        status, headers, body = get(icon["src"])
        assert status == 200, icon["src"]
        assert headers["content-type"] == icon["type"] == "image/png"
        image = Image.open(io.BytesIO(body))
        assert image.format == "PNG"
        assert "x".join(map(str, image.size)) == icon["sizes"]


def test_a_maskable_icon_fills_its_square_and_an_any_icon_has_round_corners():
    accent = tuple(int(css_variable("--accent", "light")[i : i + 2], 16) for i in (1, 3, 5))
    for icon in manifest()["icons"]:
        image = Image.open(io.BytesIO(get(icon["src"])[2])).convert("RGBA")
        corner, middle = image.getpixel((0, 0)), image.getpixel((image.width // 2, image.height // 4))
        assert middle[:3] == accent and middle[3] == 255
        assert corner[3] == (255 if icon["purpose"] == "maskable" else 0)


# favicon.ico and the page's head -------------------------------------------------------------------------------


def test_favicon_ico_answers_with_an_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    icon = Image.open(io.BytesIO(response.content))
    assert icon.format == "ICO" and {(16, 16), (32, 32), (48, 48)} <= icon.info["sizes"]


@pytest.mark.django_db
@pytest.mark.parametrize("signed_in", [False, True])
def test_every_page_links_the_manifest_and_the_icons(client, make_user, signed_in):
    if signed_in:
        client.force_login(make_user())
    response = client.get("/" if signed_in else "/accounts/login/")  # the index, or the login page
    assert response.status_code == 200
    assert parse_csp(response["Content-Security-Policy"]) == EXPECTED_CSP
    head = head_of(response.content.decode())
    links = {link["rel"]: link for link in head.links if link["rel"] != "icon"}
    icons = [link["href"] for link in head.links if link["rel"] == "icon"]
    assert links["manifest"]["href"] == "/manifest.webmanifest"
    assert "/favicon.ico" in icons
    apple = links["apple-touch-icon"]["href"]
    for href in [*icons, apple]:
        status, headers, _ = get(href)
        assert status == 200 and headers["content-type"].startswith("image/"), href
    assert Image.open(io.BytesIO(get(apple)[2])).size == (180, 180)
    themes = {meta["media"]: meta["content"] for meta in head.metas if meta.get("name") == "theme-color"}
    assert themes == {
        "(prefers-color-scheme: light)": css_variable("--bg", "light"),
        "(prefers-color-scheme: dark)": css_variable("--bg", "dark"),
    }


def test_the_committed_icons_are_what_tools_make_icons_draws(tmp_path):
    subprocess.run([sys.executable, "tools/make_icons.py", "--out", str(tmp_path)], cwd=ROOT, check=True, timeout=60)
    drawn = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert [str(p) for p in drawn] == [
        "favicon.ico",
        "icons/apple-touch-icon.png",
        "icons/icon-192.png",
        "icons/icon-512.png",
        "icons/icon-maskable-512.png",
    ]
    for path in drawn:
        with Image.open(tmp_path / path) as fresh, Image.open(ROOT / "static" / path) as committed:
            assert fresh.size == committed.size and fresh.tobytes() == committed.tobytes(), path
