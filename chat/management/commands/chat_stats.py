"""What the site holds and what each server process is doing now.

    manage.py chat_stats                          rooms, people, messages (from the database)
    manage.py chat_stats --ports 8001 8002        ... and each process's sockets (its /metrics, on 127.0.0.1)
    manage.py chat_stats --metrics http://10.0.0.5:8001/metrics --token ...

/metrics answers this machine, or CHAT_METRICS_TOKEN's bearer (chat/health.py).
"""

from __future__ import annotations

import json
import urllib.request

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from prometheus_client.parser import text_string_to_metric_families

from chat.models import Message, Room

# The per-process figures shown, from chat/metrics.py.
PROCESS_METRICS = {
    "chat_open_sockets": "sockets",
    "chat_rooms_with_sockets": "rooms_with_sockets",
    "chat_messages_stored_total": "messages_stored",
    "chat_deliveries_total": "deliveries",
    "chat_catch_ups_total": "catch_ups",
}


def read_metrics(url: str, token: str = "", timeout: float = 5) -> dict[str, float]:
    """The figures above from one process's /metrics."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        text = response.read().decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in PROCESS_METRICS:
                found[PROCESS_METRICS[sample.name]] = sample.value
    return {name: found[name] for name in PROCESS_METRICS.values() if name in found}


class Command(BaseCommand):
    help = "Rooms, people and messages; with --ports or --metrics, each server process's sockets."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ports", nargs="*", type=int, default=[], help="server processes on 127.0.0.1")
        parser.add_argument("--metrics", nargs="*", default=[], help="/metrics URLs of server processes")
        parser.add_argument("--token", default=settings.CHAT_METRICS_TOKEN, help="default: CHAT_METRICS_TOKEN")
        parser.add_argument("--json", action="store_true", dest="as_json", help="one JSON object instead of lines")

    def handle(self, *args, ports: list[int], metrics: list[str], token: str, as_json: bool, **options) -> None:
        stats: dict = {
            "rooms": Room.objects.count(),
            "people": get_user_model().objects.filter(is_active=True).count(),
            "messages": Message.objects.filter(deleted_at__isnull=True).count(),
            "processes": {},
        }
        for url in [*metrics, *(f"http://127.0.0.1:{port}/metrics" for port in ports)]:
            try:
                stats["processes"][url] = read_metrics(url, token)
            except OSError as error:
                stats["processes"][url] = {"error": str(error)}
        if as_json:
            self.stdout.write(json.dumps(stats, indent=2))
            return
        self.stdout.write(f"rooms: {stats['rooms']}\npeople: {stats['people']}\nmessages: {stats['messages']}")
        for url, figures in stats["processes"].items():
            shown = " ".join(
                f"{name}={value:g}" if isinstance(value, float) else f"{name}: {value}"
                for name, value in figures.items()
            )
            self.stdout.write(f"{url}: {shown}")
        live = [figures["sockets"] for figures in stats["processes"].values() if "sockets" in figures]
        if live:
            self.stdout.write(f"sockets: {sum(live):g} over {len(live)} processes")
