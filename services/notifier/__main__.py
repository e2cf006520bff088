"""`python -m services.notifier` — the notifier API + nurse console and its
faust stream processing (rules on clock ticks, delivery) in one process: the app's lifespan starts both."""

from services.common.web import serve

from .settings import get_settings


def main() -> None:
    settings = get_settings()
    serve("services.notifier.app:create_app", settings.host, settings.port)


if __name__ == "__main__":
    main()
