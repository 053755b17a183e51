"""The live chat: how room changes, presence, typing and badges reach open pages.

One module per feature, each owning its state, its events and its frames
(docs/architecture.md has the tables and a walk-through):

- hub.py: the process's channel-layer channel, its group memberships and local
  sockets; reads events and dispatches each by its `type` to the features.
- events.py: every event that crosses the channel layer.
- frames.py: every frame the server sends a page.
- feed.py: one page's feed: what it shows, what is on its way (a state machine).
- writer.py: the process's writer task.
- changes.py: room changes to pages; shared catch-ups; filling in what the layer lost.
- presence.py, typing.py, sidebar.py, heartbeat.py, sessions.py, reading.py: the features.
"""
