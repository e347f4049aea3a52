"""The sweep in the Prometheus exposition format: a node-exporter textfile, or an HTTP
endpoint (``prometheus_client``) that always serves the latest sweep.

Metrics (labels ``customer``, ``host``; per check also ``check``):

- ``pbxops_health_check_ok``          1 when the check passes (ok or warn), 0 when it fails
- ``pbxops_health_check_severity``    0 ok, 1 warn, 2 fail (skipped checks are absent)
- ``pbxops_host_up``                  1 when the host answers over SSH
- ``pbxops_sip_response_seconds``     SIP OPTIONS round trip (answered hosts only)
- ``pbxops_disk_used_ratio`` / ``pbxops_memory_available_ratio``
- ``pbxops_certificate_expiry_days`` / ``pbxops_backup_age_hours``
- ``pbxops_pbx_version_info``         1, with ``version`` and ``latest`` labels
- ``pbxops_sweep_duration_seconds`` / ``pbxops_sweep_hosts`` / ``pbxops_sweep_failing_hosts``
  / ``pbxops_sweep_timestamp_seconds``
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .checks import FAIL, SKIP, WARN, HostHealth
from .sweep import SweepResult

SEVERITY = {"ok": 0.0, WARN: 1.0, FAIL: 2.0}
_HOST = ["customer", "host"]


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def _check_metrics(hosts: tuple[HostHealth, ...]) -> Iterator[Metric]:
    ok = _gauge("pbxops_health_check_ok", "1 when the check passes", [*_HOST, "check"])
    sev = _gauge("pbxops_health_check_severity", "0 ok, 1 warn, 2 fail", [*_HOST, "check"])
    for h in hosts:
        for c in h.checks:
            if c.status == SKIP:
                continue
            ok.add_metric([h.customer, h.host, c.name], 0.0 if c.status == FAIL else 1.0)
            sev.add_metric([h.customer, h.host, c.name], SEVERITY[c.status])
    yield ok
    yield sev


_VALUES = (
    # check name, metric, help, scale applied to Check.value
    ("reachable", "pbxops_host_up", "1 when the host answers over SSH", 1.0),
    ("sip", "pbxops_sip_response_seconds", "SIP OPTIONS round trip", 0.001),
    ("disk", "pbxops_disk_used_ratio", "Used fraction of the root filesystem", 0.01),
    ("memory", "pbxops_memory_available_ratio", "Available fraction of memory", 0.01),
    ("certificate", "pbxops_certificate_expiry_days", "Days until the certificate expires", 1),
    ("backup", "pbxops_backup_age_hours", "Hours since the newest backup", 1.0),
)


def _value_metrics(hosts: tuple[HostHealth, ...]) -> Iterator[Metric]:
    for check, name, doc, scale in _VALUES:
        family = _gauge(name, doc, _HOST)
        for h in hosts:
            c = h.check(check)
            if c is not None and c.value is not None and (check != "sip" or c.status != FAIL):
                family.add_metric([h.customer, h.host], c.value * scale)
        yield family


def _version_metrics(hosts: tuple[HostHealth, ...]) -> Iterator[Metric]:
    info = _gauge("pbxops_pbx_version_info", "Running PBX version", [*_HOST, "version", "latest"])
    for h in hosts:
        if h.version:
            info.add_metric([h.customer, h.host, h.version, h.latest or ""], 1.0)
    yield info


def _sweep_metrics(result: SweepResult) -> Iterator[Metric]:
    pairs = (
        ("pbxops_sweep_duration_seconds", "Wall time of the last sweep", result.duration_s),
        ("pbxops_sweep_hosts", "Hosts checked by the last sweep", float(len(result.hosts))),
        ("pbxops_sweep_failing_hosts", "Hosts with a failing check", float(len(result.failing))),
        (
            "pbxops_sweep_timestamp_seconds",
            "When the last sweep started (Unix time)",
            result.started.timestamp(),
        ),
    )
    for name, doc, value in pairs:
        yield GaugeMetricFamily(name, doc, value=value)


class SweepCollector(Collector):
    """Serves whatever sweep it was last given (thread-safe swap)."""

    def __init__(self, result: SweepResult | None = None) -> None:
        self._lock = threading.Lock()
        self._result = result

    def update(self, result: SweepResult) -> None:
        with self._lock:
            self._result = result

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            result = self._result
        if result is None:
            return
        yield from _check_metrics(result.hosts)
        yield from _value_metrics(result.hosts)
        yield from _version_metrics(result.hosts)
        yield from _sweep_metrics(result)


def registry_for(collector: SweepCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def exposition(result: SweepResult) -> str:
    """The sweep as Prometheus text (version 0.0.4)."""
    return generate_latest(registry_for(SweepCollector(result))).decode()


def write_textfile(result: SweepResult, path: Path) -> None:
    """Atomically (re)write a node-exporter textfile-collector file (0644: node-exporter
    runs as its own user and must read it; it holds no secrets)."""
    from ..fsutil import atomic_write

    atomic_write(path, exposition(result), mode=0o644)


def serve(collector: SweepCollector, port: int, addr: str = "127.0.0.1") -> None:
    """Serve ``/metrics`` on ``addr:port`` from a daemon thread."""
    start_http_server(port, addr=addr, registry=registry_for(collector))
