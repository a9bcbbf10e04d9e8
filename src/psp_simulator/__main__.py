"""`python -m psp_simulator` / `psp-simulator`: serve the simulator with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from psp_simulator.app import create_app
from psp_simulator.settings import Settings


def main() -> None:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        log_level=settings.log_level,
        # Per-request access lines cost more than the request itself at load-test rates.
        access_log=False,
    )


if __name__ == "__main__":
    main()
