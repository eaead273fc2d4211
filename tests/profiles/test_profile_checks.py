"""What a profile gets wrong is found when it loads, each problem at its line in the file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from crmqa.core.errors import PlanError
from crmqa.profiles.loader import load_profile

GOOD = """
name: reach
headers: {X-Tenant: "{{ env.TENANT }}", X-Request-Id: "{{ uuid() }}"}
params: {api-version: "2"}
not_applicable:
  ui: the web client is not installed
  field:lead.notes: notes are kept in another system
errors:
  message_path: message
  message_patterns: ["A value is required for field (?P<field>\\\\w+)"]
  field_names: {Email Address: email}
probe:
  lead: {create: {first_name: Probe, last_name: "P{{ unique }}"}}
entities:
  lead:
    collection: /leads
    fields: {company: company_name, title: null}
    composite:
      name:
        from: [first_name, last_name]
        write: "{{ first_name }} {{ last_name }}"
        split: "^(?P<first_name>\\\\S*) ?(?P<last_name>.*)$"
    related:
      person:
        collection: /people
        reference: person_id
        fields: {email: mail}
    operations:
      create:
        headers: {Prefer: return=representation}
        body_defaults: {subject: "{{ data.company }}"}
      get: {}
      delete:
        calls:
          - {method: POST, path: "/leads/{id}/cancel", save: {token: token}}
          - {method: DELETE, path: "/leads/{id}", headers: {X-Token: "{{ saved.token }}"}}
      search: {}
    list:
      total_header: Content-Range
      total_pattern: "/(?P<total>\\\\d+)$"
      pagination: {style: cursor, next_cursor_path: paging.next.after}
      search_request:
        method: POST
        path: /leads/search
        filter: {propertyName: "{{ field }}", operator: EQ, value: "{{ value }}"}
        body:
          query: "{{ query }}"
          filterGroups: "{{ [{'filters': filter_clauses}] if filter_clauses else [] }}"
          after: "{{ cursor }}"
      sort: {style: template, param: $orderby, template: "{{ field }} {{ direction }}"}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(PlanError) as caught:
        load_profile(_write(tmp_path, text))
    return [issue.format() for issue in caught.value.issues]


def test_every_new_key_loads(tmp_path):
    profile = load_profile(_write(tmp_path, GOOD))
    lead = profile.entities["lead"]
    assert lead.composite_of == {"first_name": "name", "last_name": "name"}
    assert lead.related_of == {"email": "person"}
    assert not profile.supports("field:lead.title")
    assert profile.unsupported_reason("field:lead.title") == (
        "the product has no equivalent for it (fields.title: null)")
    assert profile.unsupported_reason("field:lead.notes") == "notes are kept in another system"
    assert profile.supports("field:lead.first_name") and profile.supports("field:lead.email")
    assert profile.unsupported_reason("screen:lead_list.search") == (
        "the web client is not installed")


def test_problems_across_keys_are_positioned(tmp_path):
    broken = (GOOD
              .replace('"{{ env.TENANT }}"', '"{{ env.TENANT "')
              .replace('query: "{{ query }}"', 'query: "{{ qurey }}"')
              .replace('"{{ field }} {{ direction }}"', '"{{ field | upcase }}"')
              .replace("from: [first_name, last_name]", "from: [first_name, last_nam]")
              .replace("fields: {email: mail}", "fields: {email: mail, company: org}")
              .replace('after: "{{ cursor }}"', "after: null")
              .replace("{{ saved.token }}", "{{ saved.token }} {{ record2 }}"))
    problems = _problems(tmp_path, broken)
    text = "\n".join(problems)
    assert "profile.yaml:3:" in text and "bad template syntax" in text          # headers
    assert "'qurey' is not defined here" in text and "did you mean 'query'?" in text
    assert "no filter named 'upcase'" in text
    assert "'last_nam' is not a canonical field" in text and "did you mean 'last_name'?" in text
    assert "'company' is also mapped on the record itself" in text
    assert "never uses cursor: every page would be the first" in text
    assert "'record2' is not defined here" in text
    # Each problem points at its own line.
    lines = {problem.split(":")[1] for problem in problems}
    assert len(lines) == len(problems)


def test_a_composite_field_must_come_back(tmp_path):
    problems = _problems(tmp_path, GOOD.replace(
        '        split: "^(?P<first_name>\\\\S*) ?(?P<last_name>.*)$"\n', ""))
    assert any("composite field 'name' cannot give back first_name, last_name" in p
               for p in problems)


@pytest.mark.parametrize(("change", "expected"), [
    (('message_patterns: ["A value', 'message_patterns: ["(A value'),
     "not a regular expression"),
    (("(?P<field>", "(?P<fld>"), "has no group named `field`"),
    (("next_cursor_path: paging.next.after", 'next_cursor_path: "paging.[next"'),
     "not a JMESPath expression"),
    (("field:lead.notes:", "field:lead.nots:"), "'nots' is not a canonical field of lead"),
    (("  ui: the web", "  web: the web"), "'web' is not a capability"),
    (('style: template, param: $orderby, template: "{{ field }} {{ direction }}"',
      "style: template, param: $orderby"), "style 'template' needs `template`"),
])
def test_single_mistakes(tmp_path, change, expected):
    old, new = change
    assert old in GOOD
    problems = _problems(tmp_path, GOOD.replace(old, new))
    assert any(expected in problem for problem in problems), problems


def test_builtin_profiles_still_load():
    from crmqa.profiles.loader import builtin_profiles, resolve_profile

    for name in builtin_profiles():
        assert resolve_profile(name).name == name


def test_validation_reports_them_before_any_request(tmp_path):
    from crmqa.validation import prepare_run

    _write(tmp_path, GOOD.replace('query: "{{ query }}"', 'query: "{{ qurey }}"'))
    (tmp_path / "plan.yaml").write_text(textwrap.dedent("""
        id: p
        name: P
        system: {name: S}
        target: t
        targets:
          t: {profile: profile.yaml, base_url: "http://127.0.0.1:9"}
        cases:
          - {id: C1, title: t, steps: [{op: lead.get, with: {id: 1}}]}
    """), encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        prepare_run(tmp_path / "plan.yaml")
    formatted = [issue.format() for issue in caught.value.issues]
    assert any("profile.yaml:" in text and "'qurey' is not defined here" in text
               for text in formatted), formatted


def test_templated_token_url_scope_and_count_request_are_checked(tmp_path):
    text = """
        name: counted
        auth:
          scheme: oauth2_client_credentials
          token_url: "{{ env.LOGIN_URL }}/{{ tenant }}/token"
          scope: "{{ target.base_url }}/.default"
          base_url_path: instance_url
        entities:
          lead:
            collection: /leads
            operations: [list]
            list:
              total_path: null
              count_request:
                params: {q: "SELECT COUNT() FROM Lead {{ filter_clause }}"}
                total_path: totalSize
    """
    problems = _problems(tmp_path, text)
    assert len(problems) == 2, problems
    token = next(problem for problem in problems if "tenant" in problem)
    count = next(problem for problem in problems if "filter_clause" in problem)
    assert token.startswith(f"{tmp_path / 'profile.yaml'}:5:")
    assert "'tenant' is not defined here" in token
    assert count.startswith(f"{tmp_path / 'profile.yaml'}:15:")
    assert "'filter_clause' is not defined here" in count and (
        "did you mean 'filter_clauses'?" in count)
    fixed = text.replace("{{ tenant }}", "{{ env.TENANT }}").replace(
        "{{ filter_clause }}", "{{ filter_clauses | join(' AND ') }}")
    profile = load_profile(_write(tmp_path, fixed))
    assert profile.auth.base_url_path == "instance_url"  # type: ignore[union-attr]
    assert profile.entities["lead"].list_.count_request is not None
