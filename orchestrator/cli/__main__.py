"""``python -m orchestrator.cli`` runs the pbxops command line."""

from . import main

main(prog_name="pbxops")
