"""Logging configuration: every logger sits under ``firstsip``."""

from __future__ import annotations

import logging.config
from typing import Any, Dict


def default_log_config(level: str = "INFO") -> Dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary: one stderr handler, timestamps, levels.

    :param level: the level of the ``firstsip`` loggers.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "firstsip": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


def configure_logging(level: str = "INFO") -> None:
    """Applies :func:`default_log_config`."""
    logging.config.dictConfig(default_log_config(level))
