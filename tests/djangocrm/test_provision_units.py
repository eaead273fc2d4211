"""Django CRM's provisioning and the shared provisioning module, without installing anything."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests import provisioning

from . import provision


def _wheel(tmp_path: Path, requires: list[str]) -> Path:
    wheel = tmp_path / "django_crm_admin-3.1.0-py3-none-any.whl"
    metadata = "Metadata-Version: 2.1\nName: django-crm-admin\nVersion: 3.1.0\n" + "".join(
        f"Requires-Dist: {line}\n" for line in requires)
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("django_crm_admin-3.1.0.dist-info/METADATA", metadata)
    return wheel


def test_requirements_come_from_the_wheel_without_mysqlclient_and_with_what_it_uses(
    tmp_path: Path,
) -> None:
    wheel = _wheel(tmp_path, ["Django==6.0.8", "mysqlclient==2.3.0", "pandas==3.0.6",
                              "pytest; extra == 'test'"])
    assert provision.wheel_requirements(wheel) == ["Django==6.0.8", "mysqlclient==2.3.0",
                                                   "pandas==3.0.6"]
    assert provision.installable(provision.wheel_requirements(wheel)) == [
        "Django==6.0.8", "pandas==3.0.6", *provision.UNDECLARED]


def test_the_venv_key_ignores_order_and_changes_with_any_requirement() -> None:
    key = provisioning.requirements_key(["a==1", "b==2"])
    assert key == provisioning.requirements_key(["b==2", "a==1"])
    assert key != provisioning.requirements_key(["a==1", "b==3"])


def test_a_venv_with_the_same_key_is_reused_and_a_stale_one_is_not(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / provisioning.VENV_STAMP).write_text(provisioning.requirements_key(["x==1"]))
    messages: list[str] = []

    def no_python() -> Path:
        raise provisioning.ProvisionError("looked for an interpreter")

    def no_install(python: Path) -> None:
        raise AssertionError("installed again")

    spent = provisioning.ensure_venv(venv, no_python, ["x==1"], no_install,
                                     lambda python: True, messages.append)
    assert spent == 0.0 and messages[0].startswith("venv: present")
    # another requirement: rebuilt (here it stops at looking for the interpreter)
    with pytest.raises(provisioning.ProvisionError, match="looked for an interpreter"):
        provisioning.ensure_venv(venv, no_python, ["x==2"], no_install, lambda python: True,
                                 messages.append)


def test_env_names_each_user_and_repr_hides_passwords() -> None:
    instance = provision.DjangoCrm(base_url="http://127.0.0.1:1",
                                   passwords={"IamSUPER": "pw-secret"}, run_dir="/tmp/x", pid=0)
    assert instance.env() == {"DJANGOCRM_BASE_URL": "http://127.0.0.1:1",
                              "DJANGOCRM_IAMSUPER_PASSWORD": "pw-secret"}
    assert "secret" not in repr(instance)


def test_missing_pyenv_names_django_crm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("PYENV_ROOT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(provision.ProvisionError, match=r"Django CRM needs Python >= 3\.12"):
        provision.find_python312()


def test_cli_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert provision.main(["sideways"]) == 2
    assert "usage: provision.py up|down|env|prepare" in capsys.readouterr().err


def test_the_plan_generates_its_field_cases_through_the_add_form() -> None:
    """generate.fields.through: ui makes form cases; the plan's classes and exclusions hold."""
    from crmqa.plan.loader import load_plan

    loaded = load_plan(Path(__file__).resolve().parents[2] / "plans" / "djangocrm.yaml")
    generated = [case_id for case_id in loaded.case_ids if case_id.startswith("GEN-FIELD-")]
    assert len(generated) == 11 and all("-ui-" in case_id for case_id in generated), generated
    refused = loaded.case("GEN-FIELD-lead-first_name-ui-over_max").case
    assert [(s.ui, s.target) for s in refused.steps] == [
        ("open", "lead_form"), ("fill", "lead_form"), ("click", "lead_form.save"),
        ("expect_visible", "lead_form.first_name_error"), ("expect_url", "lead_form")]
    accepted = loaded.case("GEN-FIELD-lead-email-ui-max").case
    assert [(s.ui, s.target) for s in accepted.steps][-2:] == [
        ("expect_url", "lead_edit"), ("expect_value", "lead_edit.email")]
    assert set(accepted.steps[1].values) == {"first_name", "last_name", "email"}
