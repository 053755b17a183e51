from django.conf import settings
from django.db import models
from django.urls import reverse


class Room(models.Model):
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=100, unique=True, allow_unicode=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="rooms_created"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_activity_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Sequence number of the room's newest message; bumped in the same
    # transaction as each insert, so that every room's messages are 1, 2, 3...
    last_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-last_activity_at", "-pk"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("chat:room", kwargs={"slug": self.slug})


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages")
    body = models.TextField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    seq = models.PositiveBigIntegerField()
    # Chosen by the composer that sent it, so that a retried send is stored once.
    client_id = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_unique_room_seq"),
            models.UniqueConstraint(fields=["author", "client_id"], name="message_unique_author_client_id"),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq} {self.author_id}: {self.body[:40]}"
