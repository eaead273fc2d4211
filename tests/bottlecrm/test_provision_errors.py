"""Provisioning fails with clear messages, not tracebacks (fast: no BottleCRM needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from . import provision


def test_missing_pyenv_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no pyenv on PATH
    monkeypatch.delenv("PYENV_ROOT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.pyenv
    with pytest.raises(provision.ProvisionError, match=r"pyenv was not found.*>= 3\.12"):
        provision.find_python312()


def test_pyenv_without_312_names_what_it_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "versions" / "3.11.7" / "bin").mkdir(parents=True)
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    with pytest.raises(provision.ProvisionError, match=r"no Python 3\.12.*found: 3\.11\.7"):
        provision.find_python312()


def test_pyenv_picks_the_newest_312(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for version in ("3.12.1", "3.12.10", "3.12.9"):
        binary = tmp_path / "versions" / version / "bin" / "python3.12"
        binary.parent.mkdir(parents=True)
        binary.touch()
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    assert provision.find_python312().parts[-3] == "3.12.10"


def test_cli_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert provision.main(["sideways"]) == 2
    assert "usage: provision.py up|down|env|prepare" in capsys.readouterr().err


def test_env_names_every_value_and_repr_hides_secrets() -> None:
    instance = provision.BottleCrm(
        base_url="http://127.0.0.1:1", org_id="org", admin_email="a@x.test",
        admin_token="bcrm_pat_secret_a", admin_password="pw-secret", user_email="u@x.test",
        user_token="bcrm_pat_secret_u", run_dir="/tmp/none", pid=0,
    )
    env = instance.env()
    assert env["BOTTLECRM_ADMIN_TOKEN"] == "bcrm_pat_secret_a"
    assert env["BOTTLECRM_USER_TOKEN"] == "bcrm_pat_secret_u"
    assert instance.headers("user") == {"Authorization": "Bearer bcrm_pat_secret_u"}
    assert "secret" not in repr(instance)


def test_prune_removes_only_runs_whose_server_is_gone(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    dead, alive, starting = runs / "dead", runs / "alive", runs / "starting"
    for folder in (dead, alive, starting):
        folder.mkdir(parents=True)
    (dead / "server.pid").write_text("999999999")  # no such process group
    (alive / "server.pid").write_text(str(os.getpgrp()))  # this test's own group
    messages: list[str] = []
    provision.prune_stale_runs(tmp_path, messages.append)
    assert sorted(p.name for p in runs.iterdir()) == ["alive", "starting"]
    assert messages == ["run: removed stale dead"]


def test_the_state_file_of_up_gives_back_the_instance_with_its_own_timings(
        tmp_path: Path) -> None:
    instance = provision.BottleCrm(
        base_url="http://127.0.0.1:1", org_id="org", admin_email="a@x.test",
        admin_token="t-a", admin_password="pw", user_email="u@x.test", user_token="t-u",
        run_dir="/tmp/none", pid=0, timings=provision.Timings(start_s=1.5, identities_s=2.0))
    provision.PRODUCT.save_state(tmp_path, instance)
    assert (tmp_path / "up.json").stat().st_mode & 0o777 == 0o600  # it holds tokens
    assert provision.PRODUCT.load_state(tmp_path) == instance
    assert "identities 2.0 s" in provision.PRODUCT.up_summary(instance)
    assert provision.PRODUCT.load_state(tmp_path / "elsewhere") is None
