"""A rolling restart with each server process on a host of its own, behind a real nginx on another.

The app hosts, the data host (PostgreSQL, Redis with Sentinel) and nginx's edge host are network namespaces
(conftest.py); nginx terminates TLS with deploy/local.sh's configuration and passes every request and socket
over the bridge to the app hosts' addresses, which name only the site's address in DJANGO_ALLOWED_HOSTS and
trust only nginx's address as a proxy. 180 raw sockets (load.py: they speak the page's protocol, through nginx
over TLS) sit in one room while 20 messages a second are sent into it and each process in turn is stopped
(SIGTERM: it drains, project/drain.py) and started again. Every page must end with every message exactly once,
and be live again within 10 s of its process being stopped.

test_deploy.py runs the same restart with `make deploy-local` on 127.0.0.1, with browsers beside the sockets.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

from .load import Page, reconnect_times, send_at_rate
from .pages import until

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(300)]

SOCKETS_PER_PERSON = 15  # a person may hold 20 sockets per process (CHAT_MAX_SOCKETS_PER_USER): all on one, later
SENDERS = 10  # one page of each of the first ten people
RATE = 20.0  # messages a second into the room
LIVE_AGAIN_SECONDS = 10.0
SETTLE_SECONDS = 4.0  # load before the first stop, between a start and the next stop, after the last


async def test_a_rolling_restart_behind_nginx_on_separate_hosts_loses_and_repeats_nothing(behind_nginx):
    deployment, nginx = behind_nginx
    apps = deployment.apps

    async def sockets(*names: str) -> dict[str, int]:
        """Sockets per process (of those named, else all), as each one's /metrics counts them."""
        asked = names or tuple(apps)
        return {name: int((await asyncio.to_thread(apps[name].metrics))["sockets"]) for name in asked}

    # Through nginx the site's address is an allowed host and its X-Forwarded-Proto is believed: the home page
    # sends a visitor to sign in (a process asked directly over plain HTTP would redirect to HTTPS instead).
    status, headers = await asyncio.to_thread(nginx.get, "/")
    assert status == 302 and headers["Location"].startswith("/accounts/login/"), (status, headers)

    room = deployment.room
    pages = [
        Page(nginx.url, room["slug"], session, f"reader{n}-{k}")
        for n, session in enumerate(room["sessions"])
        for k in range(SOCKETS_PER_PERSON)
    ]
    senders = [pages[n * SOCKETS_PER_PERSON] for n in range(SENDERS)]
    tasks = [asyncio.create_task(page.run()) for page in pages]
    try:
        assert await until(lambda: all(p.live for p in pages), 30), [p.failures for p in pages if p.failures][:5]
        spread = await sockets()
        assert sum(spread.values()) == len(pages) and all(spread.values()), spread  # least_conn used both

        stop_sending = asyncio.Event()
        sending = asyncio.create_task(send_at_rate(senders, RATE, stop_sending))
        await asyncio.sleep(SETTLE_SECONDS)
        stops: list[float] = []
        report = []
        for name, app in apps.items():
            held = (await sockets(name))[name]
            stops.append(time.time())
            await asyncio.to_thread(app.stop)
            drained = time.time() - stops[-1]
            assert app.process is not None and app.process.returncode == 0, app.log()[-2000:]
            assert await until(lambda: all(p.live for p in pages), LIVE_AGAIN_SECONDS + 5), [
                (p.name, p.attempts, p.last_error, p.failures, p.errors) for p in pages if not p.live
            ][:10]
            others = await sockets(*(other for other in apps if other != name))
            assert sum(others.values()) == len(pages), others  # every page came back through nginx to the others
            report.append(f"{name} ({held} sockets) drained and exited in {drained:.2f} s")
            await asyncio.to_thread(app.start)
            await asyncio.sleep(SETTLE_SECONDS)
        stop_sending.set()
        typed = await sending

        # Everything arrives, once.
        assert await until(lambda: not any(p.pending for p in senders), 60), {
            p.name: (len(p.pending), p.errors[-3:]) for p in senders
        }
        stored = await asyncio.to_thread(deployment.stored)
        assert stored == set(range(1, typed + 1)), "every message typed is stored once"
        assert await until(lambda: all(p.seqs[typed] for p in pages), 30)
        failures = [f for p in pages for f in p.failures]
        assert not failures, failures[:10]
        assert not [p.name for p in pages if p.resets]
        received = lost = duplicated = 0
        for page in pages:
            missing, twice = page.check(typed)
            assert not missing and not twice, (page.name, missing[:10], twice[:10])
            received += page.seqs.total()
            lost += len(missing)
            duplicated += len(twice)

        # Every page live again within 10 s of its process being stopped.
        times = [t for p in pages for t in reconnect_times(stops, p.dropped, p.opened)]
        assert len(times) >= len(pages), "each page was moved at least once"
        assert max(times) <= LIVE_AGAIN_SECONDS, max(times)
        final = await sockets()
        assert sum(final.values()) == len(pages), final
        statuses = nginx.statuses()  # of requests done (a socket is logged once closed)
        assert not [status for status in statuses if status >= 500], statuses  # no stop ever reached a page
        print(
            f"\nbehind nginx at {nginx.url}, processes on {', '.join(a.base for a in apps.values())}: "
            f"{len(pages)} pages, sockets per process at first {spread}, at the end {final}\n"
            + "\n".join(report)
            + f"\nmessages typed {typed} at {RATE:g}/s, stored {len(stored)}; received {received}, lost {lost}, "
            f"duplicated {duplicated}\nnginx's answers so far {dict(statuses)}; pages moved {len(times)}; live "
            f"again after a stop: median {statistics.median(times):.2f} s, max {max(times):.2f} s"
        )
    finally:
        for page in pages:
            page.stopping = True
            if page.connected:
                await page.ws.close()
        await asyncio.wait(tasks, timeout=10)
