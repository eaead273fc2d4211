"""List/search through each pagination style, against a tiny server holding 7 records."""

from __future__ import annotations

from typing import Any

import pytest

from crmqa.core.errors import EnvironmentProblem
from crmqa.drivers.api.listing import list_paths
from crmqa.plan.models import OpStep

RECORDS = [{"key": i, "Email": f"p{i}@x.org"} for i in range(1, 8)]


def _profile(pagination: dict[str, Any], **list_spec: Any) -> dict[str, Any]:
    return {
        "name": "paged",
        "entities": {"lead": {
            "collection": "/leads", "id_field": "key", "fields": {"email": "Email"},
            "operations": ["list", "search"],
            "list": {"pagination": pagination, **list_spec},
        }},
    }


def _server(tiny_server, style: str) -> Any:
    def handle(request: Any) -> tuple[int, dict[str, str], Any]:
        size = int(request.q("size") or 3)
        if style == "page":
            start = (int(request.q("p") or 1) - 1) * size
        elif style == "offset":
            start = int(request.q("skip") or 0)
        elif style == "cursor":
            start = int(request.q("after") or 0)
        else:
            start = int(request.q("from") or 0)
        chunk = RECORDS[start:start + size]
        body: dict[str, Any] = {"data": chunk, "meta": {"count": len(RECORDS)}}
        more = start + size < len(RECORDS)
        headers: dict[str, str] = {}
        if style == "cursor":
            body["meta"]["next"] = str(start + size) if more else None
        if style == "next_link" and more:
            headers["Link"] = f'</leads?from={start + size}&size={size}>; rel="next"'
        return 200, headers, body

    return tiny_server(handle)


STYLES: dict[str, dict[str, Any]] = {
    "page": {"style": "page", "page_param": "p", "size_param": "size"},
    "offset": {"style": "offset", "offset_param": "skip", "size_param": "size"},
    "cursor": {"style": "cursor", "cursor_param": "after", "size_param": "size",
               "next_cursor_path": "meta.next"},
    "next_link": {"style": "next_link", "size_param": "size"},
}


def _list(driver: Any, ctx: Any, **args: Any) -> Any:
    return driver.run(OpStep.model_validate({"op": "lead.list", "with": args}), ctx)


@pytest.mark.parametrize("style", sorted(STYLES))
def test_page_two_and_all_pages(style, tiny_server, driver_factory, step_ctx):
    server = _server(tiny_server, style)
    driver = driver_factory(_profile(STYLES[style], items_path="data",
                                     total_path="meta.count"), server.base_url)
    page_two = _list(driver, step_ctx, page=2, page_size=3)
    assert [r["email"] for r in page_two.data["records"]] == ["p4@x.org", "p5@x.org", "p6@x.org"]
    assert page_two.data["records"][0]["id"] == 4  # id_field mapped to canonical id
    assert page_two.data["total"] == 7
    everything = _list(driver, step_ctx, all=True, page_size=3)
    assert [r["id"] for r in everything.data["records"]] == list(range(1, 8))
    assert everything.data["count"] == 7


def test_page_past_the_end_is_empty(tiny_server, driver_factory, step_ctx):
    server = _server(tiny_server, "cursor")
    driver = driver_factory(_profile(STYLES["cursor"], items_path="data"), server.base_url)
    assert _list(driver, step_ctx, page=9, page_size=3).data["records"] == []


def test_search_sends_query_filters_and_sort(tiny_server, driver_factory, step_ctx):
    server = _server(tiny_server, "page")
    profile = _profile(STYLES["page"], items_path="data", search_param="term",
                       filters={"status": "state"},
                       sort={"param": "order", "style": "suffix", "separator": " "})
    profile["entities"]["lead"]["values"] = {"status": {"qualified": "Q"}}
    driver = driver_factory(profile, server.base_url)
    step = OpStep.model_validate({"op": "lead.search", "with": {
        "query": "smith", "filters": {"status": "qualified"}, "sort": "-email"}})
    driver.run(step, step_ctx)
    request = server.requests[-1]
    assert request.q("term") == "smith"
    assert request.q("state") == "Q"
    assert request.q("order") == "Email desc"


def test_a_wrong_items_path_names_the_setting_and_where_the_lists_are(
        tiny_server, driver_factory, step_ctx):
    """A profile typo must point at itself: the message names the setting and the answer's
    lists, so the fix does not need a packet capture."""
    server = _server(tiny_server, "page")
    driver = driver_factory(_profile(STYLES["page"], items_path="rows"), server.base_url)
    with pytest.raises(EnvironmentProblem) as raised:
        _list(driver, step_ctx)
    message = str(raised.value)
    assert "no list of records at rows" in message
    assert "profile 'paged', entities.lead.list.items_path" in message
    assert "the answer has lists at: data" in message


def test_list_paths_finds_lists_two_levels_deep() -> None:
    body = {"result": {"items": [], "page": {"rows": []}}, "links": [], "total": 3}
    assert list_paths(body) == ["result.items", "links"]
    assert list_paths([1, 2]) == []


@pytest.mark.parametrize("style", sorted(STYLES))
def test_walking_every_page_past_the_profiles_bound_is_an_environment_error(
        style, tiny_server, driver_factory, step_ctx):
    # 7 records in pages of 3 need 3 pages: a bound of 2 would silently drop the seventh
    server = _server(tiny_server, style)
    bounded = {**STYLES[style], "max_pages": 2}
    driver = driver_factory(_profile(bounded, items_path="data", total_path="meta.count"),
                            server.base_url)
    with pytest.raises(EnvironmentProblem, match=r"lead.list: more than 2 pages to read, .*"
                                                 r"entities.lead.list.pagination.max_pages"
                                                 r".* 6 of 7 records read"):
        _list(driver, step_ctx, all=True, page_size=3)
    enough = {**STYLES[style], "max_pages": 3}
    driver = driver_factory(_profile(enough, items_path="data", total_path="meta.count"),
                            server.base_url)
    assert len(_list(driver, step_ctx, all=True, page_size=3).data["records"]) == 7
