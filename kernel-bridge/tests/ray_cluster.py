"""A local Ray cluster for tests and benchmarks: a head and extra worker nodes, each a
`ray start --block` process on its own 127.0.0.x address with its own temporary folder, so that
tasks really cross processes. The nodes' temporary folders lie in a short folder of their own in
/tmp: Ray puts its Unix sockets there, and a socket's path may not exceed 107 bytes (a node under
a long folder never starts: its log ends in "AF_UNIX path length cannot exceed 107 bytes").
Torn down by PID (SIGTERM makes `ray start --block` stop what it started): never `ray stop`,
which would stop every Ray cluster on a shared machine."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ray

#: each node's plasma store; Ray's minimum is 75 MB
OBJECT_STORE_BYTES = 80_000_000


#: `ray start` options of the ports each node opens
NODE_PORTS = [
    "node-manager-port",
    "object-manager-port",
    "metrics-export-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "runtime-env-agent-port",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_node(
    tmp: Path, sockets: Path, name: str, args: list[str], tries: int = 3
) -> subprocess.Popen:
    """A node process (its log in `tmp`, its temporary folder in `sockets`), once it says it is
    up. Ray gives a node 30 s (hard-coded) to register, which a machine busy with other work can
    miss: then the node exits and is started again."""
    ray = Path(sys.executable).with_name("ray")
    command = [str(ray), "start", "--block", "--num-cpus=1", "--disable-usage-stats"]
    command += [f"--temp-dir={sockets / name}", f"--object-store-memory={OBJECT_STORE_BYTES}"]
    command += args
    # Ports Ray otherwise fixes (52365 …), which another cluster on this machine may hold.
    command += [f"--{port}={_free_port()}" for port in NODE_PORTS]
    log_path = tmp / f"{name}.log"
    for _ in range(tries):
        with open(log_path, "wb") as log:
            node = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        while node.poll() is None:
            if b"Ray runtime started" in log_path.read_bytes():
                return node
            time.sleep(0.2)
    last = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(empty log)"]
    raise RuntimeError(
        f"the Ray node '{name}' did not start {tries} times; its log {log_path} ends: {last[0]}"
    )


@contextmanager
def local_ray_cluster(tmp: Path, extra_workers: int = 1) -> Iterator[str]:
    """Yields the head's address; stops every node on the way out. Each node has one CPU."""
    tmp.mkdir(parents=True, exist_ok=True)
    sockets = Path(tempfile.mkdtemp(prefix="cray-"))
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = [
        "--head",
        f"--port={port}",
        "--node-ip-address=127.0.0.1",
        "--include-dashboard=false",
        # Its API server still starts, on 8265 by default: taken by any other cluster here.
        f"--dashboard-port={_free_port()}",
    ]
    nodes: list[subprocess.Popen] = []
    try:
        nodes.append(_start_node(tmp, sockets, "head", head))
        for i in range(extra_workers):
            worker = [f"--address={address}", f"--node-ip-address=127.0.0.{i + 2}"]
            nodes.append(_start_node(tmp, sockets, f"worker{i}", worker))
        yield address
    finally:
        # A driver left connected to a stopped cluster kills its process a minute later.
        ray.shutdown()
        for node in reversed(nodes):
            os.kill(node.pid, signal.SIGTERM)
            node.wait(timeout=60)
        shutil.rmtree(sockets, ignore_errors=True)
