"""Phone provisioning: vendor profiles, sandboxed rendering, publishing, hardware swaps.

``render`` and ``profiles`` are pure; ``service`` holds the use cases the CLI calls
(render, publish, diff, swap, workaround, stock) and talks to the ledger and executor.
"""

from .checks import register as _register_lint

_register_lint()
