"""Control: the classic Channels pattern (a channel and a group membership per socket)."""
