"""boxoffice chassis."""
