"""The log's day separators (log_layout.py)."""

from datetime import datetime, timedelta

from django import template
from django.utils import formats, timezone
from django.utils.translation import gettext

register = template.Library()


@register.filter
def day_label(moment: datetime) -> str:
    """ "Today", "Yesterday", else the date: as of when the message is rendered."""
    day, today = timezone.localdate(moment), timezone.localdate()
    if day == today:
        return gettext("Today")
    if day == today - timedelta(days=1):
        return gettext("Yesterday")
    return formats.date_format(day, "DATE_FORMAT")
