"""Sending files (a multipart form: the socket carries no files) and serving them to whoever may see the room.

A file is only ever served by `download` or `thumbnail`, after `rooms.can_see`: a stranger, or someone signed
out, gets 404 as for a room they may not see. Only the four image types go out inline, with the type found
in their content; anything else (HTML, SVG, a script...) goes out as `application/octet-stream` to be saved,
never rendered on this site's origin. With CHAT_FILES_SENDFILE the web server sends the file once the view
has said who may have it (README: "Files").
"""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods, require_safe

from . import attachments, rooms
from .live import events
from .models import Attachment
from .views import HtmxHttpRequest, form_status

# A browser keeps a file a day: its address is never reused (ids are not), and whoever lost access to the
# room had seen it already.
CACHE_CONTROL = "private, max-age=86400"
# Even if a file were rendered here, it could run nothing and load nothing.
FILE_CSP = "default-src 'none'; sandbox"


@login_required
@require_http_methods(["GET", "POST"])
def attach(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Files, with an optional text, as a new message. htmx gets a fresh form back (the message itself comes over
    the socket, as everyone's does); a browser without JavaScript goes back to the room, at the message."""
    room = rooms.room_or_404(request.user, slug)
    posted = request.method == "POST"
    form = attachments.AttachmentForm(
        request.POST if posted else None, request.FILES if posted else None, user=request.user
    )
    if posted and form.is_valid():
        data = form.cleaned_data
        result = attachments.post_with_files(room, request.user, data["message"], data["prepared"], data["client_id"])
        if result.created:  # a retried form was already published
            events.publish_new_message(result.message)
        if request.htmx:
            return render(request, "chat/_attach_form.html", {"room": room})
        return redirect(f"{room.get_absolute_url()}#message-{result.message.pk}")
    context = {"room": room, "attach_form": form}
    if request.htmx:  # htmx swaps no 4xx answer (its default responseHandling): the refusal must reach the form
        return render(request, "chat/_attach_form.html", context)
    return render(request, "chat/attach.html", context, status=form_status(form))


@require_safe
def download(request: HttpRequest, pk: int, name: str) -> HttpResponseBase:
    """The file as sent (an image: as stored, without its metadata). `name` is for the address bar and the
    browser's "save as"; the stored name is what counts."""
    attachment = _visible(request, pk)
    inline = attachment.is_image
    return _send(attachment.file, attachment.content_type, attachment.name, inline=inline)


@require_safe
def thumbnail(request: HttpRequest, pk: int) -> HttpResponseBase:
    attachment = _visible(request, pk)
    if not attachment.thumbnail:
        raise Http404("No thumbnail.")
    return _send(attachment.thumbnail, "image/webp", attachment.name, inline=True)


def _visible(request: HttpRequest, pk: int) -> Attachment:
    """The attachment if the user may see its room (its message not deleted: then its rows are gone too)."""
    attachment = Attachment.objects.select_related("message__room").filter(pk=pk).first()
    if (
        attachment is None
        or not request.user.is_authenticated
        or not rooms.can_see(attachment.message.room, request.user)
    ):
        raise Http404("No such file.")
    return attachment


def _send(stored: FieldFile, content_type: str, name: str, inline: bool) -> HttpResponseBase:
    response: HttpResponseBase
    if settings.CHAT_FILES_SENDFILE == "x-accel-redirect":
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = settings.CHAT_FILES_ACCEL_PREFIX + quote(stored.name or "")
    elif settings.CHAT_FILES_SENDFILE == "x-sendfile":
        response = HttpResponse(content_type=content_type)
        response["X-Sendfile"] = stored.path  # a local path: FileSystemStorage only
    else:
        response = FileResponse(stored.open("rb"), content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(not inline, name) or "attachment"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = CACHE_CONTROL
    return response
