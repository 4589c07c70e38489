"""``python -m boxoffice.ops <command>``: operator tools."""

import sys

from boxoffice.ops import reconcile


def main() -> int:
    """Dispatch to a command."""
    commands = {"reconcile": reconcile.main}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(f"usage: python -m boxoffice.ops {{{','.join(commands)}}} ...", file=sys.stderr)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
