"""Serve a registry's metrics at `/metrics` on HOST:PORT from a thread of its own,
with the Prometheus client's own server."""

from __future__ import annotations

import logging
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

log = logging.getLogger("ottwatch.metrics")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def split_listen(listen: str) -> tuple[str, int]:
    """`"127.0.0.1:9464"` -> ("127.0.0.1", 9464); `"[::1]:9464"` -> ("::1", 9464)."""
    host, _, port = listen.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)


class MetricsServer:
    def __init__(self, registry: CollectorRegistry, listen: str) -> None:
        host, port = split_listen(listen)
        if host not in LOOPBACK:
            log.warning("metrics: listening on %s, not on loopback: anyone who can reach "
                        "it reads the agent's figures", listen)
        self.server: WSGIServer
        self.thread: threading.Thread
        self.server, self.thread = start_http_server(port, host, registry=registry)
        log.info("metrics: serving http://%s/metrics", listen)

    @property
    def port(self) -> int:
        return self.server.server_port

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
