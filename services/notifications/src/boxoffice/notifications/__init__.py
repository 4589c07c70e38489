"""The boxoffice notifications service."""
