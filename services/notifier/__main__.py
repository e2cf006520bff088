"""`python -m services.notifier` — the notifier API + nurse console (uvicorn, uvloop + httptools) and its
faust stream processing (rules on clock ticks, delivery) in one process: the app's lifespan starts both."""

import uvicorn

from .settings import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run(
        "services.notifier.app:create_app", factory=True, host=settings.host, port=settings.port,
        loop="uvloop", http="httptools", log_config=None, access_log=False,
    )


if __name__ == "__main__":
    main()
