"""Screen maps and the locator grammar: checked at load time, without a browser."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from crmqa.drivers.base import StepCheckContext
from crmqa.drivers.registry import StepDefect
from crmqa.drivers.ui.checks import check_ui_step
from crmqa.drivers.ui.driver import UiDriver
from crmqa.drivers.ui.targets import UiStepError, resolve
from crmqa.plan.models import Suite, UiStep
from crmqa.profiles.loader import resolve_profile
from crmqa.profiles.screens import LocatorSpec, LocatorSyntaxError, ScreenMap, TextMatch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("source", "kinds"),
    [
        ('role=button[name="Save"]', ["role"]),
        ("label=Email", ["label"]),
        ("testid=lead-row >> nth=0", ["testid", "nth"]),
        ("css=table tr >> text=/^Ann/i", ["css", "text"]),
        ("xpath=//tr[1]", ["xpath"]),
    ],
)
def test_locators_parse_into_parts(source: str, kinds: list[str]) -> None:
    assert [part.kind for part in LocatorSpec.parse(source).parts] == kinds


def test_text_match_modes() -> None:
    assert TextMatch.parse('"Email"') == TextMatch("Email", "exact")
    assert TextMatch.parse("Email") == TextMatch("Email", "substring")
    assert TextMatch.parse("/^E-?mail$/i") == TextMatch("^E-?mail$", "regex", "i")
    role = LocatorSpec.parse('role=link[name="Next"]').parts[0]
    assert role.value == "link" and role.name == TextMatch("Next", "exact")


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("Email", "is not a locator"),
        ("lable=Email", "is not a locator"),
        ("nth=0", "cannot come first"),
        ("css=tr >> nth=first", "takes an integer"),
        ('role=button[title="x"]', "only [name=...]"),
        ('label="Email', "does not close"),
        ("text=/(/", "bad regular expression"),
        ("label=", "nothing after"),
    ],
)
def test_bad_locators_say_what_is_wrong(source: str, words: str) -> None:
    with pytest.raises(LocatorSyntaxError, match=words.replace("[", r"\[").replace("(", r"\(")):
        LocatorSpec.parse(source)


def test_screen_map_validation() -> None:
    with pytest.raises(ValidationError, match="extends unknown screen 'nowhere'"):
        ScreenMap.model_validate({"a": {"url": "/a", "extends": "nowhere"}})
    with pytest.raises(ValidationError, match="ready names unknown element 'save'"):
        ScreenMap.model_validate({"a": {"url": "/a", "ready": "save"}})
    with pytest.raises(ValidationError, match="goes round in a circle"):
        ScreenMap.model_validate({"a": {"extends": "b"}, "b": {"extends": "a"}})
    with pytest.raises(ValidationError, match="must start with /"):
        ScreenMap.model_validate({"a": {"url": "leads"}})
    with pytest.raises(ValidationError, match="is not a locator"):
        ScreenMap.model_validate({"a": {"elements": {"x": "Email"}}})


def test_screen_urls_prefer_literal_paths() -> None:
    screens = ScreenMap.model_validate({
        "detail": {"url": "/leads/{id}"},
        "form": {"url": "/leads/new"},
        "edit": {"url": "/leads/{id}/edit", "extends": "form"},
        "list": {"url": "/leads"},
    })
    assert screens.match_url("/leads/new") == ("form", {})
    assert screens.match_url("/leads/42") == ("detail", {"id": "42"})
    assert screens.match_url("/leads/42/edit/") == ("edit", {"id": "42"})
    assert screens.match_url("/leads?q=x") == ("list", {})
    assert screens.match_url("/contacts") is None
    assert screens.capabilities() == {"ui", "screen:detail", "screen:form", "screen:edit",
                                      "screen:list"}


def test_sandbox_profile_maps_the_screens_the_lead_suite_uses() -> None:
    profile = resolve_profile("sandbox", ROOT)
    assert isinstance(profile.screens, ScreenMap)
    for name in ("login", "lead_list", "lead_form", "lead_edit", "lead_detail", "lead_delete",
                 "lead_import", "lead_export"):
        assert profile.supports(f"screen:{name}")
    # lead_edit has the form's elements through `extends`
    assert profile.screens.element("lead_edit", "email").locator == "label=Email"


def _ui_steps(suite: Suite) -> list[UiStep]:
    return [step for case in suite.cases for step in [*case.setup, *case.steps, *case.teardown]
            if isinstance(step, UiStep)]


def _problems(step: UiStep) -> list[str]:
    context = StepCheckContext(profile=resolve_profile("sandbox", ROOT), base_dir=ROOT)
    return [problem.message + (f" ({problem.suggestion})" if problem.suggestion else "")
            for problem in check_ui_step(step, context)]


def test_every_ui_step_of_the_lead_suite_resolves_on_the_sandbox() -> None:
    suite = Suite.model_validate(yaml.safe_load((ROOT / "suites/leads/ui.yaml").read_text()))
    steps = _ui_steps(suite)
    assert len(steps) > 40
    problems = [(step.ui, step.target, problem) for step in steps for problem in _problems(step)]
    assert problems == []


def test_step_problems_are_found_without_a_browser() -> None:
    bad = UiStep(ui="fill", target="lead_form", values={"frist_name": "x", "email": "y"})
    [problem] = _problems(bad)
    assert "no element 'frist_name'" in problem and "did you mean 'first_name'" in problem
    assert _problems(UiStep(ui="open", target="lead_lsit"))
    assert _problems(UiStep(ui="click", target="lead_form.{{ params.x }}")) == []
    assert _problems(UiStep(ui="expect_url", target="/leads")) == []


def test_unknown_names_get_a_suggestion() -> None:
    assert issubclass(UiStepError, StepDefect)  # the engine reports it as a test defect
    screens = resolve_profile("sandbox", ROOT).screens
    with pytest.raises(UiStepError, match=r"no element 'emial'.*did you mean 'email'"):
        resolve("lead_form.emial", screens)
    with pytest.raises(UiStepError, match=r"no screen 'lead_from'.*did you mean 'lead_form'"):
        resolve("lead_from.email", screens)
    narrowed = resolve("lead_detail.first_name >> css=b", screens)
    assert narrowed.element == "first_name"
    assert str(narrowed.spec) == "testid=field-first_name >> css=b"


def test_needs_names_the_screens() -> None:
    driver = UiDriver(target=None)
    assert driver.needs(UiStep(ui="click", target="lead_form.save")) == ["ui", "screen:lead_form"]
    assert driver.needs(UiStep(ui="open", target="lead_import")) == ["ui", "screen:lead_import"]
    assert driver.needs(UiStep(ui="click", target='role=button[name="Go"]')) == ["ui"]
