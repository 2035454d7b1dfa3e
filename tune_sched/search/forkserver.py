"""The fork server: trials train in processes forked from one that imported torch and Lightning once per search.

A Ray worker that starts a trial would otherwise import torch, Lightning, pyarrow and pandas itself: about 5 CPU
seconds per worker, most of what a search of short trials costs over training the same configs by hand on a small
machine (docs/BENCHMARKS.md). Instead, the search starts one *fork server* on the driver's machine as it starts
(its imports overlap Ray's start-up), and each Tune worker on that machine asks it for a training process:

- the worker connects to the server's Unix socket and passes its stdout and stderr (so the training process logs
  where the worker logs), its environment (Ray's ``CUDA_VISIBLE_DEVICES``, ``OMP_NUM_THREADS``, ...) and its
  ``sys.path`` (so ``module: pkg.mod:Class`` imports what the worker would); it sends its working directory with
  every trial (Tune changes it);
- the server forks; the child runs a :class:`TrialHost` and serves the worker's calls (``start``, ``step``,
  ``finish``) over the connection for as long as the worker lives, trial after trial when Tune reuses the worker;
- the child ends when the worker closes the connection or dies (a thread watches the socket for the hang-up):
  a worker killed mid-epoch takes its training with it, as when it trained itself. A child that dies (killed,
  ``os._exit``) ends its worker, so Ray Tune sees the worker die and retries the trial as it always did.

Only a machine where a trial could not tell the difference uses it: Linux (``fork``, ``POLLRDHUP``), a worker on
the driver's machine, interpreter and copy of tune_sched, and a search without GPUs (CUDA must never start in the
server; GPU trials are long enough that the import does not matter). Anything else, or a server that failed to
start or does not answer, and the worker trains in its own process (:class:`TrialHost`), exactly as before; so
does every worker of a search started with ``TUNE_SCHED_FORKSERVER=0``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import pickle
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NoReturn

import tune_sched
from tune_sched.search.config_runner import ConfigRunner, SearchContext

__all__ = ["OFF_SWITCH", "ForkedHost", "TrialHost", "forkserver", "forkserver_supported", "open_host"]

PRELOAD = (
    "torch", "pytorch_lightning", "pyarrow.parquet", "pandas",
    "tune_sched.train.lockstep", "tune_sched.train.tasks.tiny", "tune_sched.optim.lightning",
    "tune_sched.results.experiment", "tune_sched.search.aggregate", "tune_sched.analysis.score",
)
"""What the server imports before it forks: what every trial needs (a trial imports anything else itself)."""

SOCKET_NAME = "fork.sock"
HANDSHAKE_TIMEOUT_S = 300.0
"""How long a worker waits for its training process (the server may still be importing on a busy machine)."""
SEND_TIMEOUT_S = 30.0
"""How long connecting and handing over the worker's output may take (both sides)."""
OFF_SWITCH = "TUNE_SCHED_FORKSERVER"
"""``TUNE_SCHED_FORKSERVER=0`` in the driver's environment: every worker trains in its own process."""


def forkserver_supported() -> bool:
    """This platform can fork trials (Linux), and the user did not turn it off (:data:`OFF_SWITCH`)."""
    return (sys.platform.startswith("linux") and hasattr(os, "fork") and hasattr(select, "POLLRDHUP")
            and os.environ.get(OFF_SWITCH, "1") != "0")


# -- the trial's side ----------------------------------------------------------------------------------------------
class TrialHost:
    """Runs the trials of one Tune worker in this process, one :class:`ConfigRunner` at a time."""

    def __init__(self) -> None:
        self.runner: ConfigRunner | None = None

    def start(self, ctx: SearchContext, config: dict[str, Any], config_id: str) -> None:
        self.runner = ConfigRunner(ctx, config, config_id)

    def step(self) -> dict[str, Any]:
        assert self.runner is not None, "step() before start()"
        return self.runner.step()

    def finish(self) -> None:
        if self.runner is not None:
            self.runner.finish()
        self.runner = None

    def close(self) -> None:
        return None


class ForkedHost:
    """A :class:`TrialHost` in a process forked by the fork server; the same methods, called over a socket."""

    def __init__(self, sock: socket.socket, *, timeout_s: float = HANDSHAKE_TIMEOUT_S) -> None:
        """Ask the server for a training process for this worker (its output, environment and import path).

        ``ConnectionError`` when none answers within ``timeout_s``, or the one that answers runs another
        interpreter or copy of tune_sched; ``EOFError`` when the server is gone.
        """
        sock.settimeout(SEND_TIMEOUT_S)
        socket.send_fds(sock, [b"w"], [1, 2])  # where this worker's output goes (Ray: its log files)
        sock.settimeout(None)
        self.channel = Connection(sock.detach())
        self.pid: int | None = None
        try:
            self.channel.send({"env": dict(os.environ), "sys_path": list(sys.path),
                               "runs": (sys.executable, tune_sched.__file__)})
            if not self.channel.poll(timeout_s):  # the server is still importing, or stuck
                raise ConnectionError(f"no training process from the fork server within {timeout_s:g} s")
            status, value = self.channel.recv()
            if status != "ok":
                raise ConnectionError(value)
            self.pid = value
        except BaseException:
            self.channel.close()
            raise

    def start(self, ctx: SearchContext, config: dict[str, Any], config_id: str) -> None:
        self._call("start", ctx, config, config_id, cwd=os.getcwd())

    def step(self) -> dict[str, Any]:
        return self._call("step")

    def finish(self) -> None:
        self._call("finish")

    def close(self) -> None:
        self.channel.close()

    def _call(self, op: str, *args: Any, cwd: str | None = None) -> Any:
        try:
            self.channel.send((op, args, cwd))
        except OSError:
            self._lost()
        return self._receive()

    def _receive(self) -> Any:
        try:
            status, value = self.channel.recv()
        except (EOFError, OSError):
            self._lost()
        if status == "error":
            raise value
        return value

    def _lost(self) -> NoReturn:
        """The training process died: so does this worker, and Ray Tune retries the trial on a new one."""
        sys.stdout.flush()
        print(f"tune-sched: this worker's training process (pid {self.pid}) ended unexpectedly (killed, or out "
              f"of memory); the worker exits so that Ray Tune retries the trial", file=sys.stderr, flush=True)
        os._exit(1)


def open_host(ctx: SearchContext) -> TrialHost | ForkedHost:
    """A host for this worker's trials: a forked training process when the fork server serves this worker."""
    if ctx.forkserver is None or not os.path.exists(ctx.forkserver):
        return TrialHost()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(SEND_TIMEOUT_S)
        sock.connect(ctx.forkserver)
        return ForkedHost(sock)
    except (OSError, EOFError):  # no server answered (gone, never started, stuck, another copy): train here
        sock.close()  # (a no-op once ForkedHost took the socket over; it closes its own)
        return TrialHost()


# -- the driver's side ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def forkserver(*, threads: int, log: Path, label: str) -> Iterator[str | None]:
    """Start a fork server for this search; yield its socket's path (``None`` if it cannot start); stop it on exit.

    Its output goes to ``log``. It runs in a session of its own (a Ctrl-C in the terminal reaches the driver, not
    the trials) and ends when this process closes its stdin: on exit, or when this process dies. Its socket lies
    in a fresh directory only this user can enter.
    """
    folder = tempfile.mkdtemp(prefix="tune-sched-")
    path = os.path.join(folder, SOCKET_NAME)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    proc = None
    try:
        try:
            listener.bind(path)
            listener.listen(64)
            env = dict(os.environ)
            env.setdefault("OMP_NUM_THREADS", str(threads))  # as Ray sets it for a worker of `threads` CPUs
            env["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"  # torch.cuda.is_available() must not start CUDA (fork)
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "ab") as err:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "tune_sched.search.forkserver", str(listener.fileno()), label],
                    stdin=subprocess.PIPE, stdout=err, stderr=err, pass_fds=[listener.fileno()], env=env,
                    start_new_session=True)
        except OSError:  # e.g. a socket path too long for TMPDIR: the workers train in their own processes
            path = None
        listener.close()
        yield path
    finally:
        listener.close()
        if proc is not None:  # it holds no state: stop it at once (its children belong to their workers)
            assert proc.stdin is not None
            proc.stdin.close()
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


# -- the server ----------------------------------------------------------------------------------------------------
def serve(listener: socket.socket) -> None:
    """Import :data:`PRELOAD`, then fork a training process for each connection until stdin closes."""
    for name in PRELOAD:
        importlib.import_module(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the children are reaped by the kernel
    poller = select.poll()
    poller.register(listener.fileno(), select.POLLIN)
    poller.register(sys.stdin.fileno(), select.POLLIN)
    while True:
        for fd, _ in poller.poll():
            if fd == sys.stdin.fileno():
                if not os.read(fd, 1):
                    return  # the driver is gone or done
                continue
            with contextlib.suppress(OSError):
                _fork(listener)


def _fork(listener: socket.socket) -> None:
    conn, _ = listener.accept()
    fds: list[int] = []
    with conn:
        try:
            conn.settimeout(SEND_TIMEOUT_S)  # a client that connects and sends nothing must not stall the others
            _, fds, _, _ = socket.recv_fds(conn, 1, 2)
            conn.settimeout(None)
            if len(fds) != 2:
                return
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    listener.close()
                    code = _child(conn, fds)
                except BaseException:  # noqa: BLE001 - report anything, then leave without the server's exits
                    traceback.print_exc()
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)
        finally:
            for fd in fds:  # the child has its own copies
                os.close(fd)


def _child(conn: socket.socket, fds: list[int]) -> int:
    """The training process: take over the worker's output, environment and import path, then serve its calls."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    for source, target in ((devnull, 0), *zip(fds, (1, 2))):
        os.dup2(source, target)
        os.close(source)
    fds.clear()
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # a log file: whole lines reach it before any os._exit
    threading.Thread(target=_exit_with_worker, args=(conn.fileno(),), daemon=True, name="worker-watch").start()
    channel = Connection(conn.detach())
    hello = channel.recv()
    runs = (sys.executable, tune_sched.__file__)
    if tuple(hello["runs"]) != runs:
        channel.send(("refused", f"the fork server runs {runs}, the worker {tuple(hello['runs'])}"))
        return 0
    os.environ.clear()
    os.environ.update(hello["env"])
    sys.path[:] = hello["sys_path"]
    importlib.invalidate_caches()
    channel.send(("ok", os.getpid()))
    host = TrialHost()
    while True:
        try:
            op, args, cwd = channel.recv()
        except EOFError:
            return 0
        try:
            if cwd is not None:
                os.chdir(cwd)
            reply = ("ok", getattr(host, op)(*args))
        except Exception as err:  # noqa: BLE001 - the worker raises it, as if it had trained itself
            reply = ("error", _portable(err))
        try:
            channel.send(reply)
        except Exception as err:  # noqa: BLE001 - a value that does not pickle (nothing was sent yet)
            channel.send(("error", _portable(err)))


def _portable(err: Exception) -> Exception:
    """``err`` with this process's traceback as a note (the worker's traceback shows where it was raised)."""
    text = "".join(traceback.format_exception(err))
    try:
        copy = pickle.loads(pickle.dumps(err))
    except Exception:  # noqa: BLE001 - an exception that does not pickle (or unpickle) travels as its text
        copy = RuntimeError(f"{type(err).__name__}: {err}")
    note = f"raised in the trial's training process (pid {os.getpid()}):\n{text}"
    copy.__notes__ = [*getattr(copy, "__notes__", []), note]  # add_note() from Python 3.11 on
    return copy


def _exit_with_worker(fd: int) -> None:
    """End this process as soon as the worker's end of the connection closes (the worker finished or died)."""
    poller = select.poll()
    poller.register(fd, select.POLLRDHUP)
    while True:
        for _, events in poller.poll():
            if events & (select.POLLRDHUP | select.POLLHUP | select.POLLERR | select.POLLNVAL):
                os._exit(0)


def main(argv: list[str]) -> None:
    listener = socket.socket(fileno=int(argv[0]))
    path = listener.getsockname()
    serve(listener)
    if os.path.basename(path) == SOCKET_NAME:  # normally the driver's job, but the driver may have been killed
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # nothing else to clean up, and tearing down torch and Lightning takes seconds


if __name__ == "__main__":
    main(sys.argv[1:])
