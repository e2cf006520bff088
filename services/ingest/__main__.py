"""`python -m services.ingest` — serve the ingest API."""

from services.common.web import serve

from .settings import get_settings


def main() -> None:
    settings = get_settings()
    serve("services.ingest.app:create_app", settings.host, settings.port)


if __name__ == "__main__":
    main()
