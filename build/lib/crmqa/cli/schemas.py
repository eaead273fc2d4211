"""`crmqa schema`: every JSON Schema editors use, exported from the models themselves."""

from __future__ import annotations

from pathlib import Path


def export_all(out_dir: Path) -> list[Path]:
    from crmqa.plan.schema import export_schemas
    from crmqa.profiles.models import Profile

    return export_schemas(out_dir, extra=[("profile", Profile)])
