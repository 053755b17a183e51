"""Limits the pages' inputs show, from the rules that enforce them."""

from django import template

from ..forms import MESSAGE_MAX_LENGTH

register = template.Library()


@register.simple_tag
def message_max_length() -> int:
    return MESSAGE_MAX_LENGTH
