"""`python -m payplane.api`: serve the API with uvicorn on PAYPLANE_API_HOST:PAYPLANE_API_PORT."""

from __future__ import annotations

import uvicorn

from payplane.config import get_settings
from payplane.logging import configure_logging, uvicorn_log_config


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    uvicorn.run(
        "payplane.api.app:create_app",
        factory=True,
        host=settings.api_host,
        port=settings.api_port,
        workers=settings.api_workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=uvicorn_log_config(),
        log_level=settings.log_level.lower(),
    )


if __name__ == "__main__":
    main()
