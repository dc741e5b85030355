"""``python -m labrecog``."""

from labrecog.cli import main

main()
