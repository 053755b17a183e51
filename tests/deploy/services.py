"""What a deployment runs, started by the tests: PostgreSQL, Redis with Sentinel, the chat's processes.

Every process runs on a "host": a network namespace (netns.Network) with an address of its own, or, where
namespaces are not available, this machine's 127.0.0.1 with ports of its own. Nothing here touches the
machine's shared PostgreSQL cluster or its Redis on 6379.
"""

from __future__ import annotations

import glob
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..live import ROOT, free_port
from .load import tls
from .netns import Network

MASTER_NAME = "mymaster"
# Sentinel calls the master down after this long without an answer, then elects a leader and promotes.
DOWN_AFTER_MS = 2000


@dataclass
class Place:
    """Where a process runs: a namespace host of `network` (None: this machine) and the address it listens on."""

    network: Network | None
    host: str | None
    address: str

    def command(self, command: list[str]) -> list[str]:
        return command if self.network is None or self.host is None else self.network.command(self.host, command)


def wait_for(check, limit: float, what: str, period: float = 0.1) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(period)
    raise RuntimeError(f"{what} did not happen within {limit} s")


def stop(process: subprocess.Popen | None, sig: int = signal.SIGTERM, wait: float = 10) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# PostgreSQL -----------------------------------------------------------------------------------------------


class Postgres:
    """A PostgreSQL instance of our own (initdb in a temporary directory, run as the postgres user)."""

    def __init__(self, place: Place) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
        if not found:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = Path(found[-1]).parent
        self.place = place
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="chat-sentinel-pg-"))
        self.process: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        return f"postgres://postgres@{self.place.address}:{self.port}/{database}"

    def start(self) -> Postgres:
        shutil.chown(self.dir, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
        data = str(self.dir / "data")
        init = [*as_postgres, str(self.bin / "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]
        subprocess.run(init, check=True, capture_output=True)
        with open(self.dir / "data" / "pg_hba.conf", "a") as hba:  # the app hosts connect over the bridge
            hba.write("host all all samenet trust\n")
        command = [*as_postgres, str(self.bin / "postgres"), "-D", data, "-k", str(self.dir), "-p", str(self.port)]
        command += ["-h", self.place.address, "-c", "fsync=off", "-c", "synchronous_commit=off"]
        command += ["-c", "full_page_writes=off", "-c", "max_connections=200"]
        log = open(self.dir / "postgres.log", "ab")
        self.process = subprocess.Popen(self.place.command(command), stdout=log, stderr=subprocess.STDOUT)
        isready = str(self.bin / "pg_isready")
        ready = [isready, "-q", "-h", self.place.address, "-p", str(self.port)]
        wait_for(lambda: subprocess.run(ready).returncode == 0, 30, "PostgreSQL starting")
        return self

    def psql(self, sql: str, database: str = "postgres") -> str:
        command = [str(self.bin / "psql"), "-h", self.place.address, "-p", str(self.port), "-U", "postgres"]
        result = subprocess.run([*command, "-d", database, "-tAc", sql], capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"psql {sql!r}: {result.stderr}")
        return result.stdout

    def stop(self) -> None:
        pid_file = self.dir / "data" / "postmaster.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)  # fast shutdown
            except (ProcessLookupError, ValueError):
                pass
        stop(self.process, signal.SIGINT, 20)
        shutil.rmtree(self.dir, ignore_errors=True)


# Redis with Sentinel ----------------------------------------------------------------------------------------


@dataclass
class RedisServer:
    place: Place
    port: int
    dir: Path
    args: list[str]
    process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        log = open(self.dir / f"redis-{self.port}.log", "ab")
        self.process = subprocess.Popen(self.place.command(["redis-server", *self.args]), stdout=log, stderr=log)
        wait_for(lambda: self.call("PING") == "PONG", 10, f"redis on {self.port} answering")
        return self

    def call(self, *command: str) -> str:
        cli = ["redis-cli", "-h", self.place.address, "-p", str(self.port), *command]
        return subprocess.run(cli, capture_output=True, text=True, timeout=5).stdout.strip()


@dataclass
class SentinelCluster:
    """A master, a replica and three sentinels (quorum 2), all on one place with ports of their own."""

    place: Place
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="chat-sentinel-redis-")))
    servers: list[RedisServer] = field(default_factory=list)
    sentinels: list[RedisServer] = field(default_factory=list)

    def start(self) -> SentinelCluster:
        address = self.place.address
        common = ["--bind", address, "--save", "", "--appendonly", "no", "--protected-mode", "no"]
        master_port, replica_port = free_port(), free_port()
        for port, extra in ((master_port, []), (replica_port, ["--replicaof", address, str(master_port)])):
            args = ["--port", str(port), *common, "--dir", str(self.dir), "--replica-announce-ip", address, *extra]
            self.servers.append(RedisServer(self.place, port, self.dir, args).start())
        for _ in range(3):
            port = free_port()
            conf = self.dir / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind {address}\nprotected-mode no\ndir {self.dir}\n"
                f"sentinel announce-ip {address}\n"
                f"sentinel monitor {MASTER_NAME} {address} {master_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER_NAME} 10000\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            self.sentinels.append(RedisServer(self.place, port, self.dir, [str(conf), "--sentinel"]).start())
        wait_for(self.settled, 30, "sentinels seeing the replica and each other")
        return self

    def master_state(self, sentinel: RedisServer) -> dict[str, str]:
        words = sentinel.call("SENTINEL", "MASTER", MASTER_NAME).splitlines()
        return dict(zip(words[::2], words[1::2], strict=False))

    def settled(self) -> bool:
        states = [self.master_state(s) for s in self.sentinels]
        return all(s.get("num-slaves") == "1" and s.get("num-other-sentinels") == "2" for s in states)

    @property
    def sentinel_addresses(self) -> str:
        return ",".join(f"{s.place.address}:{s.port}" for s in self.sentinels)

    def master_port(self) -> int:
        """The master's port as the first sentinel that answers names it."""
        for sentinel in self.sentinels:
            reply = sentinel.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME).split()
            if len(reply) == 2:
                return int(reply[1])
        raise RuntimeError("no sentinel names a master")

    def master(self) -> RedisServer:
        port = self.master_port()
        return next(s for s in self.servers if s.port == port)

    def stop(self) -> None:
        for server in [*self.sentinels, *self.servers]:
            stop(server.process, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


# The chat's processes -----------------------------------------------------------------------------------


SECRET_KEY = "deploy-test-" + uuid.uuid4().hex * 2
METRICS_TOKEN = uuid.uuid4().hex  # /metrics answers other hosts only with it, as to a Prometheus elsewhere
PUBLIC_HOST = "chat.test"  # the site's name, as the proxy forwards it


def app_env(database_url: str, sentinels: str, allowed_hosts: list[str], proxy: str, log_dir: Path) -> dict[str, str]:
    """Production settings (DJANGO_DEBUG=0), as a deployment behind a TLS proxy at `proxy` sets them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_", "CHAT_"))}
    env.update(
        {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": SECRET_KEY,
            "DJANGO_ALLOWED_HOSTS": ",".join([PUBLIC_HOST, *allowed_hosts]),
            "DATABASE_URL": database_url,
            "REDIS_SENTINELS": sentinels,
            "REDIS_SENTINEL_MASTER": MASTER_NAME,
            "CHAT_TRUSTED_PROXIES": proxy,
            "CHAT_METRICS_TOKEN": METRICS_TOKEN,
            "CHAT_MEDIA_ROOT": str(log_dir / "media"),
            "CHAT_HEARTBEAT_SECONDS": "2",
            # The test's senders type far faster than people.
            "CHAT_RATE_PER_SECOND": "1000",
            "CHAT_RATE_BURST": "1000",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "manage.py", *args]
    return subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout


SETUP_SCRIPT = """
import json
from django.contrib.auth import get_user_model
from django.test import Client
from chat import rooms

users = [get_user_model().objects.create_user(f"reader{{i}}", password="a-long-test-password") for i in range({n})]
room = rooms.create_room("Failover", users[0])
sessions = []
for user in users:
    client = Client()
    client.force_login(user)
    sessions.append(client.cookies["sessionid"].value)
print(json.dumps({{"slug": room.slug, "room_id": room.id, "sessions": sessions}}))
"""


def set_up_room(env: dict[str, str], people: int) -> dict:
    """Migrate, then make `people` accounts with a session each and one open room; returns slug, id, sessions."""
    manage(env, "migrate", "--noinput", "-v0")
    return json.loads(manage(env, "shell", "-c", SETUP_SCRIPT.format(n=people)).strip().splitlines()[-1])


class App:
    """One chat process (`python -m project.serve`) on its place."""

    def __init__(self, place: Place, env: dict[str, str], log_dir: Path, port: int | None = None) -> None:
        self.place, self.env = place, env
        self.port = port or free_port()
        # daphne-*.log: the suite's check that no server logged a traceback reads these too.
        self.log_path = log_dir / f"daphne-{place.host or 'local'}-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://{self.place.address}:{self.port}"

    def start(self) -> App:
        command = [sys.executable, "-m", "project.serve", "-b", self.place.address, "-p", str(self.port)]
        command.append("project.asgi:application")
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.place.command(command), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        wait_for(lambda: self.probe("/readyz") == 200, 30, f"{self.base} ready")
        return self

    def probe(self, path: str) -> int:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"app exited: {self.log()}")
        request = urllib.request.Request(self.base + path, headers={"Host": self.place.address})
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0

    def stop(self) -> None:
        """SIGTERM, as systemd stops a process: it drains (project/drain.py) and exits within 5 s."""
        stop(self.process)

    def metrics(self) -> dict[str, float]:
        """This process's figures (sockets, deliveries...), from its /metrics over the network, with the token."""
        from chat.management.commands.chat_stats import read_metrics

        return read_metrics(f"{self.base}/metrics", METRICS_TOKEN)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


# nginx in front -------------------------------------------------------------------------------------------


NGINX = "/usr/sbin/nginx"
LOCAL_SH = ROOT / "deploy" / "local.sh"


class Nginx:
    """Debian's nginx on its place, terminating TLS (a self-signed certificate) in front of the apps at their
    addresses: deploy/nginx-chat.conf as deploy/local.sh fills it in (`local.sh nginx-config`)."""

    def __init__(self, place: Place, apps: list[App], state: Path) -> None:
        self.place, self.apps, self.state = place, apps, state
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"https://{self.place.address}:{self.port}"

    def start(self) -> Nginx:
        if not os.access(NGINX, os.X_OK):
            raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
        upstreams = [f"{app.place.address}:{app.port}" for app in self.apps]
        env = {**os.environ, "DEPLOY_STATE": str(self.state), "PYTHON": sys.executable}
        command = [str(LOCAL_SH), "nginx-config", f"{self.place.address}:{self.port}", *upstreams]
        subprocess.run(command, env=env, check=True, capture_output=True)
        nginx = [NGINX, "-p", str(self.state / "nginx"), "-c", str(self.state / "nginx" / "nginx.conf")]
        subprocess.run(self.place.command([*nginx, "-t", "-q"]), check=True, capture_output=True)
        log = open(self.state / "log" / "nginx.out", "ab")
        self.process = subprocess.Popen(
            self.place.command([*nginx, "-g", "daemon off;"]), stdout=log, stderr=subprocess.STDOUT
        )
        wait_for(lambda: self.get("/readyz")[0] == 200, 15, f"nginx at {self.url} passing /readyz on")
        return self

    def get(self, path: str) -> tuple[int, dict[str, str]]:
        """The status and headers of a GET through nginx (redirects not followed); 0 without an answer."""
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"nginx exited: {(self.state / 'log' / 'nginx-error.log').read_text()}")
        connection = http.client.HTTPSConnection(self.place.address, self.port, timeout=5, context=tls())
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            return response.status, dict(response.getheaders())
        except OSError:
            return 0, {}
        finally:
            connection.close()

    def statuses(self) -> Counter[int]:
        """How many times nginx answered each status, by its access log (101: a socket opened)."""
        log = (self.state / "log" / "nginx-access.log").read_text()
        return Counter(int(status) for status in re.findall(r'^\S+ - \S+ \[[^]]+\] "[^"]*" (\d{3}) ', log, re.M))

    def stop(self) -> None:
        stop(self.process)  # SIGTERM: nginx's fast shutdown
