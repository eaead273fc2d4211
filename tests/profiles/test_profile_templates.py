"""Profile templates: the filters query languages need, typed rendering, and load-time checks."""

from __future__ import annotations

import base64
import json

import pytest

from crmqa.core.errors import EnvironmentProblem
from crmqa.plan.templating import TemplateRenderError
from crmqa.profiles.templates import (
    COMMON_NAMES,
    common_context,
    render_value,
    template_problem,
)


def _render(text: str, **names: object) -> object:
    return render_value(text, names)


def test_query_language_literals_are_escaped():
    assert _render("{{ q | soql }}", q="O'Brien \\ co") == "'O\\'Brien \\\\ co'"
    assert _render("LIKE '%{{ q | soql_like }}%'", q="50%_off") == "LIKE '%50\\%\\_off%'"
    assert _render("{{ v | soql }}", v=None) == "null"
    assert _render("{{ v | soql }}", v=["a", 2]) == "('a',2)"
    assert _render("contains(lastname,{{ q | odata }})", q="O'Brien") == (
        "contains(lastname,'O''Brien')")
    assert _render("{{ v | odata }}", v=True) == "true"


def test_json_base64_and_urlencode():
    encoded = _render("{{ f | json | base64 }}", f={"status": "new", "name": "Zoë"})
    assert json.loads(base64.b64decode(str(encoded))) == {"status": "new", "name": "Zoë"}
    assert _render("{{ f | json }}", f={"a": [1, 2]}) == '{"a":[1,2]}'
    assert _render("{{ q | urlencode }}", q="a b&c/d") == "a%20b%26c%2Fd"
    assert _render("{{ m | urlencode }}", m={"x": "1 2", "y": None}) == "x=1%202"
    assert "=" not in str(_render("{{ 'ab' | base64url }}"))


def test_one_expression_keeps_its_type_and_none_renders_empty():
    assert _render("{{ [{'filters': c}] if c else [] }}", c=[1]) == [{"filters": [1]}]
    assert _render("{{ n }}", n=3) == 3
    assert _render("a{{ n }}b", n=None) == "ab"
    assert render_value({"k": ["{{ n + 1 }}"]}, {"n": 1}) == {"k": [2]}


def test_unset_environment_variables_are_environment_problems():
    context = common_context({}, {"name": "t"}, {"name": "admin"})
    with pytest.raises(EnvironmentProblem, match="environment variable TENANT is not set"):
        render_value("{{ env.TENANT }}", context, "headers")
    assert render_value("{{ env.TENANT | default('none') }}", context) == "none"
    with pytest.raises(TemplateRenderError, match="headers"):
        render_value("{{ 1 / 0 }}", context, "headers")


def test_template_problems_name_the_mistake():
    assert template_problem("{{ env.X }}", COMMON_NAMES) is None
    assert template_problem("plain", ()) is None
    message, suggestion = template_problem("{{ qurey }}", ("query", "page")) or ("", "")
    assert "'qurey' is not defined here" in message and suggestion == "did you mean 'query'?"
    message, suggestion = template_problem("{{ q | sqol }}", ("q",)) or ("", "")
    assert message == "no filter named 'sqol'" and suggestion == "did you mean 'soql'?"
    assert "syntax" in (template_problem("{{ q ", ("q",)) or ("",))[0]
    # Loop variables are the template's own names.
    assert template_problem("{% for f in filters %}{{ f }}{{ loop.index }}{% endfor %}",
                            ("filters",)) is None
