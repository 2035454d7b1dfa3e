"""Nothing of a search outlives its driver: a watchdog process ends what a killed driver leaves behind.

A private Ray cluster is started by the driver (``ray.init``), and ``ray.shutdown()`` stops it when the driver
exits in any ordinary way, Ctrl-C and SIGTERM included. A driver killed with SIGKILL runs no code: its raylet, GCS
and workers end with it, but Ray's agent processes (which the raylet started in sessions of their own) would go
on running. So, on Linux, the driver starts this watchdog before Ray, in a session of its own, and tells it over
its stdin, every half second, which processes descend from the driver (pid and start time, so a recycled pid is
never mistaken for one). When that pipe closes without the word ``done`` — the driver died — the watchdog sends
SIGTERM to every one of them still running, and SIGKILL to those left after ``GRACE_S``. Nothing here uses Ray.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

__all__ = ["GRACE_S", "descendants", "watchdog"]

GRACE_S = 2.0
SCAN_S = 0.5


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time in clock ticks) of a running process, or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[19]


def descendants(root: int) -> dict[int, str]:
    """Every process below ``root`` (children, their children, ...): pid -> start time. Linux only."""
    parents: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (stat := _stat(int(name))) is not None:
            parents.setdefault(stat[0], []).append(int(name))
            starts[int(name)] = stat[1]
    found: dict[int, str] = {}
    todo = [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found[child] = starts[child]
                todo.append(child)
    return found


@contextlib.contextmanager
def watchdog() -> Iterator[None]:
    """Watch the processes this one starts (directly or not) while the block runs; if this process is killed, the
    watchdog ends them. Processes that were already running when the block began are left alone.

    Leaving the block normally (or by an exception) tells the watchdog ``done``: it exits and kills nothing. A
    no-op where ``/proc`` is missing (not Linux).
    """
    if not os.path.isdir("/proc/self/task"):
        yield
        return
    before = descendants(os.getpid())  # a notebook's own children, started before the search, are not its to end
    proc = subprocess.Popen([sys.executable, "-m", "tune_sched.search.watchdog"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    assert proc.stdin is not None
    pipe, stop, told = proc.stdin, threading.Event(), {}

    def tell() -> None:
        while True:
            new = {p: s for p, s in descendants(os.getpid()).items()
                   if told.get(p) != s and before.get(p) != s and p != proc.pid}
            try:
                pipe.write("".join(f"{p} {s}\n" for p, s in new.items()))
                pipe.flush()
            except (OSError, ValueError):  # the watchdog is gone: nothing more to tell
                return
            told.update(new)
            if stop.wait(SCAN_S):
                return

    thread = threading.Thread(target=tell, name="tune-sched-watchdog", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        with contextlib.suppress(OSError, ValueError):
            pipe.write("done\n")
            pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def _end(watched: dict[int, str]) -> None:
    """SIGTERM every watched process still running (the same start time), then SIGKILL those left after GRACE_S."""
    def running() -> list[int]:
        return [pid for pid, start in watched.items() if (stat := _stat(pid)) is not None and stat[1] == start]

    for sig, wait_s in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, 0.0)):
        for pid in running():
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while running() and time.monotonic() < deadline:
            time.sleep(0.1)


def main() -> None:
    """Read ``pid start`` lines until ``done`` (exit) or the end of stdin (the driver died: end them all)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the driver's to handle
    watched: dict[int, str] = {}
    for line in sys.stdin:
        if line.strip() == "done":
            return
        with contextlib.suppress(ValueError):
            pid, start = line.split()
            watched[int(pid)] = start
    _end(watched)


if __name__ == "__main__":
    main()
