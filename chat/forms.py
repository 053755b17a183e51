from typing import cast

from django import forms
from django.contrib.auth.forms import UserCreationForm

from . import limits, text
from .models import Message, Room

# From the model field: the form, the socket and the pages' inputs (templatetags/limits.py) share it.
MESSAGE_MAX_LENGTH = cast(int, Message._meta.get_field("body").max_length)
# The error code of a form refused by a rate limit (answered with 429).
RATE_LIMITED = "rate_limited"


class RoomForm(forms.Form):
    name = forms.CharField(label="Room name", max_length=80, strip=True)

    def __init__(self, *args, room: Room | None = None, creator=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.room = room  # the room being renamed, if any
        self.creator = creator  # who creates a new room, if that is what this form does

    def clean_name(self) -> str:
        name = text.clean_name(self.cleaned_data["name"], "A room name")
        others = Room.objects.exclude(pk=self.room.pk) if self.room else Room.objects.all()
        if others.filter(name__iexact=name).exists():
            raise forms.ValidationError("A room with this name already exists.")
        return name

    def clean(self):
        if self.creator is not None and not self.errors and not limits.allow_new_room(self.creator.pk):
            raise forms.ValidationError(
                "You have created many rooms in a short time. Wait a while before creating another.", code=RATE_LIMITED
            )
        return super().clean()


class MessageForm(forms.Form):
    """The composer's fields as they arrive over the socket."""

    message = forms.CharField(
        max_length=MESSAGE_MAX_LENGTH,
        strip=True,
        error_messages={
            "required": "Type a message before sending.",
            "max_length": "Messages can be at most %(limit_value)d characters (this one has %(show_value)d).",
        },
    )
    client_id = forms.UUIDField(required=False)

    def clean_message(self) -> str:
        message = self.cleaned_data["message"]
        if not text.has_visible_text(message):
            raise forms.ValidationError(self.fields["message"].error_messages["required"], code="required")
        return message


class CatchUpForm(forms.Form):
    """What the page already shows, sent by the page each time its socket opens."""

    last_change = forms.IntegerField(min_value=0, required=False)
    # The message its "New messages" divider follows (none: no divider).
    unread_after = forms.IntegerField(min_value=0, required=False)


class SignUpForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):  # type: ignore[name-defined]  # django-stubs does not declare it
        fields = ["username"]

    def __init__(self, *args, address: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.address = address  # where the request came from (limits.client_address)

    def clean_username(self) -> str:
        self.cleaned_data["username"] = text.clean_name(self.cleaned_data["username"], "A username")
        return super().clean_username()  # refuses a name taken in another case too

    def clean(self):
        if not self.errors and not limits.allow_sign_up(self.address):
            raise forms.ValidationError(
                "Many accounts were created from your network just now. Wait a few minutes and try again.",
                code=RATE_LIMITED,
            )
        return super().clean()
