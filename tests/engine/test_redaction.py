"""Secrets never reach evidence: by name (headers, JSON keys, query, forms) and by value."""

from __future__ import annotations

import json

from crmqa.drivers.api.redaction import REDACTED, Redactor


def test_headers_by_name():
    redactor = Redactor()
    out = redactor.headers({"Authorization": "Bearer abc", "Cookie": "sessionid=1",
                            "X-Api-Key": "k", "Accept": "application/json"})
    assert out == {"Authorization": REDACTED, "Cookie": REDACTED, "X-Api-Key": REDACTED,
                   "Accept": "application/json"}


def test_profile_specific_header_name():
    assert Redactor(extra_names=["X-Vendor-Auth"]).headers({"x-vendor-auth": "v"}) == {
        "x-vendor-auth": REDACTED}


def test_json_bodies_at_any_depth():
    body = json.dumps({"username": "ann", "password": "pw", "nested": [{"access_token": "t",
                       "refresh_token": "r", "note": "fine"}], "client_secret": "cs"})
    text = Redactor().body(body, "application/json")
    decoded = json.loads(text)
    assert decoded["username"] == "ann"
    assert decoded["password"] == REDACTED
    assert decoded["nested"][0] == {"access_token": REDACTED, "refresh_token": REDACTED,
                                    "note": "fine"}
    assert decoded["client_secret"] == REDACTED


def test_query_strings_and_form_bodies():
    redactor = Redactor()
    assert redactor.url("http://h/x?q=smith&api_key=k1&token=t2") == (
        "http://h/x?q=smith&api_key=[redacted]&token=[redacted]")
    form = redactor.body("grant_type=password&username=ann&password=pw1",
                         "application/x-www-form-urlencoded")
    assert "pw1" not in form and "username=ann" in form


def test_known_secret_values_anywhere():
    redactor = Redactor(secrets=["hunter2-long"])
    redactor.add_secret("tok-learned-at-login")
    text = redactor.body('{"echo": "my pass is hunter2-long", "t": "x tok-learned-at-login"}',
                         "application/json")
    assert "hunter2-long" not in text and "tok-learned-at-login" not in text
    assert redactor.text("plain tok-learned-at-login text") == f"plain {REDACTED} text"


def test_short_values_are_not_replaced_as_text():
    # a one-letter password would otherwise shred every dump
    assert Redactor(secrets=["a"]).text("banana") == "banana"
