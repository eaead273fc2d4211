"""crmqa's xdist scheduler: dependency groups stay whole and in order, other cases go out in
chunks of consecutive cases (one unit per case made workers wait on the controller)."""

from __future__ import annotations

from pathlib import Path

from crmqa.pytest_plugin.scheduling import MAX_CHUNK, chunk_size, units_of
from tests.conftest import _MODULE_GROUP


def test_groups_stay_whole_and_other_cases_are_chunked_in_order() -> None:
    collection = ["p.yaml::MAKE", *(f"p.yaml::READ[{i}]" for i in range(200)), "p.yaml::EDIT"]
    groups = {"MAKE": "deps-MAKE", "EDIT": "deps-MAKE"}
    units = units_of(collection, groups, workers=2)
    assert units["p.yaml::MAKE"] == units["p.yaml::EDIT"] == "deps-MAKE"
    chunks = [units[f"p.yaml::READ[{i}]"] for i in range(200)]
    assert len(set(chunks)) == 200 // chunk_size(200, 2)
    assert chunks == sorted(chunks, key=lambda name: int(name.split("-")[1]))  # consecutive
    assert chunks[0] == chunks[chunk_size(200, 2) - 1] != chunks[chunk_size(200, 2)]


def test_chunks_are_small_enough_to_share_the_work() -> None:
    assert chunk_size(1000, 2) == MAX_CHUNK
    assert chunk_size(16, 2) == 2  # about four units per worker
    assert chunk_size(3, 8) == 1


def test_the_longest_test_groups_start_first_and_the_rest_keep_their_order() -> None:
    from tests.conftest import LONGEST_FIRST, longest_first

    scopes = ["tests/a.py::x", "bottlecrm", "tests/b.py::y", "clean-plan", "e2e-runs"]
    assert longest_first(scopes) == ["clean-plan", "bottlecrm", "e2e-runs", "tests/a.py::x",
                                     "tests/b.py::y"]
    # every group named there exists: a renamed group would silently lose its place
    groups = {match.group(1) for path in Path(__file__).parent.rglob("test_*.py")
              if (match := _MODULE_GROUP.search(path.read_text(encoding="utf-8")))}
    assert set(LONGEST_FIRST) <= groups
