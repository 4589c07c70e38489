"""``python -m boxoffice.ops <command>``: operator tools."""

import sys
from collections.abc import Callable, Sequence

from boxoffice.ops import dlq, reconcile, token

COMMANDS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "reconcile": (reconcile.main, "check inventory and reservations agree; nothing stuck"),
    "dlq": (dlq.main, "list or replay the dead letters of a topic"),
    "token": (token.main, "mint a backoffice JWT"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a command."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        print("usage: python -m boxoffice.ops <command> ...\n\ncommands:", file=sys.stderr)
        for name, (_, summary) in COMMANDS.items():
            print(f"  {name:<10} {summary}", file=sys.stderr)
        return 0 if args[:1] in (["-h"], ["--help"]) else 2
    command, _ = COMMANDS[args[0]]
    return command(args[1:])


if __name__ == "__main__":
    sys.exit(main())
