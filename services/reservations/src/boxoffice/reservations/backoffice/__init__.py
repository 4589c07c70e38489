"""The backoffice web UI: server-rendered pages for event organizers.

An adapter like ``api/``: the pages call the same service functions as the JSON API.
"""

from boxoffice.reservations.backoffice.views import router

__all__ = ["router"]
