"""Every key a profile may hold is documented: docs/profiles.md names it (screen keys may be
in docs/ui.md, which owns the `screens:` section), so a key added to the model without a
word in the docs fails here."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel, RootModel

from crmqa.profiles.models import Profile

ROOT = Path(__file__).resolve().parents[2]


def _models(annotation: typing.Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for argument in typing.get_args(annotation) for model in _models(argument)]


def profile_keys() -> dict[str, set[str]]:
    """Every key of the profile model and the models under it -> the models that have it."""
    keys: dict[str, set[str]] = {}
    seen: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [Profile]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            if not issubclass(model, RootModel):  # `root` is pydantic's, not a YAML key
                keys.setdefault(field.alias or name, set()).add(model.__name__)
            todo += _models(field.annotation)
    return keys


def _documented(key: str, text: str) -> bool:
    name = re.escape(key)
    # `key` in running text or a table, `key:` in a YAML example, `{key: ...}` inline.
    return re.search(rf"`{name}`|`{name}:|(?<![\w.$]){name}:|[{{,]\s*{name}\b", text) is not None


def test_every_profile_key_is_in_the_docs() -> None:
    text = (ROOT / "docs" / "profiles.md").read_text(encoding="utf-8") + (
        ROOT / "docs" / "ui.md").read_text(encoding="utf-8")
    keys = profile_keys()
    assert {"base_url_path", "count_request", "token_url", "scope", "total_path"} <= set(keys)
    missing = {key: sorted(models) for key, models in keys.items()
               if not _documented(key, text)}
    assert missing == {}
