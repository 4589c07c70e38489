"""The boxoffice reservations service."""
