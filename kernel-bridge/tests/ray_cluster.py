"""A local Ray cluster for tests: a head and one extra worker node, each a `ray start --block`
process on its own 127.0.0.x address with its own temporary folder, so that tasks really cross
processes. Torn down by PID (SIGTERM makes `ray start --block` stop what it started): never
`ray stop`, which would stop every Ray cluster on a shared machine."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: each node's plasma store; Ray's minimum is 75 MB
OBJECT_STORE_BYTES = 80_000_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_node(tmp: Path, name: str, args: list[str]) -> subprocess.Popen:
    ray = Path(sys.executable).with_name("ray")
    command = [str(ray), "start", "--block", "--num-cpus=1", "--disable-usage-stats"]
    command += [f"--temp-dir={tmp / name}", f"--object-store-memory={OBJECT_STORE_BYTES}", *args]
    log = open(tmp / f"{name}.log", "wb")  # open for the node's whole life
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def _wait_for_nodes(address: str, count: int, timeout_s: float = 60) -> None:
    """Until `count` nodes are alive, asked from a throwaway driver process."""
    probe = (
        f"import ray; ray.init(address={address!r}, logging_level='ERROR'); "
        "print(sum(n['Alive'] for n in ray.nodes()))"
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip() == str(count):
            return
        time.sleep(1)
    raise TimeoutError(f"the local Ray cluster at {address} did not get {count} nodes")


@contextmanager
def local_ray_cluster(tmp: Path) -> Iterator[str]:
    """Yields the head's address; stops both nodes on the way out."""
    port = _free_port()
    address = f"127.0.0.1:{port}"
    nodes = [
        _start_node(
            tmp,
            "head",
            [
                "--head",
                f"--port={port}",
                "--node-ip-address=127.0.0.1",
                "--include-dashboard=false",
            ],
        )
    ]
    try:
        nodes.append(
            _start_node(tmp, "worker", [f"--address={address}", "--node-ip-address=127.0.0.2"])
        )
        _wait_for_nodes(address, 2)
        yield address
    finally:
        for node in reversed(nodes):
            os.kill(node.pid, signal.SIGTERM)
            node.wait(timeout=60)
