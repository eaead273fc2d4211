"""The load's own logic without Locust: statistics, SLO judgement, the schedule, options,
the journal and the locustfile. (Nothing here imports Locust: it patches the process.)"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from crmqa.core.results import Attachment
from crmqa.load.driver import Journal
from crmqa.load.locustfile import LoadSetting, load_spec, render_locustfile
from crmqa.load.model import LoadSpec, Slo
from crmqa.load.options import (
    LoadOptionError,
    export_load_options,
    is_loopback,
    load_setting,
    parse_bind,
    pytest_load_arguments,
)
from crmqa.load.schedule import Control, shape_tick
from crmqa.load.slo import abort_reason, judge, window_ok
from crmqa.load.stats import AUTH_TYPE, Scope, Second, Tally, delta_second, rounded_ms, tally


def _second(t: float, *, users: int = 5, phase: str = "load", **entries: Tally) -> Second:
    return Second(t=t, phase=phase, users=users,
                  entries={tuple(key.split("|")): value for key, value in entries.items()})  # type: ignore[misc]


def _tally(times: dict[int, int], failures: int = 0) -> Tally:
    histogram = Counter(times)
    requests = sum(times.values())
    return Tally(requests, failures, histogram, float(sum(k * v for k, v in times.items())),
                 float(max(times)))


def _spec(**load: object) -> LoadSpec:
    base: dict[str, object] = {
        "scenarios": [{"name": "s", "tasks": [{"name": "t", "steps": [
            {"op": "lead.search", "with": {"query": "a"}}]}]}],
        "shape": {"users": 4, "duration_s": 10}}
    base.update(load)
    return LoadSpec.model_validate(base)


# --------------------------------------------------------------------------- statistics


def test_response_times_are_bucketed_as_locust_does() -> None:
    assert [rounded_ms(v) for v in (42.4, 147, 1234, 23456)] == [42, 150, 1200, 23000]


def test_percentiles_follow_locusts_rule() -> None:
    figures = _tally({10: 90, 200: 9, 1000: 1})
    assert figures.percentile(0.5) == 10
    assert figures.percentile(0.95) == 200
    assert figures.percentile(0.99) == 1000  # 99 answers at or below: Locust says 1000
    assert figures.percentile(0.98) == 200
    assert figures.percentile(1.0) == 1000
    assert figures.avg_ms == pytest.approx((900 + 1800 + 1000) / 100)
    assert Tally().percentile(0.95) == 0.0


def test_a_second_is_the_difference_of_two_snapshots_and_survives_json() -> None:
    before = {("s", "lead.search"): (10, 1, {10: 9, 50: 1}, 140.0, 50.0)}
    now = {("s", "lead.search"): (14, 2, {10: 11, 50: 1, 900: 2}, 2000.0, 900.0),
           ("auth", "login as sales"): (1, 0, {300: 1}, 300.0, 300.0)}
    second = delta_second(3.0, "load", 7, now, before)
    search = second.entries[("s", "lead.search")]
    assert (search.requests, search.failures, dict(search.histogram)) == (4, 1, {10: 2, 900: 2})
    assert search.max_ms == 900.0
    again = Second.from_json(second.to_json())
    assert again.entries.keys() == second.entries.keys()
    assert dict(again.entries[("s", "lead.search")].histogram) == {10: 2, 900: 2}
    # unchanged entries are left out
    assert delta_second(4.0, "load", 7, now, now).entries == {}


def test_scopes_select_requests_and_leave_logins_out_unless_named() -> None:
    seconds = [_second(1, **{"a|lead.search": _tally({10: 4}), "b|lead.search": _tally({20: 2}),
                             "b|lead.create": _tally({30: 1}),
                             f"{AUTH_TYPE}|login as x": _tally({900: 1})})]
    assert tally(seconds).requests == 7
    assert tally(seconds, Scope(operation="lead.search")).requests == 6
    assert tally(seconds, Scope(scenario="b")).requests == 3
    assert tally(seconds, Scope("lead.search", "b")).requests == 2
    assert tally(seconds, Scope(operation="login as x")).requests == 1


# --------------------------------------------------------------------------- SLOs


def test_every_threshold_is_judged_and_worded() -> None:
    seconds = [_second(t, **{"s|lead.search": _tally({100: 18, 800: 2}, failures=1)})
               for t in (1, 2, 3, 4)]
    slo = Slo(operation="lead.search", p95_ms=500, p50_ms=200, error_rate_pct=10,
              min_rps=30, users_held=5)
    found = {j.key: j for j in judge([slo], seconds)}
    assert found["p50_ms"].ok and found["error_rate_pct"].ok and found["users_held"].ok
    assert not found["p95_ms"].ok and found["p95_ms"].actual == 800
    assert found["p95_ms"].message() == ("p95 of lead.search is 800 ms, above the SLO of "
                                        "500 ms (80 requests)")
    assert found["min_rps"].actual == pytest.approx(20.0)
    assert not found["min_rps"].ok and "below the SLO of 30.0 req/s" in found["min_rps"].message()


def test_an_slo_whose_requests_never_came_fails() -> None:
    (judgement,) = judge([Slo(operation="lead.get", p95_ms=500)],
                         [_second(1, **{"s|lead.search": _tally({10: 3})})])
    assert not judgement.ok and judgement.actual is None
    assert judgement.message() == ("no lead.get request completed, so its p95 cannot be "
                                   "judged")


def test_abort_waits_for_its_delay_and_enough_requests() -> None:
    slow = {"s|lead.search": _tally({1200: 20})}
    slo = Slo(operation="lead.search", p95_ms=500, abort_on_fail=True, abort_after_s=3)
    assert abort_reason([slo], [_second(1, **slow)], elapsed_s=1) is None
    reason = abort_reason([slo], [_second(1, **slow), _second(2, **slow)], elapsed_s=3)
    assert reason is not None and reason.startswith("slo 1: p95 of lead.search is 1200 ms")
    few = {"s|lead.search": _tally({1200: 3})}
    assert abort_reason([slo], [_second(3, **few)], elapsed_s=5) is None
    kept = Slo(operation="lead.search", p95_ms=5000, abort_on_fail=True, abort_after_s=0)
    assert abort_reason([kept], [_second(1, **slow)], elapsed_s=5) is None
    assert abort_reason([slo.model_copy(update={"abort_on_fail": False})],
                        [_second(1, **slow)], elapsed_s=9) is None


def test_windows_judge_only_what_the_crm_controls() -> None:
    slos = [Slo(p95_ms=500, min_rps=1000, error_rate_pct=1)]
    good = [_second(1, **{"s|x": _tally({100: 10})})]
    assert window_ok(slos, good) == []  # throughput is the users' doing, not the CRM's
    bad = [_second(1, **{"s|x": _tally({100: 10}, failures=2)})]
    assert [j.key for j in window_ok(slos, bad)] == ["error_rate_pct"]


# --------------------------------------------------------------------------- schedule


def test_constant_shape_then_recovery_watch() -> None:
    spec = _spec(shape={"users": 4, "duration_s": 10, "spawn_rate": 2},
                 recovery={"within_s": 5, "users": 1})
    control = Control(spec, Path("."))
    assert shape_tick(control, 0) == (4, 2.0) and control.phase == "load"
    assert shape_tick(control, 10.5) == (1, 4.0) and control.phase == "recovery"
    assert shape_tick(control, 15.6) is None
    assert spec.planned_duration_s() == 15


def test_stages_ramp_linearly_and_caps_hold() -> None:
    spec = _spec(shape={"stages": [{"users": 10, "duration_s": 5}, {"users": 10,
                                                                     "duration_s": 5},
                                   {"users": 0, "duration_s": 2}]},
                 limits={"max_users": 8, "max_duration_s": 11})
    control = Control(spec, Path("."))
    assert shape_tick(control, 1) == (8, 1.6)  # capped at max_users, ramped over 5 s
    assert shape_tick(control, 7)[0] == 8  # type: ignore[index]
    assert shape_tick(control, 11.2) is None  # max_duration_s wins over the stages


def test_step_ramp_climbs_until_a_step_breaks_an_slo() -> None:
    spec = _spec(shape={"start_users": 2, "step_users": 3, "step_s": 5, "max_users": 9})
    control = Control(spec, Path("."))
    assert [shape_tick(control, t) for t in (0, 5, 10, 15)] == [
        (2, 3.0), (5, 3.0), (8, 3.0), (9, 3.0)]
    assert control.phase == "step 4" and shape_tick(control, 20) is None
    control.capacity_over = True
    assert shape_tick(control, 6) is None


# --------------------------------------------------------------------------- options


def test_bind_and_loopback() -> None:
    assert parse_bind("0.0.0.0:6000") == ("0.0.0.0", 6000)
    assert parse_bind(":6001") == ("127.0.0.1", 6001)
    assert parse_bind("10.1.2.3") == ("10.1.2.3", 5557)
    with pytest.raises(LoadOptionError):
        parse_bind("h:99999")
    assert is_loopback("http://127.0.0.1:8000") and is_loopback("http://localhost/x")
    assert is_loopback("http://[::1]:80") and is_loopback("https://127.8.9.1")
    assert not is_loopback("https://crm.example.com") and not is_loopback("http://10.0.0.5")


def test_options_travel_through_the_environment() -> None:
    class Given:
        crmqa_confirm_load = True
        crmqa_load_workers = 2
        crmqa_load_external_workers = None
        crmqa_load_bind = "127.0.0.1:7001"

    environ: dict[str, str] = {}
    export_load_options(Given(), environ)
    assert environ == {"CRMQA_CONFIRM_LOAD": "1", "CRMQA_LOAD_WORKERS": "2",
                       "CRMQA_LOAD_BIND": "127.0.0.1:7001"}
    setting = load_setting(environ)
    assert setting == LoadSetting(workers=2, bind_port=7001) and setting.generators == 2
    assert load_setting({"CRMQA_LOAD_WORKERS": "2"}).bind_port == 0  # a free port, chosen late
    assert load_setting({"CRMQA_LOAD_EXTERNAL_WORKERS": "1"}).bind_port == 5557
    with pytest.raises(LoadOptionError):
        load_setting({"CRMQA_LOAD_WORKERS": "lots"})
    assert pytest_load_arguments(confirm=True, workers=3, bind="0.0.0.0:1") == [
        "--crmqa-confirm-load", "--crmqa-load-workers", "3", "--crmqa-load-bind", "0.0.0.0:1"]


# --------------------------------------------------------------------------- journal, file


def test_journal_keeps_what_was_not_deleted_again(tmp_path: Path) -> None:
    lines = [{"do": "created", "entity": "lead", "id": 1, "as": "sales"},
             {"do": "created", "entity": "lead", "id": 2, "as": "sales"},
             {"do": "deleted", "entity": "lead", "id": 1},
             {"do": "created", "entity": "lead", "id": 2, "as": "sales"}]
    (tmp_path / "journal-a.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    (tmp_path / "journal-b.jsonl").write_text(
        json.dumps({"do": "created", "entity": "contact", "id": 7, "as": "admin"}) + "\n{cut")
    remaining = Journal.read(tmp_path).remaining()
    assert [(r.entity, r.record_id, r.identity) for r in remaining] == [
        ("lead", 2, "sales"), ("contact", 7, "admin")]


def test_locustfile_is_data_without_secrets(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from crmqa.plan.models import Target
    from crmqa.profiles.loader import resolve_profile
    from crmqa.profiles.target import resolve_target

    monkeypatch.setenv("LOAD_SECRET", "s3cret-value")
    target = resolve_target("t", Target.model_validate({
        "profile": "sandbox", "base_url": "http://127.0.0.1:9",
        "identities": {"default": {"default_username": "u", "password_env": "LOAD_SECRET"}}}),
        tmp_path, profile=resolve_profile("sandbox", tmp_path))
    spec = load_spec(_spec(), case_id="C-1", target=target, base_dir=tmp_path,
                     templates={"vars": {"w": 1}, "params": {}, "rules": {}}, locale="en_US",
                     out_dir=tmp_path, setting=LoadSetting(workers=2), run_token="abc")
    text = render_locustfile(spec)
    assert "s3cret-value" not in text and "LOAD_SECRET" in text  # the variable's name only
    compile(text, "locustfile.py", "exec")
    assert spec["generators"] == 2 and spec["journal"] == "files"
    assert "locust" not in sys.modules, "crmqa's process must never import Locust"


def test_figures_are_attachments_marked_for_the_summary() -> None:
    assert Attachment(name="x").show_in_summary is False
