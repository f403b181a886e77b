"""``python3 -m firstsip_sidecar``: serves the app (and so runs the worker) with uvicorn."""

from __future__ import annotations

import sys

import uvicorn

from .api import create_app
from .errors import ConfigurationError
from .logs import configure_logging
from .settings import Settings


def main() -> int:
    """Reads the settings from the environment and serves until SIGTERM or SIGINT."""
    try:
        settings = Settings.from_env()
    except ConfigurationError as error:
        print(f"firstsip-sidecar: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        lifespan="on",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
