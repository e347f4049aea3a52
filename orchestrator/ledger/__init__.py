"""The ledger: SQLAlchemy models, Alembic migrations, and the per-contract record.

Later features add their tables as migrations in ``migrations/versions`` whose
``down_revision`` is ``0001_base`` (or their own previous one); ``upgrade`` applies all heads.
"""

from . import access as access  # registers the remote-access tables
from . import phones as phones  # registers the phone credential and stock tables
from . import sla as sla  # registers the SLA tables on the metadata
from . import tickets as tickets  # registers the ticket link, outbox and triage tables
from . import waves as waves  # registers the wave tables
from .db import ActionRecord, Ledger

__all__ = ["ActionRecord", "Ledger"]
