"""``python -m labrecog.cli``."""

from labrecog.cli import main

main()
