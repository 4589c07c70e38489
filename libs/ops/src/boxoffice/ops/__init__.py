"""Operator tools of boxoffice."""
