"""The command line (``convroute``): ``main`` and its command groups."""

from convroute.cli.main import main

__all__ = ["main"]
