"""The Temporal runtime of `neon up` and `neon worker`: the supervised dev server, the client, the worker host.

The agent workflow itself lives in the SDK (`neon.execute`); this package only runs Temporal and hosts workers
built by a factory (see `worker_host.WorkerFactory`).
"""

from neon_server.execute.attributes import SEARCH_ATTRIBUTES
from neon_server.execute.client import TemporalUnavailable, connect_client, ensure_search_attributes
from neon_server.execute.devserver import DevServer, find_temporal_binary
from neon_server.execute.runtime import TemporalRuntime
from neon_server.execute.worker_host import WorkerFactory, WorkerHost, worker_factory

__all__ = ["SEARCH_ATTRIBUTES", "DevServer", "TemporalRuntime", "TemporalUnavailable", "WorkerFactory",
           "WorkerHost", "connect_client", "ensure_search_attributes", "find_temporal_binary", "worker_factory"]
