"""Filters of the registrations post-check (roles/pbx_update/tasks/registrations.yml).

The profile's ``registrations_command`` prints one ``AOR EXPIRY`` line per contact the PBX
holds (EXPIRY in Unix seconds); the role prefixes the host's ``date +%s``. A contact counts
while it has not expired; an AOR has *registered again* once one of its contacts expires
later than it did before the update, i.e. the PBX accepted a new REGISTER for it (a PBX
keeps contacts across a restart, so their mere presence proves nothing).
"""

from __future__ import annotations

from typing import Any


def live_contacts(lines: list[str]) -> dict[str, int]:
    """AOR -> the latest expiry of its unexpired contacts (first line: the host's clock)."""
    if not lines or not lines[0].strip().isdigit():
        return {}
    now = int(lines[0])
    out: dict[str, int] = {}
    for line in lines[1:]:
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit():
            continue
        aor, expiry = fields[0], int(fields[1])
        if expiry > now:
            out[aor] = max(out.get(aor, 0), expiry)
    return out


def registered_again(after: dict[str, Any], before: dict[str, Any]) -> list[str]:
    """The AORs registered before whose contacts the PBX has renewed since."""
    return sorted(aor for aor, expiry in before.items() if int(after.get(aor, 0)) > int(expiry))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"live_contacts": live_contacts, "registered_again": registered_again}
