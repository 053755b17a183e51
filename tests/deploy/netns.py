"""Separate hosts on one machine: Linux network namespaces joined by a bridge.

    root namespace (the test: clients, the "proxy")  10.77.0.1   bridge chatbr<tag>
    data namespace: PostgreSQL                       10.77.0.2
                    Redis master, replica, sentinels 10.77.0.3   (one host, several ports)
    edge namespace: nginx (TLS, the site's address)  10.77.0.10
    app namespaces: one daphne each                  10.77.0.11, 10.77.0.12, ...

Each namespace has its own loopback and ports, and reaches the others only through its veth and
the bridge: a real interface, real TCP. `cut()` drops every packet between one namespace and
an address (iptables inside that namespace), as a network partition does: no reset, no error,
the peer just stops answering. `Network.close()` removes it all, whatever was started inside.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence

SUBNET = "10.77.0"
ROOT_ADDRESS = f"{SUBNET}.1"
DATABASE_ADDRESS = f"{SUBNET}.2"
REDIS_ADDRESS = f"{SUBNET}.3"
EDGE_ADDRESS = f"{SUBNET}.10"


def run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def available() -> str:
    """Empty when namespaces work here (root, `ip`, `iptables`), else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install iproute2 iptables)"
    probe = f"chatprobe{os.getpid()}"
    try:
        run("ip", "netns", "add", probe)
        run("ip", "netns", "exec", probe, "iptables", "-S")
    except subprocess.CalledProcessError as error:
        return f"ip netns does not work here: {error.stderr.strip()}"
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return ""


class Network:
    """A bridge in the root namespace and one namespace per host, each with an address on the bridge."""

    def __init__(self, hosts: dict[str, Sequence[str]]) -> None:
        """`hosts`: namespace name -> its addresses (without the /24)."""
        self.tag = f"{os.getpid() % 100000}"
        self.bridge = f"chatbr{self.tag}"
        self.hosts = dict(hosts)
        self.namespaces: list[str] = []
        self.links: list[str] = []
        self.cuts: set[tuple[str, str]] = set()

    def namespace(self, host: str) -> str:
        return f"chat{self.tag}-{host}"

    def open(self) -> Network:
        try:
            run("ip", "link", "add", self.bridge, "type", "bridge")
            self.links.append(self.bridge)
            run("ip", "addr", "add", f"{ROOT_ADDRESS}/24", "dev", self.bridge)
            run("ip", "link", "set", self.bridge, "up")
            for index, (host, addresses) in enumerate(self.hosts.items()):
                namespace, outside = self.namespace(host), f"chv{self.tag}x{index}"
                run("ip", "netns", "add", namespace)
                self.namespaces.append(namespace)
                run("ip", "link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", namespace)
                self.links.append(outside)
                run("ip", "link", "set", outside, "master", self.bridge, "up")
                for address in addresses:
                    run("ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
                run("ip", "-n", namespace, "link", "set", "eth0", "up")
                run("ip", "-n", namespace, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise
        return self

    def command(self, host: str | None, command: Sequence[str]) -> list[str]:
        """`command` as run inside the host's namespace (the root namespace for None)."""
        return list(command) if host is None else ["ip", "netns", "exec", self.namespace(host), *command]

    def cut(self, host: str, address: str) -> None:
        """Drop every packet between the host and `address`, both ways, silently."""
        for chain, side in (("OUTPUT", "-d"), ("INPUT", "-s")):
            run(*self.command(host, ["iptables", "-I", chain, side, address, "-j", "DROP"]))
        self.cuts.add((host, address))

    def heal(self, host: str, address: str) -> None:
        for chain, side in (("OUTPUT", "-d"), ("INPUT", "-s")):
            run(*self.command(host, ["iptables", "-D", chain, side, address, "-j", "DROP"]))
        self.cuts.discard((host, address))

    def close(self) -> None:
        """Kill whatever still runs in our namespaces, then remove them and our links (also after a failure)."""
        for namespace in self.namespaces:
            pids = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        time.sleep(0.1 if self.namespaces else 0)
        for namespace in self.namespaces:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        for link in self.links:  # deleting one end of a veth deletes both
            subprocess.run(["ip", "link", "del", link], capture_output=True)
        self.namespaces, self.links = [], []

    def leftovers(self) -> list[str]:
        """Namespaces and links of ours still present (none after close())."""
        names = run("ip", "netns", "list") + run("ip", "-o", "link", "show")
        return [word for word in names.split() if word.startswith((f"chat{self.tag}-", self.bridge, f"chv{self.tag}x"))]
