"""`python -m services.metrics` — the metrics API + dashboard, the
ClickHouse sink and the faust member-day agents, in ONE process (the one that owns ClickHouse)."""

from services.common.web import serve

from .settings import get_settings


def main() -> None:
    settings = get_settings()
    serve("services.metrics.app:create_app", settings.host, settings.port)


if __name__ == "__main__":
    main()
