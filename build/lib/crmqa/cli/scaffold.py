"""`crmqa init DIR`: a plan, a target profile and a suite that validate as they are."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from crmqa.core.errors import CrmqaError

FILES = {
    "plan.yaml": "plan.yaml",
    "profiles/my-crm.yaml": "profile.yaml",
    "suites/leads.yaml": "suite.yaml",
}


def scaffold(directory: Path) -> list[Path]:
    """Write the starter files; refuses to overwrite anything that exists."""
    existing = [directory / name for name in FILES if (directory / name).exists()]
    if existing:
        raise CrmqaError(
            "not overwriting existing files: " + ", ".join(str(p) for p in existing)
        )
    written = []
    templates = resources.files("crmqa.cli") / "scaffold_files"
    for name, template in FILES.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text((templates / template).read_text(encoding="utf-8"), encoding="utf-8")
        written.append(path)
    return written
