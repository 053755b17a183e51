"""Times as the reader reads them: in their zone and language (chat/looks.py), with the date when not today.

`<time datetime>` carries the instant in UTC ISO 8601 whatever the reader's zone, so that the markup of a time
differs between looks only in its text.
"""

from datetime import UTC, datetime

from django import template
from django.utils import dateformat, timezone
from django.utils.translation import pgettext

register = template.Library()


@register.filter
def utc_iso(moment: datetime) -> str:
    """ "2026-11-27T05:04:03Z" """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@register.filter
def shown_time(moment: datetime) -> str:
    """ "14:05" today; "Nov 26, 14:05" another day this year; "Nov 26, 2025, 14:05" before (in Japanese
    "11月26日 14:05", "2025年11月26日 14:05"). As of when it is rendered, like the day separators."""
    local = timezone.localtime(moment)
    today = timezone.localdate()
    if local.date() == today:
        fmt = pgettext("time of a message sent today (PHP date format)", "H:i")
    elif local.year == today.year:
        fmt = pgettext("time of a message sent this year, not today (PHP date format)", "M j, H:i")
    else:
        fmt = pgettext("time of a message sent in another year (PHP date format)", "M j, Y, H:i")
    return dateformat.format(local, fmt)


@register.filter
def full_time(moment: datetime) -> str:
    """The tooltip: date, time to the second and the zone's name ("2026-11-27 14:05:09 Asia/Tokyo"; not its
    abbreviation, which is ambiguous: CST, IST)."""
    zone = timezone.get_current_timezone_name()
    return f"{dateformat.format(timezone.localtime(moment), 'Y-m-d H:i:s')} {zone}"
