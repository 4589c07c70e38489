"""Development JWTs for the dev stack and the tests: the operator tool's minting.

One implementation lives in ``boxoffice.ops.token`` (``python -m boxoffice.ops token``);
this module re-exports it so test code keeps importing from the dev stack.
"""

from boxoffice.ops.token import mint_token, parse_ttl

__all__ = ["mint_token", "parse_ttl"]
