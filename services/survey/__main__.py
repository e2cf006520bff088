"""`python -m services.survey` — the survey API and its faust stream
processing in one process: the app's lifespan starts the faust agents next to the API."""

from services.common.web import serve

from .settings import get_settings


def main() -> None:
    settings = get_settings()
    serve("services.survey.app:create_app", settings.host, settings.port)


if __name__ == "__main__":
    main()
