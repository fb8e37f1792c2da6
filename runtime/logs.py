"""Logging setup: loguru to stderr at the configured level."""

from __future__ import annotations

import sys

from loguru import logger

__all__ = ["configure_logging"]

_FORMAT = (
    "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    "<cyan>{thread.name: <22}</cyan> {message}"
)


def configure_logging(level: str) -> None:
    """Send log lines at ``level`` and above to stderr (replacing other sinks)."""
    logger.remove()
    logger.add(sys.stderr, level=level, format=_FORMAT, backtrace=False, diagnose=False)
