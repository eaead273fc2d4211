"""Canonical <-> product mapping, driven by a profile."""

from __future__ import annotations

from crmqa.drivers.api import mapping
from crmqa.profiles.models import EntitySpec, ErrorShape, SortSpec

ENTITY = EntitySpec.model_validate({
    "collection": "/api/v1/leads",
    "id_field": "lead_id",
    "fields": {"first_name": "firstName", "email": "contact.email", "status": "lead_status"},
    "values": {"status": {"new": "New", "qualified": "Qualified"}},
})


def test_record_goes_out_in_product_names_and_values():
    out = mapping.to_product(ENTITY, {"first_name": "Ann", "email": "a@b.c", "status": "new",
                                      "notes": "kept"})
    assert out == {"firstName": "Ann", "contact": {"email": "a@b.c"}, "lead_status": "New",
                   "notes": "kept"}


def test_record_comes_back_canonical():
    product = {"lead_id": 7, "firstName": "Ann", "contact": {"email": "a@b.c"},
               "lead_status": "Qualified", "extra": 1}
    canonical = mapping.to_canonical(ENTITY, product)
    assert canonical["id"] == 7
    assert canonical["first_name"] == "Ann"
    assert canonical["email"] == "a@b.c"
    assert canonical["status"] == "qualified"
    assert canonical["extra"] == 1
    assert "firstName" not in canonical and "lead_status" not in canonical


def test_unknown_values_pass_through():
    assert mapping.value_out(ENTITY, "status", "lost") == "lost"
    assert mapping.value_in(ENTITY, "status", "Lost") == "Lost"


def test_field_errors_dict_shape_maps_names():
    body = {"errors": {"firstName": ["required"], "contact.email": "bad"}}
    assert mapping.field_errors(ErrorShape(), ENTITY, body) == {
        "first_name": ["required"], "email": ["bad"]}


def test_field_errors_list_shape():
    shape = ErrorShape(field_errors_path="detail.problems", shape="list", field_key="name",
                       message_key="text")
    body = {"detail": {"problems": [{"name": "lead_status", "text": "unknown"},
                                    {"name": "firstName", "text": "too long"}]}}
    assert mapping.field_errors(shape, ENTITY, body) == {
        "status": ["unknown"], "first_name": ["too long"]}


def test_sort_styles():
    assert mapping.sort_params(SortSpec(), ENTITY, "-first_name") == {"sort": "-firstName"}
    assert mapping.sort_params(SortSpec(style="suffix"), ENTITY, "email") == {
        "sort": "contact.email:asc"}
    assert mapping.sort_params(SortSpec(style="separate", param="order_by"), ENTITY,
                               "-status") == {"order_by": "lead_status", "direction": "desc"}


def test_csv_round_trip_uses_product_columns():
    text = mapping.rows_to_csv(ENTITY, ["first_name", "status"],
                               [{"first_name": "Ann", "status": "qualified"}])
    assert text.splitlines() == ["firstName,lead_status", "Ann,Qualified"]
    assert mapping.rows_from_csv(ENTITY, text) == [{"first_name": "Ann", "status": "qualified"}]
