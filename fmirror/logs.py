"""Logging to stderr (journald adds the time there; the lab log files want it too)."""

import logging
import sys

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class _NodeRole(logging.Filter):
    def __init__(self, node, role):
        super().__init__()
        self.node, self.role = node, role

    def filter(self, record):
        record.node, record.role = self.node, self.role()
        return True


def setup(level: str, node: str, role) -> None:
    """One line per event, with the node and its live role (role: a callable)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_NodeRole(node, role))
    handler.setFormatter(logging.Formatter(
        "%(asctime)s.%(msecs)03d %(node)s/%(role)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    set_level(level)


def set_level(level: str) -> None:
    logging.getLogger().setLevel(LEVELS.get(level, logging.INFO))
