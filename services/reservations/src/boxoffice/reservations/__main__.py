"""Run the reservations service: ``python -m boxoffice.reservations``."""

from boxoffice.chassis.logs import configure_logging
from boxoffice.chassis.runtime import serve
from boxoffice.reservations.app import create_app
from boxoffice.reservations.settings import Settings


def main() -> None:
    """Start the service with settings from the environment."""
    settings = Settings()
    configure_logging(settings.service_name, level=settings.log_level, json_lines=settings.log_json)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
