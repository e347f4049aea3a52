"""The ledger step of a running host, from the task file its current task comes from
(the file's name, not the task's)."""

from __future__ import annotations

_ROLE_STEPS = {"pbx_preflight": "precheck", "pbx_check": "precheck"}
_FILE_STEPS = {
    "precheck": "precheck",
    "major_precheck": "precheck",
    "drain": "drain",
    "backup": "backup",
    "update": "update",
    "upgrade": "update",
    "verify": "postcheck",
    "registrations": "postcheck",
    "rollback": "rollback",
}


def step_of(role: str | None, task_path: str | None) -> str | None:
    """The wave step a task belongs to (None: no change, e.g. a role's main.yml)."""
    if role in _ROLE_STEPS:
        return _ROLE_STEPS[role]
    if not task_path:
        return None
    stem = task_path.rsplit(":", 1)[0].rsplit("/", 1)[-1].removesuffix(".yml")
    return _FILE_STEPS.get(stem)


_ORDER = ("starting", "precheck", "drain", "backup", "update", "postcheck", "rollback")


def advances(current: str, step: str | None) -> bool:
    """Whether ``step`` moves a host on from ``current``: steps only go forward (the OS
    upgrade's verify reuses pbx_check, whose tasks alone would read as precheck), and a
    rollback's own verification stays ``rollback``."""
    if step is None or step == current:
        return False
    order = {name: i for i, name in enumerate(_ORDER)}
    return order.get(step, 0) > order.get(current, 0)
