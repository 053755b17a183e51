"""How an unread count reads on the page: exactly up to 99, then "99+"."""

from django import template

from ..memberships import UNREAD_COUNTED

register = template.Library()


@register.filter
def unread_count(count: int) -> str:
    """Counts stop at UNREAD_COUNTED (the sidebar query counts no further), so from there on the page says "99+"."""
    return f"{UNREAD_COUNTED - 1}+" if count >= UNREAD_COUNTED else str(count)
