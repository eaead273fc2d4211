"""Profiles: loading, errors with positions, capabilities, targets and secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmqa.core.errors import EnvironmentProblem, PlanError
from crmqa.plan.models import CanonicalOutcome, Credential, Target
from crmqa.profiles import builtin_profiles, resolve_profile, resolve_target
from crmqa.profiles.adapter import load_adapter
from crmqa.profiles.models import Profile


def test_sandbox_profile_follows_the_contract():
    profile = resolve_profile("sandbox")
    lead = profile.entities["lead"]
    assert profile.auth.scheme == "token_endpoint"
    assert lead.collection == "/api/leads" and lead.item_path == "/api/leads/{id}"
    assert lead.list_.pagination.style == "page" and lead.list_.search_param == "q"
    for op in ("create", "get", "update", "delete", "list", "search", "import", "export",
               "convert"):
        assert profile.supports(f"lead.{op}")
    assert not profile.supports("role.create")
    assert profile.supports("api")
    assert "sandbox" in builtin_profiles()


def test_resolving_twice_returns_the_cached_profile():
    assert resolve_profile("sandbox") is resolve_profile("sandbox")


def test_unknown_builtin_name_suggests_one():
    with pytest.raises(PlanError, match=r"unknown profile 'sandbx'.*did you mean 'sandbox'"):
        resolve_profile("sandbx")


def test_profile_file_relative_to_base_dir(tmp_path: Path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "mini.yaml").write_text(
        "name: mini\nentities:\n  lead:\n    collection: /l\n    operations: [create, get]\n"
        "screens:\n  lead_list: {}\n"
    )
    profile = resolve_profile("profiles/mini.yaml", tmp_path)
    assert profile.capabilities >= {"lead.create", "lead.get", "screen:lead_list", "ui"}
    assert not profile.supports("lead.delete")


def test_profile_errors_have_positions(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nentities:\n  lead:\n    collection: /l\n    operatons: [get]\n")
    with pytest.raises(PlanError) as info:
        resolve_profile(str(path))
    assert "bad.yaml:5:5" in str(info.value) and "operations" in str(info.value)


@pytest.mark.parametrize(("document", "message"), [
    ({"name": "x", "entities": {"leed": {"collection": "/l"}}}, "unknown entity leed"),
    ({"name": "x", "entities": {"lead": {"collection": "/l", "operations": ["fetch"]}}},
     "unknown operation"),
    ({"name": "x", "adapter": "no_colon"}, "package.module:ClassName"),
    ({"name": "x", "auth": {"scheme": "api_key", "location": "cookie"}}, "location"),
])
def test_model_rejects_bad_profiles(document, message):
    with pytest.raises(ValueError, match=message):
        Profile.model_validate(document)


def test_outcome_defaults_and_overrides():
    profile = Profile.model_validate({"name": "x", "outcomes": {400: "conflict"}})
    assert profile.outcome_for(201) is CanonicalOutcome.OK
    assert profile.outcome_for(400) is CanonicalOutcome.CONFLICT
    assert profile.outcome_for(422) is CanonicalOutcome.REJECTED
    assert profile.outcome_for(404) is CanonicalOutcome.NOT_FOUND
    assert profile.outcome_for(500) is CanonicalOutcome.ERROR
    assert profile.outcome_for(200, success=[201]) is CanonicalOutcome.ERROR


def test_details_imply_the_operation():
    profile = Profile.model_validate({"name": "x", "entities": {"lead": {
        "collection": "/l", "import": {"path": "/l/import"}}}})
    assert profile.supports("lead.import")


def test_adapter_that_cannot_load_is_a_clear_error():
    profile = Profile.model_validate({"name": "x", "adapter": "no.such.module:Thing"})
    with pytest.raises(PlanError, match=r"adapter 'no.such.module:Thing' cannot be imported: "
                       r"ModuleNotFoundError"):
        load_adapter(profile)


def _target(**identities: Credential) -> Target:
    return Target(profile="sandbox", base_url="{{ env.CRM_URL }}/", identities=identities)


def test_target_resolves_env_and_hides_secrets():
    target = _target(default=Credential(username_env="U", password_env="P"),
                     admin=Credential(default_username="root", password_env="AP"))
    env = {"CRM_URL": "http://127.0.0.1:9", "U": "ann", "P": "pw-ann-secret",
           "AP": "pw-root-secret"}
    resolved = resolve_target("crm", target, Path("."), env=env)
    assert resolved.base_url == "http://127.0.0.1:9"
    assert resolved.identity(None).username == "ann"
    assert resolved.identity("admin").username == "root"
    assert resolved.admin_identity == "admin"
    assert sorted(resolved.secrets()) == ["pw-ann-secret", "pw-root-secret"]
    shown = repr(resolved) + repr(resolved.identities) + f"{resolved.identity(None).password}"
    assert "pw-ann-secret" not in shown and "pw-root-secret" not in shown


def test_base_url_template_with_default_filter(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CRMQA_TEST_URL", raising=False)
    target = Target(profile="sandbox",
                    base_url="{{ env.CRMQA_TEST_URL | default('http://127.0.0.1:8000') }}")
    assert resolve_target("crm", target, Path(".")).base_url == "http://127.0.0.1:8000"
    monkeypatch.setenv("CRMQA_TEST_URL", "http://127.0.0.1:9/")
    assert resolve_target("crm", target, Path(".")).base_url == "http://127.0.0.1:9"
    bare = Target(profile="sandbox", base_url="{{ env.CRMQA_TEST_UNSET_URL }}")
    with pytest.raises(EnvironmentProblem, match=r"CRMQA_TEST_UNSET_URL is not set"):
        resolve_target("crm", bare, Path("."))


def test_missing_url_variable_and_missing_credentials():
    with pytest.raises(EnvironmentProblem, match=r"base_url: .*CRM_URL.* not"):
        resolve_target("crm", _target(), Path("."), env={})
    resolved = resolve_target("crm", _target(default=Credential(password_env="NOPE")),
                              Path("."), env={"CRM_URL": "http://x"})
    with pytest.raises(EnvironmentProblem, match=r"no password.*unset: NOPE"):
        resolved.identity(None).require("password")
    with pytest.raises(PlanError, match=r"no identity 'sales'"):
        resolved.identity("sales")
