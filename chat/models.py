from django.conf import settings
from django.db import models
from django.urls import reverse

# The reactions offered under every message.
REACTIONS = ("👍", "❤️", "😂", "🎉", "😮")


class Room(models.Model):
    """A room: open (every account sees it), closed (its members only) or direct (2 to 8 people, no name)."""

    class Kind(models.TextChoices):
        OPEN = "open", "Open: everyone can see and join it"
        CLOSED = "closed", "Closed: only the members it is shared with"
        DIRECT = "direct", "Direct conversation"

    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.OPEN)
    name = models.CharField(max_length=80, blank=True)  # unique among named rooms (see Meta); "" for direct ones
    slug = models.SlugField(max_length=100, unique=True, allow_unicode=True)
    # A direct room's people, as their sorted ids ("3-7-12"): one conversation per set of people.
    direct_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    # Who created it (a room admin from the start: Membership.role).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="rooms_created"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_activity_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Number of the room's newest message: messages are numbered 1, 2, 3... per room.
    last_seq = models.PositiveBigIntegerField(default=0)
    # Number of the room's newest change (a new, edited or deleted message, or a
    # reaction): the stream a page follows, so that it can catch up on anything.
    last_change = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-last_activity_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["name"], condition=~models.Q(kind="direct"), name="room_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name or f"direct {self.direct_key}"

    def get_absolute_url(self) -> str:
        return reverse("chat:room", kwargs={"slug": self.slug})

    @property
    def is_direct(self) -> bool:
        return self.kind == Room.Kind.DIRECT

    def is_admin(self, user) -> bool:
        """Room admins (the creator and whom admins name) and the site admin rename a room, add and remove
        its members and delete anyone's messages; a direct conversation has no admin."""
        if not user.is_authenticated or self.is_direct:
            return False
        if user.is_superuser:
            return True
        return Membership.objects.filter(room=self, user=user, role=Membership.Role.ADMIN).exists()


class Message(models.Model):
    class Kind(models.TextChoices):
        TEXT = "text", "Message"
        # Membership changes are room changes: they reach pages, and pages catch up on them, like messages.
        ADDED = "added", "Added a member"
        REMOVED = "removed", "Removed a member"
        LEFT = "left", "Left"

    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TEXT)
    # For a membership change: whom it concerns (the author is who made it).
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages")
    body = models.TextField(max_length=2000)
    # The body as shown: its Markdown rendered once when stored or edited, sanitized (chat/formatting.py).
    body_html = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    seq = models.PositiveBigIntegerField()
    # The room change that created the message, and the latest one that touched it.
    created_change = models.PositiveBigIntegerField()
    change = models.PositiveBigIntegerField()
    # Chosen by the composer that sent it, so that a retried send is stored once.
    client_id = models.UUIDField(null=True, blank=True)
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="mentioned_in")

    # What the partial shows besides the fields, set by message_display.add_display (not stored).
    parts: list
    mention_ids: str
    reaction_counts: list
    reacted: bool  # someone reacted
    continues: bool  # log_layout.place: drawn under the one before, without a header
    new_day: bool  # log_layout.place: opens with a day separator
    previous_in_room: "Message | None"  # log_layout.place: read once, for every look the message is rendered in
    files: list  # its Attachments (attachments.py)

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_unique_room_seq"),
            models.UniqueConstraint(fields=["room", "change"], name="message_unique_room_change"),
            models.UniqueConstraint(fields=["author", "client_id"], name="message_unique_author_client_id"),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq} {self.author_id}: {self.body[:40]}"


class Attachment(models.Model):
    """A file sent with a message (chat/attachments.py): kept through Django's storage API under a name of
    ours, served only to people who may see the room (chat/attachment_views.py)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="attachments/%Y/%m/", max_length=255)
    # The name the sender's file had (cleaned): shown, and the name a download is saved under.
    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    # Detected from the content for the four image types shown inline; application/octet-stream for the rest.
    content_type = models.CharField(max_length=100)
    is_image = models.BooleanField(default=False)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    thumbnail = models.FileField(upload_to="attachments/thumbs/%Y/%m/", max_length=255, null=True, blank=True)
    thumb_width = models.PositiveIntegerField(null=True, blank=True)
    thumb_height = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.name} on {self.message_id}"


class Reaction(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reactions")
    emoji = models.CharField(max_length=8, choices=[(e, e) for e in REACTIONS])

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "user", "emoji"], name="reaction_once_per_user")]

    def __str__(self) -> str:
        return f"{self.emoji} by {self.user_id} on {self.message_id}"


class Membership(models.Model):
    """A user's place in a room: listed in their sidebar, with how far they have read. In a closed or
    direct room it is also what lets them see it."""

    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        ADMIN = "admin", "Room admin"

    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    last_read_seq = models.PositiveBigIntegerField(default=0)
    # The newest message a page of the user showed live (recorded when that page closes or the
    # user opens the room elsewhere). Opening a room moves last_read_seq at once; this moves only
    # with what pages showed, so a page loaded before its predecessor closed can tell what was
    # seen there (live/reading.py).
    shown_seq = models.PositiveBigIntegerField(default=0)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "room"], name="membership_once")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.room_id}, read to {self.last_read_seq}"


class Profile(models.Model):
    """What others see of a person besides their username."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    display_name = models.CharField(max_length=50)
    # Blank: the browser's language (Accept-Language) and the site's zone (settings.TIME_ZONE). chat/looks.py.
    language = models.CharField(max_length=10, blank=True, choices=settings.LANGUAGES)
    time_zone = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return self.display_name


class JoinLink(models.Model):
    """The site's invitation: /join/<code>/ lets a new person sign up. One row; regenerating replaces the code."""

    code = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"join link of {self.created_at:%Y-%m-%d}"
