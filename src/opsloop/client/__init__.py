"""One client API over the local stores or an opsloop server, and the fluent run API."""

from opsloop.client._client import Client
from opsloop.client.buffer import MetricBuffer
from opsloop.client.fluent import ActiveRun
from opsloop.client.transport import TrackingTransport

__all__ = ["ActiveRun", "Client", "MetricBuffer", "TrackingTransport"]
