"""Tracking tokens: our signer writes exactly what django.core.signing writes, and reads back through it."""

from unittest import mock

from django.core import signing
from hypothesis import given
from hypothesis import strategies as st

from sequences.tracking_links import (
    CLICK_SALT,
    OPEN_SALT,
    UNSUBSCRIBE_SALT,
    VIEW_SALT,
    click_token,
    open_token,
    read_click,
    read_open,
    read_unsubscribe,
    read_view,
    unsubscribe_token,
    view_url,
)


def same_second():
    """Both signers read the clock: the tokens carry a timestamp."""
    return mock.patch("time.time", return_value=1_790_000_000.5)


@given(st.integers(min_value=0, max_value=2**63 - 1), st.integers(min_value=0, max_value=500))
def test_tokens_equal_djangos_signing_and_read_back(message_id, link_index):
    with same_second():
        assert click_token(message_id, link_index) == signing.dumps([message_id, link_index], salt=CLICK_SALT)
        assert open_token(message_id) == signing.dumps(message_id, salt=OPEN_SALT)
        assert unsubscribe_token(message_id) == signing.dumps(message_id, salt=UNSUBSCRIBE_SALT)
        assert view_url(message_id).endswith(f"/t/v/{signing.dumps(message_id, salt=VIEW_SALT)}/")
    assert read_click(click_token(message_id, link_index)) == (message_id, link_index)
    assert read_open(open_token(message_id)) == message_id
    assert read_unsubscribe(unsubscribe_token(message_id)) == message_id
    assert read_view(view_url(message_id).rsplit("/", 2)[-2]) == message_id


def test_a_token_of_one_kind_is_no_token_of_another():
    assert read_click(open_token(7)) is None
    assert read_unsubscribe(open_token(7)) is None


def test_a_new_secret_key_signs_with_the_new_key(settings):
    before = open_token(7)
    settings.SECRET_KEY = "another-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
    with same_second():
        assert open_token(7) == signing.dumps(7, salt=OPEN_SALT)
    assert open_token(7) != before


def test_tokens_carry_the_current_time():
    assert signing.loads(open_token(1), salt=OPEN_SALT, max_age=10) == 1
