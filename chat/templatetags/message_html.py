"""A message's partial through chat/message_html.py: rendered once per look and state, then its kept copy."""

from django import template
from django.utils.safestring import SafeString

from .. import message_html as kept_html

register = template.Library()


@register.simple_tag
def message_html(message, oob=False) -> SafeString:
    """`{% message_html message %}`: what `{% include "chat/_message.html" %}` renders (oob: swapped out of band)."""
    return kept_html.render(message, oob=bool(oob))
