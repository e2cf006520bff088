"""`python -m services.clock` — the clock process (docs/clock.md)."""

from services.common.web import serve

from .settings import get_settings


def main() -> None:
    settings = get_settings()
    serve("services.clock.app:create_app", settings.host, settings.port)


if __name__ == "__main__":
    main()
