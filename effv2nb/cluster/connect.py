"""Notebooks 04-05; ``infer --cluster``, ``int8-report --cluster``: open the Dask cluster a run spreads over.

``--cluster local:N`` starts a ``dask.distributed.LocalCluster`` of N worker processes, one thread
each, on 127.0.0.1 (the embedded default: no setup); ``--cluster tcp://HOST:PORT`` connects to a
scheduler that is already running (``dask scheduler`` with ``dask worker`` processes on each
machine). ``EFFV2NB_CLUSTER`` gives the same value when the flag is absent; with neither, the run
stays serial, in this process. An address that does not answer within ``CONNECT_TIMEOUT_S`` is
one line naming it. The dashboard's address is printed when the scheduler serves one (it needs
``bokeh``).

Workers read the images and the model by path, so every worker must see the same files at the
same paths (a shared file system, as for ImageNet itself); ``effv2nb.cluster.infer_tasks`` checks
the model's SHA-256 on each worker.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from effv2nb.core.errors import Effv2nbError

ENV = "EFFV2NB_CLUSTER"
CONNECT_TIMEOUT_S = 5


def spec_from(value: str | None = None) -> str | None:
    """The cluster a run uses: the flag's value, else ``EFFV2NB_CLUSTER``, else None (serial)."""
    value = value if value else os.environ.get(ENV, "")
    return value.strip() or None


@dataclass
class Cluster:
    """A connected Dask client (and the ``LocalCluster`` it started, if any)."""

    spec: str
    client: object
    local: object = None
    quiet: object = None         # the log levels to put back on close (``_quiet``)

    @property
    def dashboard(self) -> str | None:
        """The dashboard's address, when the scheduler serves one."""
        try:
            services = self.client.scheduler_info().get("services", {})
        except Exception:   # noqa: BLE001 - a scheduler that no longer answers has no dashboard either
            return None
        return self.client.dashboard_link if "dashboard" in services else None

    @property
    def workers(self) -> int:
        return len(self.client.scheduler_info().get("workers", {}))

    def describe(self) -> str:
        return f"Dask cluster {self.spec}: {self.workers} worker(s) at {self.client.scheduler.address}"

    def close(self) -> None:
        self.client.close()
        if self.local is not None:
            self.local.close()
        for logger, level in (self.quiet or {}).items():
            logger.setLevel(level)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _dashboard_address() -> str | None:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return None
    return "127.0.0.1:0"


def _quiet() -> dict:
    """The embedded cluster's scheduler runs in this process: its INFO lines (ports, workers coming and
    going) would fill a notebook's output. Warnings and errors still show (bokeh's: errors only; its
    warning that the dashboard accepts any Origin header says what every local Dask dashboard does, and
    this one listens on 127.0.0.1 only); ``close`` restores the levels."""
    levels = {"distributed": logging.WARNING, "bokeh": logging.ERROR}
    old = {logging.getLogger(name): logging.getLogger(name).level for name in levels}
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    return old


def open_cluster(spec: str, where: str = "--cluster") -> Cluster:
    """Start (``local:N``) or reach (``tcp://HOST:PORT``) a cluster, or one ``Effv2nbError`` line."""
    spec = str(spec).strip()
    if spec.startswith("local:"):
        try:
            n = int(spec[len("local:"):])
        except ValueError:
            n = 0
        if n < 1:
            raise Effv2nbError(f"'{spec}': local:N needs N, the number of workers, at least 1", where=where)
        from dask.distributed import Client, LocalCluster

        quiet = _quiet()
        local = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                             dashboard_address=_dashboard_address(), silence_logs=logging.ERROR)
        return Cluster(spec, Client(local), local, quiet)
    if spec.startswith("tcp://"):
        from dask.distributed import Client

        try:
            client = Client(spec, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError) as exc:
            raise Effv2nbError(f"cannot reach the Dask scheduler at {spec} within {CONNECT_TIMEOUT_S} s "
                               f"({type(exc).__name__}); is `dask scheduler` running there?", where=where) from None
        return Cluster(spec, client)
    raise Effv2nbError(f"'{spec}' is not a cluster: give local:N (N workers here) or tcp://HOST:PORT "
                       "(a running Dask scheduler)", where=where)
