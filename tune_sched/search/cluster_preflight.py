"""Before the first trial on an existing Ray cluster: can it run a trial at all, and can every node that may run
one write where the driver reads?

A node proves the second by writing a probe (a Ray task pinned to it with ``NodeAffinitySchedulingStrategy``)
into the experiment's storage; the driver reads it back. A node whose view of a storage path is its own disk (no
shared mount) writes the probe where the driver never sees it: one line names the node, the storage and the fix,
and nothing is trained. Each check takes seconds; a private local cluster (one node, the driver's) skips them.
"""

from __future__ import annotations

import shutil
import socket
import uuid
from pathlib import Path
from typing import Any

from tune_sched.core.errors import SearchFailed, UsageError
from tune_sched.results.io import atomic_write_text
from tune_sched.results.storage import open_remote

__all__ = ["ResultsLost", "check_cluster", "check_saved", "fits_nodes", "probe_nodes"]

PROBE_DIR = ".tune-sched-probes"
PROBE_TIMEOUT_S = 120.0  # a fresh node starts a worker process and imports pyarrow: seconds, not minutes
FIX = ("give every node the same storage: mount one shared folder at that path on every node, or pass "
       "--storage s3://BUCKET/PREFIX (any URI pyarrow or fsspec knows); see docs/clusters.md")


def check_cluster(address: str | None, *, cpu: float, gpu: float, experiment: Path, uri: str | None) -> None:
    """Raise a UsageError unless some node fits one trial and every such node writes where the driver reads."""
    nodes = fits_nodes(address, cpu=cpu, gpu=gpu)
    probe_nodes(nodes, experiment=experiment, uri=uri)


def fits_nodes(address: str | None, *, cpu: float, gpu: float) -> list[dict[str, Any]]:
    """The alive nodes with the CPUs and GPUs of one trial; a UsageError when there are none."""
    # lazy: heavy
    import ray

    alive = [n for n in ray.nodes() if n.get("Alive")]
    fits = [n for n in alive if n["Resources"].get("CPU", 0) >= cpu and n["Resources"].get("GPU", 0) >= gpu]
    if fits:
        return fits
    where = f"the cluster at {address}" if address else "the Ray cluster"
    cpus = sum(n["Resources"].get("CPU", 0) for n in alive)
    gpus = max((n["Resources"].get("GPU", 0) for n in alive), default=0)
    if gpu and cpus >= cpu:
        raise UsageError(f"{where} has no node with {gpu:g} GPU free (the most on one node: {gpus:g}); each config "
                         f"needs {gpu:g} GPU", fix="start GPU worker nodes ('ray start --address ... --num-gpus N') "
                                                   "or lower --gpus-per-trial")
    most = max((n["Resources"].get("CPU", 0) for n in alive), default=0)
    free = f"{cpus:g} CPUs free" if cpus < cpu else f"{cpus:g} CPUs free, at most {most:g} on one node"
    raise UsageError(f"{where} has {free}; each config needs {cpu:g} CPU",
                     fix=f"start worker nodes with 'ray start --address {address or 'HEAD'} --num-cpus N' "
                         "or lower --cpus-per-trial")


def probe_nodes(nodes: list[dict[str, Any]], *, experiment: Path, uri: str | None) -> None:
    """Every node in ``nodes`` writes a probe into the experiment's storage; the driver reads each one back."""
    # lazy: heavy
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = uuid.uuid4().hex
    where = uri.partition("?")[0] if uri else str(experiment)
    task = ray.remote(num_cpus=0, max_retries=0)(_write_probe)
    refs = {}
    for node in nodes:
        strategy = NodeAffinitySchedulingStrategy(node_id=node["NodeID"], soft=False)
        refs[node["NodeID"]] = task.options(scheduling_strategy=strategy).remote(
            str(experiment), uri, f"{node['NodeID']}-{token}")
    try:
        ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=PROBE_TIMEOUT_S)
        for node in nodes:
            ref = refs[node["NodeID"]]
            name = _node_name(node)
            if ref not in ready:
                raise UsageError(f"node {name} did not run its storage probe within {PROBE_TIMEOUT_S:g} s",
                                 path="--address", fix="check that the node's Ray worker can start and import "
                                                       "tune_sched (same Python environment on every node)")
            try:
                host, error = ray.get(ref)
            except Exception as err:  # noqa: BLE001 - any failure of the probe task is the node's
                host, error = "?", str(err).splitlines()[0]
            if error:
                raise UsageError(f"node {name} ({host}) cannot write to the storage ({error})", path=where, fix=FIX)
            if not _readable(experiment, uri, f"{node['NodeID']}-{token}"):
                raise UsageError(f"node {name} ({host}) wrote its probe, but this driver cannot read it there: "
                                 "that node's view of the storage is its own disk, so its trials' tables would be "
                                 "lost", path=where, fix=FIX)
    finally:
        _remove_probes(experiment, uri)


def _node_name(node: dict[str, Any]) -> str:
    return f"{node.get('NodeManagerAddress', '?')} (id {node['NodeID'][:12]})"


def _write_probe(experiment: str, uri: str | None, name: str) -> tuple[str, str]:
    """On the node: write ``<experiment>/.tune-sched-probes/<name>``; (hostname, error or "")."""
    host = socket.gethostname()
    try:
        if uri is None:
            atomic_write_text(Path(experiment) / PROBE_DIR / name, name)
        else:
            open_remote(uri).write_bytes(f"{PROBE_DIR}/{name}", name.encode())
    except Exception as err:  # noqa: BLE001 - reported by the driver with the node's name
        return host, f"{type(err).__name__}: {err}".splitlines()[0]
    return host, ""


def _readable(experiment: Path, uri: str | None, name: str) -> bool:
    try:
        if uri is None:
            return (experiment / PROBE_DIR / name).read_text() == name

        return open_remote(uri).read_bytes(f"{PROBE_DIR}/{name}") == name.encode()
    except OSError:
        return False


def _remove_probes(experiment: Path, uri: str | None) -> None:
    shutil.rmtree(experiment / PROBE_DIR, ignore_errors=True)
    if uri is not None:
        try:
            open_remote(uri).delete(PROBE_DIR)
        except OSError:
            pass


class ResultsLost(SearchFailed):
    """Trials reported results, but none of their tables reached the experiment (the CLI exits with 1)."""


def check_saved(progress: Any, rows: int, *, where: str) -> None:
    """After a search: raise :class:`ResultsLost` when trials reported results but no table row arrived."""
    reported = sum(progress.counts.values()) or progress.first_result_s is not None
    if rows or not reported:
        return
    nodes = ", ".join(sorted(getattr(progress, "nodes", ()))) or "the nodes that trained them"
    raise ResultsLost(
        f"the search's trials reported results, but none of their tables arrived in {where}: each trial wrote them "
        f"on the disk of the node that trained it ({nodes}), where this driver cannot read them. Point the search "
        "at storage every node reaches: --storage s3://BUCKET/PREFIX (any URI pyarrow or fsspec knows), or a "
        "folder mounted at the same path on every node; see docs/clusters.md")
