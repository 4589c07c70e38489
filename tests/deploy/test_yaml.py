"""Every YAML file under deploy/ parses, without duplicate keys (YAML would keep the last)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from . import manifests as m


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    loader.flatten_mapping(node)  # resolve YAML merge keys (<<) first: overriding is fine
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)

FILES = m.yaml_files()


def test_yaml_files_found() -> None:
    names = {str(path.relative_to(m.DEPLOY)) for path in FILES}
    assert {"compose.yaml", "k8s/kustomization.yaml", "k8s/example-secrets.yaml"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(m.DEPLOY)))
def test_parses(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "\t" not in text, "tabs are not YAML indentation"
    documents = [d for d in yaml.load_all(text, Loader=_StrictLoader) if d is not None]
    assert documents, "empty file"
    assert all(isinstance(document, dict) for document in documents)
    if path.is_relative_to(m.K8S) and path.name != "kustomization.yaml":
        for document in documents:
            assert {"apiVersion", "kind", "metadata"} <= set(document), document.get("kind")
            assert document["metadata"]["name"]


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.load("a: 1\na: 2\n", Loader=_StrictLoader)  # noqa: S506
