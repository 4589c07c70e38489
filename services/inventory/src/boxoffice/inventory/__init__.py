"""The boxoffice inventory service."""
