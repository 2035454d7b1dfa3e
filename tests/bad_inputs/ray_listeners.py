"""Start Ray the way ``tune-sched search`` does and print, as JSON, what it exposes (Linux: reads ``/proc``).

Run as ``python -m tests.bad_inputs.ray_listeners``; prints ``{"processes": [...], "dashboards": [...], "nodes":
[...], "listening": [...]}``: the names of the processes of this process tree (a binary's or a Python script's
file name), the command lines of its Ray dashboard processes, the nodes' addresses, and every TCP address that a
process of the tree listens on. Ray must not be imported before ``ray_session`` sets its environment, as in the CLI.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path

__all__ = ["listening_addresses", "main", "process_commands"]


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" (", 1)
            parent = int(rest.rsplit(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
        children.setdefault(parent, []).append(int(pid))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _socket_inodes(pids: list[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:["):-1])
        except OSError:
            continue
    return inodes


def _address(hex_address: str) -> str:
    """``/proc/net/tcp*``'s hex address (32-bit words in host order, little-endian here) as text."""
    raw = bytes.fromhex(hex_address)
    packed = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(packed))


def process_commands(root: int) -> list[list[str]]:
    """The command lines of ``root``'s descendants (``root`` itself left out)."""
    commands = []
    for pid in _descendants(root)[1:]:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # it ended meanwhile
        commands.append([arg.decode(errors="replace") for arg in argv if arg])
    return commands


def _name(argv: list[str]) -> str:
    """``raylet``, ``gcs_server``, ``dashboard.py``, ``ray::DashboardAgent``: the program a command line runs."""
    scripts = [arg for arg in argv[1:] if arg.endswith(".py")]
    return Path(scripts[0] if Path(argv[0]).name.startswith("python") and scripts else argv[0]).name


def listening_addresses(root: int) -> list[str]:
    """The local addresses (``ip`` text) of the TCP sockets that ``root`` and its descendants listen on."""
    inodes = _socket_inodes(_descendants(root))
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # state LISTEN, our socket
                found.append(_address(fields[1].split(":")[0]))
    return found


def main() -> None:
    from tune_sched.search.ray_session import ray_session

    with ray_session():
        import ray

        commands = [argv for argv in process_commands(os.getpid()) if argv]
        report = {
            "processes": sorted({_name(argv) for argv in commands}),
            "dashboards": [argv for argv in commands if _name(argv) == "dashboard.py"],
            "nodes": [node["NodeManagerAddress"] for node in ray.nodes()],
            "listening": listening_addresses(os.getpid()),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
