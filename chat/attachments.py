"""Files attached to messages: what is accepted, how it is stored, and when it goes.

A message with files is sent through a multipart form (the socket carries no files; attachment_views.py)
and stored by `post_with_files` through `services.post_message`, the socket's own path, so it is the
room's next change like any other message and reaches every page in the same frame (the message partial
includes `_attachments.html`). Files are kept through Django's storage API (settings.STORAGES: a local
directory by default, S3-compatible storage through django-storages) under names of ours, never the
sender's. Images are made safe to show by images.py; everything else is kept as sent and only ever
downloaded. A deleted attachment row takes its files out of storage once its transaction commits.
"""

from __future__ import annotations

import secrets
import unicodedata
import uuid
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import images, limits, message_display, services, text
from .forms import MESSAGE_MAX_LENGTH, RATE_LIMITED
from .models import Attachment, Message, Room

OTHER_TYPE = "application/octet-stream"
NAME_MAX_LENGTH = 200  # characters kept of a file's name (its extension kept whole)


def clean_name(raw: str) -> str:
    """The sender's file name as shown and downloaded: its last path part, in NFC (macOS sends names
    decomposed: が as か and a combining mark), without control or direction characters (so that
    "photo\u202egnp.exe" cannot pass for "photo.exe.png"), never empty, "." or "..", at most NAME_MAX_LENGTH."""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = " ".join(text.HIDDEN_IN_NAME.sub("", name).split())
    if not name.strip("."):
        return "file"
    if len(name) > NAME_MAX_LENGTH:
        stem, dot, extension = name.rpartition(".")
        extension = dot + extension if stem and len(extension) < 16 else ""
        name = name[: NAME_MAX_LENGTH - len(extension)] + extension
    return name


@dataclass(frozen=True)
class Prepared:
    """A file as it will be stored: an image re-encoded (images.CleanImage), anything else as sent."""

    name: str
    upload: UploadedFile
    image: images.CleanImage | None

    @property
    def content_type(self) -> str:
        return self.image.content_type if self.image else OTHER_TYPE


def prepare(upload: UploadedFile) -> Prepared:
    """Raises ValidationError for an image too large to decode."""
    name = clean_name(upload.name or "")
    return Prepared(name, upload, images.clean_image(upload, name))


# The form ----------------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files under one name (Django's documented recipe): a list, each checked as a FileField."""

    widget = MultipleFileInput

    def clean(self, data, initial=None) -> list[UploadedFile]:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        if not files and self.required:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        return [super(MultipleFileField, self).clean(file, initial) for file in files]


class AttachmentForm(forms.Form):
    """Files and an optional text, from the upload form. Cheap checks first (count, sizes, the sender's rate),
    then the images are decoded: `prepared` holds what to store."""

    upload = MultipleFileField(error_messages={"required": _("Choose at least one file to send.")})
    message = forms.CharField(
        max_length=MESSAGE_MAX_LENGTH,
        strip=True,
        required=False,
        error_messages={
            "max_length": _("Messages can be at most %(limit_value)d characters (this one has %(show_value)d)."),
        },
    )
    client_id = forms.UUIDField(required=False)

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_message(self) -> str:
        message = self.cleaned_data["message"]
        return message if text.has_visible_text(message) else ""  # the files are the message

    def clean(self):
        cleaned = self.cleaned_data
        files = cleaned.get("upload")
        if not files or self.errors:
            return cleaned
        if len(files) > settings.CHAT_MAX_ATTACHMENTS:
            raise forms.ValidationError(too_many(len(files)), code="too_many")
        if oversized := [file for file in files if file.size and file.size > settings.CHAT_MAX_UPLOAD_BYTES]:
            raise forms.ValidationError([too_big(file) for file in oversized])
        if not limits.allow(f"upload:{self.user.pk}", settings.CHAT_UPLOADS_PER_HOUR, settings.CHAT_UPLOADS_BURST):
            raise forms.ValidationError(
                _("You have sent many files in a short time. Wait a while before sending more."), code=RATE_LIMITED
            )
        cleaned["prepared"] = [prepare(file) for file in files]
        return cleaned


def too_many(count: int) -> str:
    most = settings.CHAT_MAX_ATTACHMENTS
    return ngettext(
        "You can send at most %(most)d file at once (you chose %(count)d).",
        "You can send at most %(most)d files at once (you chose %(count)d).",
        most,
    ) % {"most": most, "count": count}


def too_big(file: UploadedFile) -> forms.ValidationError:
    return forms.ValidationError(
        _("“%(name)s” is %(size)s: files can be at most %(limit)s."),
        code="too_big",
        params={
            "name": clean_name(file.name or ""),
            "size": filesizeformat(file.size or 0),
            "limit": filesizeformat(settings.CHAT_MAX_UPLOAD_BYTES),
        },
    )


# Storing ------------------------------------------------------------------------


def post_with_files(
    room: Room, author, body: str, prepared: list[Prepared], client_id: uuid.UUID | None = None
) -> services.PostResult:
    """A new message with its files, as the room's next change; a repeated (author, client_id) returns the stored
    one and keeps nothing new.

    The files are written to storage before the transaction (which, on SQLite, holds the database's write
    lock: an upload to S3 must not), and removed again if it fails or the message already existed."""
    unsaved = [_store(item) for item in prepared]
    try:
        with transaction.atomic():
            result = services.post_message(room, author, body, client_id)
            if result.created:
                for attachment in unsaved:
                    attachment.message = result.message
                Attachment.objects.bulk_create(unsaved)
    except Exception:
        _remove(unsaved)
        raise
    if not result.created:
        _remove(unsaved)
    # Read back with what the partial shows, attachments included (an upload is rare; a socket send is not).
    return services.PostResult(
        message_display.with_display(Message.objects.filter(pk=result.message.pk))[0], result.created
    )


def _store(item: Prepared) -> Attachment:
    """An unsaved Attachment whose files are already in storage, under random names."""
    token = secrets.token_hex(16)
    attachment = Attachment(name=item.name, content_type=item.content_type, is_image=item.image is not None)
    if item.image is None:
        attachment.size = item.upload.size or 0
        attachment.file.save(token, item.upload, save=False)
        return attachment
    image = item.image
    attachment.size = len(image.data)
    attachment.width, attachment.height = image.width, image.height
    attachment.thumb_width, attachment.thumb_height = image.thumb_width, image.thumb_height
    attachment.file.save(token + images.EXTENSIONS[image.content_type], ContentFile(image.data), save=False)
    attachment.thumbnail.save(token + ".webp", ContentFile(image.thumbnail), save=False)
    return attachment


def _remove(attachments: list[Attachment]) -> None:
    for attachment in attachments:
        for stored in (attachment.file, attachment.thumbnail):
            if stored:
                stored.storage.delete(stored.name)


@receiver(post_delete, sender=Attachment)
def _remove_after_commit(sender, instance: Attachment, **kwargs) -> None:
    """However the row goes (its message deleted, the room or the author deleted), its files leave storage once
    the deleting transaction commits; a rolled-back delete keeps them."""
    transaction.on_commit(lambda: _remove([instance]))
