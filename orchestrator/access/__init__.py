"""Secure remote access for SLA customers: a WireGuard hub with one spoke per PBX host,
an address pool in the ledger, and an OpenSSH certificate authority for technicians and
hosts. Use cases: ``service.grant/revoke/rotate/status``, ``sessions.open_session/run``.
"""

from .service import AccessHostError, AccessResult, HostAccess, grant, revoke, rotate, status

__all__ = ["AccessHostError", "AccessResult", "HostAccess", "grant", "revoke", "rotate", "status"]
