"""What the upload form shows: a fresh client id of its own, and the limits the form enforces."""

import uuid

from django import template
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import ngettext

from .. import services

register = template.Library()


@register.simple_tag
def new_client_id() -> uuid.UUID:
    """The upload form's own (the composer's is another): a retried upload is stored once."""
    return services.new_client_id()


@register.simple_tag
def upload_limits() -> str:
    most = settings.CHAT_MAX_ATTACHMENTS
    return ngettext(
        "Up to %(most)d file of at most %(size)s.",
        "Up to %(most)d files, each at most %(size)s.",
        most,
    ) % {"most": most, "size": filesizeformat(settings.CHAT_MAX_UPLOAD_BYTES)}
