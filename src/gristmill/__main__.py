"""``python -m gristmill`` runs the command line."""

from gristmill.cli import main

main()
