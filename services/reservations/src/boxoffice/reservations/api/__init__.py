"""HTTP routers of the reservations service."""
