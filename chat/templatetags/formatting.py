"""What templates ask about a message's text: as typed, and as formatted (chat/formatting.py)."""

from django import template

from .. import formatting

register = template.Library()


@register.filter
def has_line_breaks(text: str) -> bool:
    """A message on several lines is edited in a textarea: an input would join its lines."""
    return "\n" in text


@register.filter
def is_blocks(html: str) -> bool:
    """Formatted HTML of several blocks goes in a <div>; the text of one paragraph in the usual <p>."""
    return formatting.is_blocks(html)
