"""Request validation never fails with anything but a clear RequestError, whatever JSON arrives."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from backends.dsr.validation import RequestError, valid_idempotency_key, validate_request

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)

FIELD = st.sampled_from(["right", "on_behalf_of", "requester", "child", "description",
                         "language", "channel", "extra"])
GOOD = {
    "right": "objection", "on_behalf_of": "self",
    "requester": {"name": "Anna", "email": "anna@example.com"},
    "description": "", "language": "en", "channel": "web",
}


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_value_is_accepted_or_refused_with_a_request_error(value):
    try:
        result = validate_request(value)
    except RequestError as exc:
        assert exc.status in (400, 422) and exc.message
    else:
        assert result["right"] in ("access", "rectification", "erasure", "restriction",
                                   "portability", "objection")


@settings(max_examples=300, deadline=None)
@given(FIELD, json_values)
def test_one_wrong_field_in_a_good_request_is_refused_cleanly(field, value):
    body = {**GOOD, field: value}
    try:
        result = validate_request(body)
    except RequestError as exc:
        assert exc.message
    else:
        assert set(result) >= {"right", "requester", "language", "channel"}


def test_a_minimal_good_request_is_accepted_and_normalised():
    result = validate_request({**GOOD, "requester": {"name": "  Anna  ", "email": "anna@example.com"}})
    assert result["requester"] == {"name": "Anna", "email": "anna@example.com", "phone": None}
    assert result["child"] is None


def test_idempotency_keys():
    assert valid_idempotency_key("a")
    assert valid_idempotency_key("550e8400-e29b-41d4-a716-446655440000")
    assert not valid_idempotency_key("")
    assert not valid_idempotency_key(None)
    assert not valid_idempotency_key("x" * 129)
    assert not valid_idempotency_key("tab\there")
