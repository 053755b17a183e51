from django import forms
from django.contrib.auth.forms import UserCreationForm

from .models import Room

MESSAGE_MAX_LENGTH = 2000


class RoomForm(forms.Form):
    name = forms.CharField(label="Room name", max_length=80, strip=True)

    def __init__(self, *args, room: Room | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.room = room  # the room being renamed, if any

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        others = Room.objects.exclude(pk=self.room.pk) if self.room else Room.objects.all()
        if others.filter(name__iexact=name).exists():
            raise forms.ValidationError("A room with this name already exists.")
        return name


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


class CatchUpForm(forms.Form):
    """What the page already shows, sent by the page each time its socket opens."""

    last_change = forms.IntegerField(min_value=0, required=False)


class SignUpForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ["username"]
