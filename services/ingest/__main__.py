"""`python -m services.ingest` — serve the ingest API with uvicorn (uvloop + httptools)."""

import uvicorn

from .settings import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run(
        "services.ingest.app:create_app", factory=True, host=settings.host, port=settings.port,
        loop="uvloop", http="httptools", log_config=None, access_log=False,
    )


if __name__ == "__main__":
    main()
