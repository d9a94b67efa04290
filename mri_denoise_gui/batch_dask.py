"""Batch denoising on a Dask cluster (``pip install '.[cluster]'``): one task per file.

Every worker process loads the model once, when it starts or joins (``DenoiserPlugin``), and
keeps it in batch.py's per-process cache; TensorFlow's thread pools are sized to the worker's
share of its host's cores, so N workers on one machine do not fight over the same cores.
Inputs and outputs are paths: every worker must see the same file system (true for a
LocalCluster and for an HPC cluster's shared storage). A worker that dies mid-file has its task
run again elsewhere (outputs are written atomically, so a half-written file is never seen).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable

from mri_denoise_gui.batch import DenoiseJob, JobResult, configure_tf_threads, get_denoiser, run_job

_log = logging.getLogger(__name__)


class ClusterError(ValueError):
    """Dask is missing or the scheduler cannot be reached; one line, exit 2."""


def available_cores() -> int:
    """Cores this process may run on (a SLURM job's allocation, not the whole node)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _host(address: str) -> str:
    return address.split("://")[-1].rsplit(":", 1)[0]


try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # the cluster extra is not installed: only the in-process path works
    WorkerPlugin = object


class DenoiserPlugin(WorkerPlugin):
    """On each worker: size TensorFlow's thread pools, then load the model once and keep it."""

    name = "mri-denoise-model"

    def __init__(self, model_dir: str, workers_per_host: dict[str, int] | None = None, threads: int | None = None,
                 precision: str = "auto", strength: float = 1.0):
        self.model_dir = str(model_dir)
        self.precision = precision
        self.strength = float(strength)
        self.workers_per_host = dict(workers_per_host or {})
        self.threads = threads

    def setup(self, worker) -> None:
        sharing = self.workers_per_host.get(_host(worker.address), 1)
        threads = configure_tf_threads(self.threads or max(1, available_cores() // max(1, sharing)))
        _log.info("worker %s: %d TensorFlow threads", worker.address, threads)
        try:
            get_denoiser(self.model_dir, self.precision, self.strength)
        except Exception as exc:  # noqa: BLE001 - each file's task then reports the reason
            _log.warning("worker %s could not load %s: %s", worker.address, self.model_dir, exc)


def _task(job: DenoiseJob, skip_existing: bool) -> JobResult:
    from distributed import get_worker

    return run_job(job, skip_existing=skip_existing, worker=get_worker().address)


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None):
    """A Client on a new LocalCluster of ``workers`` one-thread processes, or on the scheduler at
    ``scheduler`` (a tcp:// address or a scheduler file written by ``dask scheduler --scheduler-file``)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterError("--workers / --scheduler need Dask: pip install 'mri-denoise-gui[cluster]'") from None
    cluster = None
    try:
        if scheduler:
            if Path(scheduler).is_file():
                client = Client(scheduler_file=scheduler, timeout="30s")
            elif "://" in scheduler:
                client = Client(scheduler, timeout="30s")
            else:
                raise ClusterError(f"{scheduler}: no such scheduler file (or give an address like tcp://host:8786)")
        else:
            # memory_limit=0: the nanny must not restart a worker for TensorFlow's start-up memory
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":0", memory_limit=0, silence_logs=logging.ERROR)
            client = Client(cluster)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def start_workers(client, model_dir: str, threads: int | None = None, precision: str = "auto",
                  strength: float = 1.0) -> int:
    """Install the model plugin on every worker (present and future); returns the worker count.
    ``threads``: TensorFlow threads per worker (default: its host's cores / workers on that host)."""
    hosts = Counter(_host(addr) for addr in client.scheduler_info()["workers"])
    client.register_plugin(DenoiserPlugin(model_dir, dict(hosts), threads, precision, strength))
    return sum(hosts.values())


def run_on_dask(client, jobs: Iterable[DenoiseJob], skip_existing: bool = False,
                on_result: Callable[[JobResult], None] | None = None) -> list[JobResult]:
    """Submit one task per job and collect results as they finish (in finishing order)."""
    from distributed import as_completed

    jobs = list(jobs)
    futures = client.map(_task, jobs, skip_existing=skip_existing, pure=False)
    job_of = {f.key: job for f, job in zip(futures, jobs)}
    results = []
    for future in as_completed(futures):
        job = job_of[future.key]
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker after repeated worker deaths
            text = str(exc).strip().splitlines()
            result = JobResult(job.src, job.dst, "failed",
                               message=f"{type(exc).__name__}: {text[0] if text else 'task failed'}")
        future.release()  # a finished result need not be recomputed if its worker dies later
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
