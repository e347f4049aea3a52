"""Typed events from the wave engine to whoever watches (the CLI's progress, tests). Each
has a stable ``kind`` (what ``--json`` prints as "event") and ``to_dict()``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class WaveEvent:
    kind: ClassVar[str] = "event"
    at: str

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **asdict(self)}


@dataclass(frozen=True)
class WaveStarted(WaveEvent):
    kind: ClassVar[str] = "wave_started"
    wave: int
    release: str
    command: str


@dataclass(frozen=True)
class BatchStarted(WaveEvent):
    kind: ClassVar[str] = "batch_started"
    batch: str
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class HostChanged(WaveEvent):
    kind: ClassVar[str] = "host_state"
    host: str
    state: str
    summary: str


@dataclass(frozen=True)
class HostStep(WaveEvent):
    kind: ClassVar[str] = "host_step"
    host: str
    step: str
    task: str


@dataclass(frozen=True)
class TaskSeen(WaveEvent):
    kind: ClassVar[str] = "task"
    host: str
    task: str
    ansible: str


@dataclass(frozen=True)
class WaitingForWindow(WaveEvent):
    kind: ClassVar[str] = "waiting_for_window"
    hosts: tuple[str, ...]
    until: str


@dataclass(frozen=True)
class Recheck(WaveEvent):
    kind: ClassVar[str] = "recheck"
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class NodeDown(WaveEvent):
    kind: ClassVar[str] = "node_down"
    node: str
    reason: str


@dataclass(frozen=True)
class WaitingForOrphans(WaveEvent):
    kind: ClassVar[str] = "waiting_for_orphans"
    pids: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Interrupted(WaveEvent):
    kind: ClassVar[str] = "interrupted"
    wave: int
    reason: str


@dataclass(frozen=True)
class WaveFinished(WaveEvent):
    kind: ClassVar[str] = "wave_finished"
    wave: int
    status: str
    reason: str


EventSink = Callable[[WaveEvent], None]
