"""Run the notifications service: ``python -m boxoffice.notifications``."""

from boxoffice.chassis.logs import configure_logging
from boxoffice.chassis.runtime import serve
from boxoffice.notifications.app import create_app
from boxoffice.notifications.settings import Settings


def main() -> None:
    """Start the service with settings from the environment."""
    settings = Settings()
    configure_logging(settings.service_name, level=settings.log_level, json_lines=settings.log_json)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
