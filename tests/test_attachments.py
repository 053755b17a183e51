"""Files and images attached to messages: what is stored, what is shown, who gets them, and when they go.

The browser's view of it (live thumbnails, opening and downloading) is in test_browser_attachments.py."""

import io
import re
import unicodedata
import urllib.error
import urllib.request
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import ExifTags, Image, PngImagePlugin

from chat import rooms, services
from chat.models import Attachment, Message, Room

from .conftest import logged_in, signed_in_client
from .live import Daphne, migrate, server_env
from .sockets import drain, open_socket, receive_until

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "GPS 35.6586N 139.7454E SECRET-MARKER"  # written into metadata: it must not come back out


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(media) -> list:
    return [path for path in media.rglob("*") if path.is_file()] if media.exists() else []


def png(size=(1200, 900), color=(200, 30, 30), text: str | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("Comment", text)
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def rotated_jpeg() -> bytes:
    """400x200 as stored, left half blue, right half red, with EXIF saying "turn me 90° clockwise" (6), and
    secrets in its EXIF and its comment."""
    image = Image.new("RGB", (400, 200), (220, 0, 0))
    image.paste((0, 0, 220), (0, 0, 200, 200))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.ImageDescription] = SECRET
    exif[ExifTags.Base.Artist] = SECRET
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95, exif=exif.tobytes(), comment=SECRET.encode())
    return out.getvalue()


def animated_gif() -> bytes:
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9)
    frames = []
    for index in range(3):  # red, green, blue
        frame = Image.new("P", (60, 40), index)
        frame.putpalette(palette)
        frames.append(frame)
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0, comment=SECRET.encode())
    return out.getvalue()


def upload(name: str, data: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def send(client: Client, room: Room, *files, message: str = "", client_id: str | None = None):
    fields = {"upload": list(files), "message": message, "client_id": client_id or str(uuid.uuid4())}
    return client.post(f"/chat/{room.slug}/attachments/", fields)


def only_attachment() -> Attachment:
    return Attachment.objects.select_related("message").get()


def opened(response) -> Image.Image:
    return Image.open(io.BytesIO(b"".join(response.streaming_content)))


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def closed(people):
    owner, member, _ = people
    room = rooms.create_room("Staff room", owner, Room.Kind.CLOSED)
    rooms.add_member(room, owner, member)
    return room


# Images ----------------------------------------------------------------------


def test_an_image_shows_as_a_thumbnail_whose_size_the_page_knows_and_opens_full_size(people, room):
    _, alice, bob = people
    response = send(logged_in(alice), room, upload("夕焼け.png", png(), "text/plain"), message="見て")
    assert response.status_code == 200
    assert 'id="attach-files"' in response.content.decode()  # a fresh form, to swap in place of the used one
    attachment = only_attachment()
    assert (attachment.is_image, attachment.content_type) == (True, "image/png")
    assert (attachment.width, attachment.height) == (1200, 900)
    assert (attachment.thumb_width, attachment.thumb_height) == (640, 480)

    page = logged_in(bob).get(room.get_absolute_url()).content.decode()
    img = re.search(rf'<img src="/files/{attachment.pk}/thumb/"[^>]*>', page)
    assert img and 'width="640"' in img.group() and 'height="480"' in img.group() and 'alt="夕焼け.png"' in img.group()
    assert f'href="/files/{attachment.pk}/%E5%A4%95%E7%84%BC%E3%81%91.png"' in page  # the full-size image

    thumb = logged_in(bob).get(f"/files/{attachment.pk}/thumb/")
    assert thumb["Content-Type"] == "image/webp" and thumb["Content-Disposition"].startswith("inline")
    assert opened(thumb).size == (640, 480)
    full = logged_in(bob).get(f"/files/{attachment.pk}/夕焼け.png")
    assert full["Content-Type"] == "image/png" and full["Content-Disposition"].startswith("inline")
    assert full["X-Content-Type-Options"] == "nosniff"
    assert opened(full).size == (1200, 900)


def test_a_photo_is_turned_upright_by_its_exif_orientation_and_loses_its_metadata(people, room):
    _, alice, bob = people
    send(logged_in(alice), room, upload("IMG_0001.JPG", rotated_jpeg(), "image/jpeg"))
    attachment = only_attachment()
    assert (attachment.width, attachment.height) == (200, 400)  # stood up
    full = body_of(logged_in(bob).get(f"/files/{attachment.pk}/IMG_0001.JPG"))
    thumb = body_of(logged_in(bob).get(f"/files/{attachment.pk}/thumb/"))
    for data in (full, thumb):
        image = Image.open(io.BytesIO(data))
        assert image.size == (200, 400)
        # Turned clockwise, the blue left half is now the top half.
        top, bottom = image.convert("RGB").getpixel((100, 50)), image.convert("RGB").getpixel((100, 350))
        assert top[2] > 150 > top[0] and bottom[0] > 150 > bottom[2]
        assert ExifTags.Base.Orientation not in image.getexif()  # else a browser would turn it again
        assert b"SECRET-MARKER" not in data and b"35.6586" not in data


def test_metadata_is_stripped_from_png_and_gif_too(people, room):
    _, alice, bob = people
    send(logged_in(alice), room, upload("a.png", png((50, 50), text=SECRET)), upload("b.gif", animated_gif()))
    for attachment in Attachment.objects.all():
        full = body_of(logged_in(bob).get(f"/files/{attachment.pk}/{attachment.name}"))
        assert b"SECRET-MARKER" not in full
        assert b"SECRET-MARKER" not in body_of(logged_in(bob).get(f"/files/{attachment.pk}/thumb/"))


def test_an_animated_gif_keeps_its_frames_and_its_thumbnail_is_the_first(people, room):
    _, alice, bob = people
    send(logged_in(alice), room, upload("dance.gif", animated_gif(), "image/gif"))
    attachment = only_attachment()
    full = opened(logged_in(bob).get(f"/files/{attachment.pk}/dance.gif"))
    assert (full.format, full.n_frames, full.info["duration"]) == ("GIF", 3, 100)
    thumb = opened(logged_in(bob).get(f"/files/{attachment.pk}/thumb/")).convert("RGB")
    red, green, blue = thumb.getpixel((30, 20))
    assert red > 200 and green < 60 and blue < 60  # the first frame is red


def test_a_decompression_bomb_is_refused_with_a_clear_message_and_nothing_is_kept(people, room, media):
    _, alice, _ = people
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, "PNG")  # 400 megapixels in about 50 kB
    assert len(bomb.getvalue()) < 100_000
    response = send(signed_in_client(alice), room, upload("bomb.png", bomb.getvalue()))
    assert response.status_code == 400
    assert "“bomb.png” is too large an image to show (at most 60 megapixels" in response.content.decode()
    assert not Message.objects.exists() and stored_files(media) == []


def test_an_image_named_otherwise_is_recognised_by_its_content_and_a_fake_one_is_not(people, room):
    _, alice, bob = people
    send(logged_in(alice), room, upload("notes.txt", png((30, 30)), "text/plain"))
    send(logged_in(alice), room, upload("photo.png", b"\x89PNG\r\n\x1a\n but not really", "image/png"))
    real, fake = Attachment.objects.order_by("pk")
    assert (real.is_image, real.content_type) == (True, "image/png")
    assert (fake.is_image, fake.content_type, bool(fake.thumbnail)) == (False, "application/octet-stream", False)
    assert logged_in(bob).get(f"/files/{fake.pk}/thumb/").status_code == 404


# Other files --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("report.pdf", b"%PDF-1.7\n% a document\n"),
        ("page.html", b"<!doctype html><script>alert(document.cookie)</script>"),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    ],
)
def test_other_files_are_downloaded_never_shown_inline(people, room, name, data):
    _, alice, bob = people
    send(logged_in(alice), room, upload(name, data, "text/html"))
    attachment = only_attachment()
    assert (attachment.is_image, attachment.size) == (False, len(data))
    page = logged_in(bob).get(room.get_absolute_url()).content.decode()
    assert f'<a class="attachment-file" href="/files/{attachment.pk}/{name}" download="{name}">{name}</a>' in page
    assert f'<span class="attachment-size">{len(data)}\xa0bytes</span>' in page
    response = logged_in(bob).get(f"/files/{attachment.pk}/{name}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert body_of(response) == data  # kept as sent


def test_a_japanese_file_name_is_kept_readable_and_downloads_under_its_name(people, room):
    _, alice, bob = people
    decomposed = unicodedata.normalize("NFD", "議事録\u202eがぎ.txt")  # as macOS sends it, with a direction override
    send(logged_in(alice), room, upload(decomposed, "会議".encode()))
    attachment = only_attachment()
    assert attachment.name == "議事録がぎ.txt"
    response = logged_in(bob).get(f"/files/{attachment.pk}/{attachment.name}")
    assert "filename*=utf-8''%E8%AD%B0%E4%BA%8B%E9%8C%B2" in response["Content-Disposition"]
    assert body_of(response) == "会議".encode()


def test_a_file_over_the_size_limit_is_refused_with_its_name_and_the_limit(people, room, settings, media):
    _, alice, _ = people
    settings.CHAT_MAX_UPLOAD_BYTES = 1000
    response = send(logged_in(alice), room, upload("big.bin", b"x" * 2048), upload("small.txt", b"ok"))
    text = response.content.decode()
    assert response.status_code == 200  # htmx swaps the form with its error in (it swaps no 4xx)
    assert "“big.bin” is 2.0\xa0KB: files can be at most 1000\xa0bytes." in text
    assert 'id="attach-files" class="attach-files" open' in text
    plain = send(signed_in_client(alice), room, upload("big.bin", b"x" * 2048))
    assert plain.status_code == 400 and "“big.bin” is 2.0\xa0KB" in plain.content.decode()
    assert not Message.objects.exists() and stored_files(media) == []


def test_too_many_files_or_none_are_refused(people, room, settings):
    _, alice, _ = people
    settings.CHAT_MAX_ATTACHMENTS = 2
    files = [upload(f"{n}.txt", b"n") for n in range(3)]
    refused = send(logged_in(alice), room, *files).content.decode()
    assert "You can send at most 2 files at once (you chose 3)." in refused
    assert "Choose at least one file to send." in send(logged_in(alice), room, message="no files").content.decode()
    assert not Message.objects.exists()


def test_a_form_with_nothing_but_a_file_is_sent(people, room):
    _, alice, _ = people
    response = signed_in_client(alice).post(f"/chat/{room.slug}/attachments/", {"upload": upload("a.txt", b"a")})
    assert response.status_code == 302 and Message.objects.get().body == ""


def test_a_retried_upload_is_stored_once(people, room, media):
    _, alice, _ = people
    client_id = str(uuid.uuid4())
    for _ in range(2):
        send(logged_in(alice), room, upload("a.txt", b"once"), client_id=client_id)
    assert Message.objects.count() == 1 and Attachment.objects.count() == 1
    assert len(stored_files(media)) == 1  # the second copy left storage again


# Who gets them ------------------------------------------------------------------


def test_a_non_member_and_a_signed_out_visitor_get_404_for_the_file_and_its_thumbnail(people, closed):
    owner, member, stranger = people
    send(logged_in(member), closed, upload("plan.png", png((40, 40))))
    attachment = only_attachment()
    urls = [f"/files/{attachment.pk}/plan.png", f"/files/{attachment.pk}/thumb/"]
    for url in urls:
        assert logged_in(owner).get(url).status_code == 200
        assert logged_in(stranger).get(url).status_code == 404
        assert Client().get(url).status_code == 404  # not a login redirect: nothing says the file exists
    assert send(logged_in(stranger), closed, upload("x.txt", b"x")).status_code == 404
    assert Attachment.objects.count() == 1


async def test_a_file_reaches_open_pages_live_in_the_message_frame(people, room):
    _, alice, bob = people
    page, _, _ = await open_socket(room.slug, bob)
    await drain(page)
    alices = await sync_to_async(logged_in)(alice)
    response = await sync_to_async(send)(alices, room, upload("cat.png", png((80, 60))), message="猫")
    assert response.status_code == 200
    frame = await receive_until(page, "attachment-image")
    attachment = await Attachment.objects.aget()
    assert "猫" in frame and f'<img src="/files/{attachment.pk}/thumb/" width="80" height="60"' in frame
    await page.disconnect()


def test_with_x_accel_redirect_the_view_checks_access_and_names_the_stored_file_for_nginx(people, closed, settings):
    owner, member, stranger = people
    settings.CHAT_FILES_SENDFILE = "x-accel-redirect"
    send(logged_in(member), closed, upload("page.html", b"<p>hi</p>"))
    attachment = only_attachment()
    response = logged_in(owner).get(f"/files/{attachment.pk}/page.html")
    assert response.status_code == 200 and response.content == b""  # nginx sends the file
    assert response["X-Accel-Redirect"] == f"/protected-files/{attachment.file.name}"
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="page.html"'
    assert logged_in(stranger).get(f"/files/{attachment.pk}/page.html").status_code == 404


# Without JavaScript, deleting, and the request size ---------------------------


def test_without_javascript_an_upload_redirects_to_the_room_at_the_message(people, room):
    _, alice, _ = people
    browser = signed_in_client(alice)
    assert 'enctype="multipart/form-data"' in browser.get(room.get_absolute_url()).content.decode()
    response = send(browser, room, upload("notes.txt", b"hello"), message="see @bob")
    message = Message.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{room.get_absolute_url()}#message-{message.pk}"
    page = browser.get(response["Location"]).content.decode()
    assert "notes.txt" in page and 'data-user="' in page  # the file, and the mention in its text
    assert browser.get(f"/chat/{room.slug}/attachments/").status_code == 200  # the form on a page of its own


def test_deleting_a_message_removes_its_files_from_storage(people, room, media):
    _, alice, bob = people
    send(logged_in(alice), room, upload("a.png", png((30, 30))), upload("b.txt", b"b"))
    message = Message.objects.get()
    pks = list(Attachment.objects.values_list("pk", flat=True))
    assert len(stored_files(media)) == 3  # two files and a thumbnail
    assert logged_in(alice).post(f"/chat/{room.slug}/messages/{message.pk}/delete/").status_code == 200
    assert not Attachment.objects.exists() and stored_files(media) == []
    for pk in pks:
        assert logged_in(bob).get(f"/files/{pk}/thumb/").status_code == 404
        assert logged_in(bob).get(f"/files/{pk}/a.png").status_code == 404
    assert "message deleted" in logged_in(bob).get(room.get_absolute_url()).content.decode()


def test_a_rolled_back_delete_keeps_the_files(people, room, media):
    _, alice, _ = people
    send(logged_in(alice), room, upload("keep.txt", b"keep"))
    message = Message.objects.get()
    with pytest.raises(RuntimeError):
        from django.db import transaction

        with transaction.atomic():
            services.delete_message(message, alice)
            raise RuntimeError("rolled back")
    assert Attachment.objects.count() == 1 and len(stored_files(media)) == 1


@pytest.mark.live
def test_the_server_refuses_a_request_body_over_its_limit(tmp_path):
    db = tmp_path / "chat.sqlite3"
    env = server_env(db, CHAT_MAX_REQUEST_BYTES="100000")
    migrate(env)
    server = Daphne(env, tmp_path).start()
    try:
        request = urllib.request.Request(f"{server.url}/accounts/login/", data=b"x" * 200_000, method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 413
        small = urllib.request.Request(f"{server.url}/accounts/login/", data=b"x" * 1000, method="POST")
        with pytest.raises(urllib.error.HTTPError) as passed:
            urllib.request.urlopen(small, timeout=10)
        assert passed.value.code == 403  # reached Django (no CSRF token), not refused by size
    finally:
        server.stop()
