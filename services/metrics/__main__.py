"""`python -m services.metrics` — the metrics API + dashboard (uvicorn, uvloop + httptools), the
ClickHouse sink and the faust member-day agents, in ONE process (the one that owns ClickHouse)."""

import uvicorn

from .settings import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run(
        "services.metrics.app:create_app", factory=True, host=settings.host, port=settings.port,
        loop="uvloop", http="httptools", log_config=None, access_log=False,
    )


if __name__ == "__main__":
    main()
