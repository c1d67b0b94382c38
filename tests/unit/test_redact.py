from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warnd.redact import carried_secret, is_secret_name, public_url, redact_url, scrub

FEED = "https://reader:pa%40ss-w0rd@feeds.example:8443/v1/quakes.json?token=tk-Qw3rty9&region=ID"


@pytest.mark.parametrize(
    "name",
    ["token", "access_token", "api_key", "apikey", "apiKey", "X-Amz-Signature", "sig", "secret", "password", "auth"],
)
def test_secret_looking_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["format", "sites", "parameterCd", "IdPintuAir", "keyword", "monkey", "admin", "id"])
def test_ordinary_names(name):
    assert not is_secret_name(name)


def test_userinfo_and_secret_values_are_gone_and_the_rest_stays():
    assert redact_url(FEED) == "https://feeds.example:8443/v1/quakes.json?token=***&region=ID"
    assert public_url(FEED) == "https://feeds.example:8443/v1/quakes.json?region=ID"


def test_a_url_from_a_credential_shows_only_where_it_goes():
    assert redact_url("https://chat.example/hooks/T0/B1/xYz?x=1", from_credential=True) == "https://chat.example/***"
    assert redact_url("https://chat.example", from_credential=True) == "https://chat.example"


def test_shipped_style_urls_pass_unchanged():
    for url in (
        "https://waterservices.usgs.gov/nwis/iv/?format=json&sites=01491000,01645000&parameterCd=00065",
        "https://poskobanjir.dsdadki.web.id/Pages/GenerateDataTinggiAir.aspx?IdPintuAir=122&StartDate={wib_date}",
        "../feeds/demo/autogempa.json",
    ):
        assert carried_secret(url) is None
        assert redact_url(url) == url == public_url(url)


def test_what_a_url_carries_is_named_never_shown():
    assert "user:password@" in (carried_secret(FEED) or "")
    said = carried_secret("https://h.example/x?sig=abc123&apiKey=def456&page=2") or ""
    assert "sig" in said and "apiKey" in said and "abc123" not in said and "def456" not in said


def test_scrub_masks_every_form_of_the_secrets_a_message_quotes():
    message = f"ConnectError talking to {FEED}: reader:pa%40ss-w0rd / pa@ss-w0rd / tk-Qw3rty9"
    out = scrub(message, FEED)
    for secret in ("pa%40ss-w0rd", "pa@ss-w0rd", "tk-Qw3rty9", "reader:"):
        assert secret not in out
    assert "feeds.example:8443" in out


def test_scrub_of_a_credential_url_masks_its_path_and_query():
    url = "https://chat.example/hooks/T0A1B2C3/secret-path-9f8e7d?code=c0de-xyz"
    out = scrub(f"failed: {url}; path /hooks/T0A1B2C3/secret-path-9f8e7d code c0de-xyz", url, from_credential=True)
    assert "secret-path-9f8e7d" not in out and "c0de-xyz" not in out and "T0A1B2C3" not in out


@given(
    user=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=3, max_size=12),
    password=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=3, max_size=12),
    token=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=3, max_size=24),
)
def test_no_form_of_a_url_keeps_its_credentials(user, password, token):
    url = f"https://{user}:{password}@host.example/feed?access_token={token}"
    for shown in (redact_url(url), public_url(url), redact_url(url, from_credential=True)):
        assert f"{user}:{password}@" not in shown and f"={token}" not in shown
    assert carried_secret(url) is not None
