"""A deployment of the chat on simulated separate hosts: a data host (PostgreSQL; Redis, its replica and three
sentinels), two app hosts and an edge host for nginx, each a network namespace (netns.py); on 127.0.0.1 where
namespaces are not available. Tests marked `deploy` run only when asked for (`pytest -m deploy`,
tests/conftest.py): they need root and minutes."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import netns
from .services import App, Nginx, Place, Postgres, SentinelCluster, app_env, set_up_room

APP_ADDRESSES = {"app1": f"{netns.SUBNET}.11", "app2": f"{netns.SUBNET}.12"}
PEOPLE = 12  # accounts (and sessions): one page each
_databases = itertools.count(1)


@dataclass
class Topology:
    network: netns.Network | None
    data: Place  # PostgreSQL
    redis: Place
    apps: dict[str, Place]
    edge: Place  # where nginx runs, for the deployment behind it
    proxy: str  # where the clients (and so the "proxy") connect from
    postgres: Postgres


@pytest.fixture(scope="session")
def topology() -> Iterator[Topology]:
    why_not = netns.available()
    network = None
    if not why_not:
        hosts = {"data": [netns.DATABASE_ADDRESS, netns.REDIS_ADDRESS], "edge": [netns.EDGE_ADDRESS]}
        hosts.update({name: [address] for name, address in APP_ADDRESSES.items()})
        network = netns.Network(hosts).open()
        data, redis = Place(network, "data", netns.DATABASE_ADDRESS), Place(network, "data", netns.REDIS_ADDRESS)
        apps = {name: Place(network, name, address) for name, address in APP_ADDRESSES.items()}
        edge = Place(network, "edge", netns.EDGE_ADDRESS)
        proxy = netns.ROOT_ADDRESS
    else:
        print(f"\nno network namespaces ({why_not}): every host is 127.0.0.1")
        data = redis = Place(None, None, "127.0.0.1")
        apps = {name: Place(None, None, "127.0.0.1") for name in APP_ADDRESSES}
        edge = Place(None, None, "127.0.0.1")
        proxy = "127.0.0.1"
    postgres = None
    try:
        postgres = Postgres(data).start()
        yield Topology(network, data, redis, apps, edge, proxy, postgres)
    finally:
        if postgres is not None:
            postgres.stop()
        if network is not None:
            network.close()
            assert not network.leftovers()


@dataclass
class Deployment:
    topology: Topology
    redis: SentinelCluster
    apps: dict[str, App]
    database: str
    room: dict

    def stored(self) -> set[int]:
        """Every message of the room the database holds, by its sequence number."""
        sql = f"SELECT seq FROM chat_message WHERE room_id = {self.room['room_id']}"
        rows = self.topology.postgres.psql(sql, self.database)
        return {int(line) for line in rows.split()}


@contextmanager
def deployed(topology: Topology, tmp_path: Path, allowed: list[str], proxy: str) -> Iterator[Deployment]:
    """A database of its own, Redis with Sentinel and a process on each app host, with `allowed` in
    DJANGO_ALLOWED_HOSTS and `proxy` as CHAT_TRUSTED_PROXIES; all stopped and dropped afterwards."""
    database = f"chat_sentinel_{os.getpid()}_{next(_databases)}"
    topology.postgres.psql(f"CREATE DATABASE {database}")
    cluster = SentinelCluster(topology.redis)
    apps: dict[str, App] = {}
    try:
        cluster.start()
        env = app_env(topology.postgres.url(database), cluster.sentinel_addresses, allowed, proxy, tmp_path)
        room = set_up_room(env, PEOPLE)
        for name, place in topology.apps.items():
            apps[name] = App(place, env, tmp_path).start()
        yield Deployment(topology, cluster, apps, database, room)
    finally:
        for app in apps.values():
            app.stop()
        cluster.stop()
        topology.postgres.psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


@pytest.fixture
def deployment(topology, tmp_path) -> Iterator[Deployment]:
    """The app hosts reached directly: the test's pages play the proxy (X-Forwarded-For from the test's address)."""
    allowed = sorted({place.address for place in topology.apps.values()})
    with deployed(topology, tmp_path, allowed, topology.proxy) as deployment:
        yield deployment


@pytest.fixture
def behind_nginx(topology, tmp_path) -> Iterator[tuple[Deployment, Nginx]]:
    """The app hosts behind a real nginx on the edge host, which is the site's address (DJANGO_ALLOWED_HOSTS,
    the pages' Origin) and the one trusted proxy; its configuration is deploy/local.sh's."""
    edge = topology.edge.address
    allowed = sorted({edge, *(place.address for place in topology.apps.values())})
    with deployed(topology, tmp_path, allowed, edge) as deployment:
        nginx = Nginx(topology.edge, list(deployment.apps.values()), tmp_path / "nginx-state")
        try:
            yield deployment, nginx.start()
        finally:
            nginx.stop()
