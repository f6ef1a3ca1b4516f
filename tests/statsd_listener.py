"""A StatsD server for tests: a UDP socket on loopback that keeps every metric line it receives."""

from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass

from tests.polling import wait_for

LINE = re.compile(r"^(?P<name>[^:|]+):(?P<value>[^|]+)\|(?P<kind>c|g|ms|h|s)(?:\|.*)?$")


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    kind: str


class StatsdListener:
    """``with StatsdListener() as statsd:`` then point ``[metrics] statsd_port`` at ``statsd.port``."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.raw: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.raw.extend(data.decode("utf-8", "replace").splitlines())

    def __enter__(self) -> StatsdListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def env(self, prefix: str = "airflow") -> dict[str, str]:
        """The ``[metrics]`` settings that send StatsD here."""
        return {
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(self.port),
            "AIRFLOW__METRICS__STATSD_PREFIX": prefix,
        }

    def metrics(self, startswith: str = "") -> list[Metric]:
        with self._lock:
            lines = list(self.raw)
        found = []
        for line in lines:
            if (m := LINE.match(line)) and m["name"].startswith(startswith):
                found.append(Metric(m["name"], float(m["value"]), m["kind"]))
        return found

    def names(self, startswith: str = "airflow.axiom.") -> set[str]:
        return {m.name for m in self.metrics(startswith)}

    def total(self, name: str) -> float:
        return sum(m.value for m in self.metrics() if m.name == name)

    def wait_for(self, name: str, timeout: float = 10.0) -> None:
        """UDP is asynchronous: wait until ``name`` has arrived (or fail naming what did)."""
        wait_for(
            f"the metric {name!r}",
            lambda: any(m.name == name for m in self.metrics()),
            timeout=timeout,
            interval=0.05,
            on_timeout=lambda: f"got {sorted(self.names())}",
        )
