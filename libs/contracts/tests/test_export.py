"""The JSON Schemas on disk and the export command."""

import json
from pathlib import Path, PurePosixPath

import pytest

from boxoffice.contracts import ALL_TOPICS, message_types
from boxoffice.contracts.export import DEFAULT_DIR, main, render_schemas

HOLD_SEATS = PurePosixPath("inventory.commands", "boxoffice.inventory.HoldSeats.v1.json")


def _tree(directory: Path) -> dict[str, str]:
    return {
        path.relative_to(directory).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_committed_schemas_are_up_to_date(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0

    assert _tree(DEFAULT_DIR) == _tree(tmp_path), (
        "schemas are stale: run python -m boxoffice.contracts.export"
    )


def test_one_schema_per_message_type_plus_an_index_per_topic() -> None:
    files = render_schemas()

    for topic in ALL_TOPICS:
        types = message_types(topic)
        index = json.loads(files[PurePosixPath(topic, "index.json")])
        assert len(index["oneOf"]) == len(types)
        for message_type in types:
            schema = json.loads(files[PurePosixPath(topic, f"{message_type}.json")])
            assert schema["properties"]["type"]["const"] == message_type
            assert "type" in schema["required"]


def test_output_is_deterministic() -> None:
    content = render_schemas()[HOLD_SEATS]

    assert content == render_schemas()[HOLD_SEATS]
    assert content.endswith("}\n")
    assert content == json.dumps(json.loads(content), indent=2, sort_keys=True) + "\n"


def test_check_reports_missing_stale_and_extra_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--check", str(tmp_path)]) == 1
    assert f"missing: {HOLD_SEATS}" in capsys.readouterr().err

    assert main([str(tmp_path)]) == 0
    assert main(["--check", str(tmp_path)]) == 0

    (tmp_path / HOLD_SEATS).write_text("{}\n", encoding="utf-8")
    (tmp_path / "inventory.commands" / "boxoffice.inventory.Gone.v1.json").write_text("{}")
    assert main(["--check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"stale: {HOLD_SEATS}" in err
    assert "extra: inventory.commands/boxoffice.inventory.Gone.v1.json" in err


def test_export_rewrites_stale_and_removes_extra_files(tmp_path: Path) -> None:
    main([str(tmp_path)])
    (tmp_path / HOLD_SEATS).write_text("{}\n", encoding="utf-8")
    (tmp_path / "retired.topic").mkdir()
    (tmp_path / "retired.topic" / "index.json").write_text("{}")

    assert main([str(tmp_path)]) == 0

    assert not (tmp_path / "retired.topic").exists()
    assert main(["--check", str(tmp_path)]) == 0
