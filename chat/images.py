"""Images sent as attachments, made safe to show: recognised by content, upright, without metadata, thumbnailed.

Pillow reads only the four formats the log shows inline (PNG, JPEG, GIF, WebP: `Image.open(formats=...)`),
whatever the file's name or the type the browser claims. Each image is decoded and stored again: without its
metadata (a phone photo's EXIF says where it was taken), upright (the EXIF orientation applied, since the
tag goes with the rest), and with a WebP thumbnail of its first frame whose size the log's <img> carries,
so that the log does not jump when it loads. A file Pillow cannot read as one of these is no image: it is
kept as sent, and only ever downloaded.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

FORMATS = ["PNG", "JPEG", "GIF", "WEBP"]
# The type each is served as, by the format Pillow reports. MPO is how Pillow reads a JPEG that holds
# several pictures (some cameras add a depth map): stored as a JPEG of its first.
CONTENT_TYPES = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}
EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp"}
# Thumbnails fit in this box: the log shows them at most 20rem (320 CSS px) wide, sharp on 2x screens.
THUMB_BOX = (640, 480)
# check_size refuses anything over CHAT_MAX_IMAGE_PIXELS right after Pillow reads the size; Pillow's own
# check (MAX_IMAGE_PIXELS, set to the same number) raises at twice it and only warns below that.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


@dataclass(frozen=True)
class CleanImage:
    """An image as it is stored: re-encoded without metadata, with its thumbnail."""

    content_type: str
    data: bytes
    width: int
    height: int
    thumbnail: bytes
    thumb_width: int
    thumb_height: int


def too_large(name: str) -> ValidationError:
    megapixels = settings.CHAT_MAX_IMAGE_PIXELS / 1_000_000
    return ValidationError(
        _("“%(name)s” is too large an image to show (at most %(megapixels)g megapixels, over all its frames)."),
        code="image_too_large",
        params={"name": name, "megapixels": megapixels},
    )


def clean_image(file: IO[bytes], name: str) -> CleanImage | None:
    """The image re-encoded with its thumbnail; None when the file is not one of the four formats (or cannot be
    decoded as one). Raises ValidationError for an image over CHAT_MAX_IMAGE_PIXELS, before decoding it."""
    Image.MAX_IMAGE_PIXELS = settings.CHAT_MAX_IMAGE_PIXELS
    file.seek(0)
    try:
        with Image.open(file, formats=FORMATS) as image:
            check_size(image, name)
            return _clean(image)
    except Image.DecompressionBombError:
        raise too_large(name) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        # Not an image, or a damaged one (Pillow reports a truncated or corrupt file with these).
        return None


def check_size(image: Image.Image, name: str) -> None:
    """Refuse a decompression bomb from its header: a few bytes can declare gigapixels, or thousands of frames."""
    frames = getattr(image, "n_frames", 1)  # counted from frame headers, without decoding them
    if image.width * image.height * frames > settings.CHAT_MAX_IMAGE_PIXELS:
        raise too_large(name)


def _clean(image: Image.Image) -> CleanImage:
    source = image.format or ""
    animated = source != "MPO" and getattr(image, "n_frames", 1) > 1
    out = io.BytesIO()
    if animated:
        # Every frame, with its timing; no comment, EXIF or XMP. (Animations are drawn as their frames are.)
        image.save(out, source, save_all=True, comment=b"")
        image.seek(0)
        first = image.copy()
    else:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        first = image if orientation == 1 else ImageOps.exif_transpose(image)
        _save_still(first, source, out, untouched=first is image)
    thumb, thumb_size = _thumbnail(first)
    return CleanImage(
        content_type=CONTENT_TYPES[source],
        data=out.getvalue(),
        width=first.width,
        height=first.height,
        thumbnail=thumb,
        thumb_width=thumb_size[0],
        thumb_height=thumb_size[1],
    )


def _save_still(image: Image.Image, source: str, out: io.BytesIO, untouched: bool) -> None:
    """One frame, with its colour profile and transparency but no other metadata (EXIF, XMP, comments, text)."""
    icc = image.info.get("icc_profile")
    if source in ("JPEG", "MPO"):
        # An unrotated JPEG is encoded again with its own quantisation tables: it loses next to nothing.
        keep = untouched and source == "JPEG"
        quality: int | str = "keep" if keep else 90
        options = {"subsampling": "keep"} if keep else {}
        image.save(out, "JPEG", quality=quality, icc_profile=icc, exif=b"", comment=b"", **options)
    elif source == "WEBP":
        image.save(out, "WEBP", quality=90, icc_profile=icc)
    elif source == "GIF":
        image.save(out, "GIF", comment=b"")
    else:
        image.save(out, "PNG", icc_profile=icc)


def _thumbnail(image: Image.Image) -> tuple[bytes, tuple[int, int]]:
    """A WebP of the (first) frame within THUMB_BOX, never enlarged, and its size."""
    thumb = image.convert("RGBA" if image.has_transparency_data else "RGB")
    thumb.thumbnail(THUMB_BOX)
    out = io.BytesIO()
    thumb.save(out, "WEBP", quality=80)
    return out.getvalue(), thumb.size
