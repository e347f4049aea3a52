"""Tickets: SLA incidents as tickets in a real ticket system (Request Tracker 5).

``adapter`` is the only module that talks to RT (the only importer of the ``rt`` package);
``intake`` matches a mail's sender to a customer (pure); ``sync`` drains the ledger's
outbox into RT and brings RT's changes and new mail-born tickets back; ``service`` is the
settings-level way in for the CLI and the incident commands; ``credentials`` keeps the RT
password encrypted at rest.
"""
