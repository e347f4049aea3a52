"""The SLA service: reaction deadlines, incidents, notifications, hour packages, reports.

Pure parts (``clock``, ``coverage``) take every moment as an argument; the use cases
(``incidents``, ``hours``, ``report``) take a Fleet, a Ledger and ``now``.
"""
