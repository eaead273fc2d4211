"""Templating: native values, friendly errors, the sandbox, and per-worker unique data."""

from __future__ import annotations

import re

import pytest

from crmqa.plan.templating import (
    TemplateRenderError,
    make_faker,
    render,
    template_context,
    template_error,
    template_references,
)


@pytest.fixture
def context() -> dict[str, object]:
    fake = make_faker("en_US", 7, "gw0")
    return template_context(
        fake=fake,
        vars={"company": "Acme Ltd", "count": 3, "address": {"city": "Lyon"}},
        saved={"lead_id": 42, "items": ["saved items"]},
        params={"status": "qualified"},
        rules={"lead": {"first_name": {"max_length": 50}}},
    )


def test_single_expression_keeps_native_type(context: dict[str, object]) -> None:
    assert render("{{ saved.lead_id }}", context) == 42
    assert render("  {{ vars.count + 1 }} ", context) == 4
    assert render("{{ [1, 2] }}", context) == [1, 2]
    assert render("{{ vars.address }}", context) == {"city": "Lyon"}
    assert type(render("{{ vars.address }}", context)) is dict


def test_mixed_text_renders_to_string(context: dict[str, object]) -> None:
    assert render("lead-{{ saved.lead_id }}", context) == "lead-42"
    assert render("{{ vars.company }} / {{ params.status }}", context) == "Acme Ltd / qualified"


def test_render_recurses_into_dicts_and_lists(context: dict[str, object]) -> None:
    value = {"data": {"id": "{{ saved.lead_id }}", "tags": ["{{ status }}", 5]}, "n": None}
    assert render(value, context) == {"data": {"id": 42, "tags": ["qualified", 5]}, "n": None}


def test_keys_win_over_dict_methods(context: dict[str, object]) -> None:
    assert render("{{ saved.items }}", context) == ["saved items"]


def test_rules_expose_plan_requirements(context: dict[str, object]) -> None:
    assert render("{{ 'F' * rules.lead.first_name.max_length }}", context) == "F" * 50


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ vars.compny }}", "'vars.compny' is not defined (did you mean 'company'?)"),
        ("{{ fakee.name() }}", "'fakee' is not defined (did you mean 'fake'?)"),
        ("{{ saved.contact_id }}", "'saved.contact_id' is not defined"),
        ("x {{ vars.address.zip }}", "'vars.address.zip' is not defined"),
        (
            "{{ env.CRMQA_TEST_SURELY_UNSET_VARIABLE }}",
            "CRMQA_TEST_SURELY_UNSET_VARIABLE is not set",
        ),
    ],
)
def test_undefined_names_are_named(context: dict[str, object], template: str, message: str) -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render(template, context)
    assert message in caught.value.message
    assert "dict object" not in caught.value.message


@pytest.mark.parametrize(
    "template",
    [
        "{{ fake.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ vars.__init__.__globals__ }}",
        "{{ fake.seed_instance.__func__ }}",
    ],
)
def test_sandbox_blocks_dunder_access(context: dict[str, object], template: str) -> None:
    with pytest.raises(TemplateRenderError):
        render(template, context)


def test_env_is_read_lazily_and_can_be_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = make_faker("en_US", None, "w1")
    limited = template_context(fake=fake, vars={}, saved={}, env_allowed=["CRM_*"])
    monkeypatch.setenv("CRM_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SECRET_TOKEN", "s3cret")
    assert render("{{ env.CRM_URL }}", limited) == "http://127.0.0.1:9"
    with pytest.raises(TemplateRenderError, match="not allowed"):
        render("{{ env.SECRET_TOKEN }}", limited)
    assert render("{{ env.CRM_SURELY_UNSET | default('x') }}", limited) == "x"


def test_template_error_reports_syntax_only() -> None:
    assert template_error("plain text") is None
    assert template_error("{{ vars.a }} and {% if x %}y{% endif %}") is None
    problem = template_error("{{ fake.email( }}")
    assert problem is not None and problem.startswith("bad template syntax")


def test_template_references_skip_local_names() -> None:
    found = template_references(
        "{{ vars.company }} {% for item in saved['rows'] %}{{ item }}{% endfor %}"
        "{% set x = 1 %}{{ x }} {{ fake.email() }}"
    )
    assert found == [("vars", "company"), ("saved", "rows"), ("fake", "email")]


def test_unique_email_differs_across_workers_even_with_one_seed() -> None:
    first = make_faker("en_US", 1, "gw0", run_token="run1")
    second = make_faker("en_US", 1, "gw1", run_token="run1")
    emails_first = {first.unique_email() for _ in range(300)}
    emails_second = {second.unique_email() for _ in range(300)}
    assert len(emails_first) == 300 and len(emails_second) == 300
    assert emails_first.isdisjoint(emails_second)
    assert all("gw0" in email for email in emails_first)
    assert all(re.fullmatch(r"[a-z0-9.\-]+@example\.(com|org|net)", e) for e in emails_first)


def test_unique_email_differs_across_runs_of_one_worker() -> None:
    run_a = make_faker("en_US", 1, "gw0", run_token="aaaa")
    run_b = make_faker("en_US", 1, "gw0", run_token="bbbb")
    assert {run_a.unique_email() for _ in range(50)}.isdisjoint(
        {run_b.unique_email() for _ in range(50)}
    )


def test_seed_repeats_ordinary_data() -> None:
    assert make_faker("en_US", 5, "a").crm_company() == make_faker("en_US", 5, "b").crm_company()


def test_crm_providers_produce_valid_values() -> None:
    fake = make_faker(["fr_FR", "de_DE"], 3, "gw2")
    for _ in range(200):
        phone = fake.crm_phone()
        assert re.fullmatch(r"[+\d \-()]{7,20}", phone), phone
        assert fake.lead_status() in {"new", "contacted", "qualified", "unqualified", "converted"}
        assert fake.lead_source() in {"web", "referral", "event", "cold_call", "partner", "other"}
        assert 0 < len(fake.crm_company()) <= 100
        assert fake.unique_email().isascii()


def test_unique_is_shared_within_one_context() -> None:
    fake = make_faker("en_US", None, "gw3")
    first = template_context(fake=fake, vars={}, saved={})
    second = template_context(fake=fake, vars={}, saved={})
    assert render("{{ unique }}", first) == render("{{ unique }}-x", first)[:-2]
    assert render("{{ unique }}", first) != render("{{ unique }}", second)


def test_a_function_without_call_is_an_error_not_data(context: dict[str, object]) -> None:
    with pytest.raises(
        TemplateRenderError, match=r"'unique_email' is a function: write unique_email\(\)"
    ):
        render("{{ fake.unique_email }}", context)
    with pytest.raises(TemplateRenderError, match="is a function"):
        render("mail: {{ fake.unique_email }}", context)


def test_uncalled_functions_are_found_before_running() -> None:
    from crmqa.plan.templating import uncalled_functions

    text = "{{ fake.email }} {{ fake.name() }} {{ fake.unique.email() }} {{ fake.city | upper }}"
    assert uncalled_functions(text) == ["email", "city"]
