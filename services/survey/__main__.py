"""`python -m services.survey` — the survey API (uvicorn, uvloop + httptools) and its faust stream
processing in one process: the app's lifespan starts the faust agents next to the API."""

import uvicorn

from .settings import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run(
        "services.survey.app:create_app", factory=True, host=settings.host, port=settings.port,
        loop="uvloop", http="httptools", log_config=None, access_log=False,
    )


if __name__ == "__main__":
    main()
