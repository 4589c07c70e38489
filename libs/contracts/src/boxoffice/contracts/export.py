"""Export the JSON Schemas of the envelopes of every topic.

Usage: ``python -m boxoffice.contracts.export [--check] [DIR]``.

Writes ``DIR/<topic>/<message type>.json`` for each message type and ``DIR/<topic>/index.json``
for the topic's union. Every ``*.json`` file under DIR is managed: stale ones are rewritten,
unexpected ones removed. ``--check`` changes nothing and exits 1 when DIR is not up to date.
"""

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import TypeAdapter

from boxoffice.contracts.envelope import envelope_class
from boxoffice.contracts.registry import TOPIC_UNIONS, message_types

DEFAULT_DIR = Path(__file__).parents[3] / "schemas"
"""``libs/contracts/schemas`` of the source tree."""

_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_INDEX = "index.json"


def _dump(schema: Mapping[str, Any]) -> str:
    # Sorted and newline-terminated so that the files are stable under version control.
    return json.dumps({"$schema": _DIALECT, **schema}, indent=2, sort_keys=True) + "\n"


def render_schemas() -> dict[PurePosixPath, str]:
    """Return the content of every schema file, by path relative to the schema folder."""
    files: dict[PurePosixPath, str] = {}
    for topic, union in TOPIC_UNIONS.items():
        folder = PurePosixPath(topic)
        for message_type, message_cls in message_types(topic).items():
            schema = envelope_class(message_cls).model_json_schema()
            files[folder / f"{message_type}.json"] = _dump(schema)
        index = TypeAdapter(union).json_schema()
        files[folder / _INDEX] = _dump({"title": str(topic), **index})
    return files


def _existing(directory: Path) -> set[PurePosixPath]:
    return {
        PurePosixPath(path.relative_to(directory).as_posix())
        for path in directory.rglob("*.json")
        if path.is_file()
    }


def check_schemas(directory: Path) -> list[str]:
    """List how ``directory`` differs from the rendered schemas; empty when up to date."""
    expected = render_schemas()
    existing = _existing(directory) if directory.is_dir() else set()
    problems = [f"missing: {path}" for path in sorted(expected.keys() - existing)]
    problems += [
        f"stale: {path}"
        for path in sorted(expected.keys() & existing)
        if (directory / path).read_text(encoding="utf-8") != expected[path]
    ]
    problems += [f"extra: {path}" for path in sorted(existing - expected.keys())]
    return problems


def write_schemas(directory: Path) -> list[str]:
    """Bring ``directory`` up to date and return what was changed."""
    changes: list[str] = []
    expected = render_schemas()
    existing = _existing(directory) if directory.is_dir() else set()
    for path, content in sorted(expected.items()):
        target = directory / path
        if path in existing and target.read_text(encoding="utf-8") == content:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        changes.append(f"wrote: {path}")
    for path in sorted(existing - expected.keys()):
        (directory / path).unlink()
        changes.append(f"removed: {path}")
        if not any((directory / path).parent.iterdir()):
            (directory / path).parent.rmdir()
    return changes


def generated_files_main(
    argv: Sequence[str] | None,
    *,
    prog: str,
    description: str,
    default_dir: Path,
    check: Callable[[Path], list[str]],
    write: Callable[[Path], list[str]],
) -> int:
    """The command line of a generated, committed folder: write it, or ``--check`` it.

    Shared by the JSON Schemas here and the services' AsyncAPI documents.

    Args:
        check: the problems of a folder (empty when up to date).
        write: brings a folder up to date; returns what it changed, one line each.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--check", action="store_true", help="only report stale, missing or extra files"
    )
    parser.add_argument("directory", nargs="?", type=Path, default=default_dir, metavar="DIR")
    args = parser.parse_args(argv)
    directory: Path = args.directory
    if args.check:
        problems = check(directory)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"{directory} is out of date: run {parser.prog}", file=sys.stderr)
            return 1
        return 0
    for change in write(directory):
        print(change)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    return generated_files_main(
        argv,
        prog="python -m boxoffice.contracts.export",
        description="Export the JSON Schemas of the boxoffice messages.",
        default_dir=DEFAULT_DIR,
        check=check_schemas,
        write=write_schemas,
    )


if __name__ == "__main__":
    sys.exit(main())
