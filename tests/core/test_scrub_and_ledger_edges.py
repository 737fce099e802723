"""Secret scrubbing of URLs that do not parse, and spend ledger lines that are not bookings."""

from __future__ import annotations

import json

import pytest

from radinpaint.ledger import SpendLedger
from radinpaint.scrub import is_secret_name, redact_url, scrub_options


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:hunter2@host:8443/v1", "https://host:8443/v1"),
        ("https://user:hunter2@host:port/v1", "https://host:port/v1"),  # .port raises
        ("https://user:hunter2@host:99999/v1", "https://host:99999/v1"),  # port out of range
        ("http://user:hunter2@[::1/v1", "http://[::1/v1"),  # urlsplit raises
        ("http://us@er:hunter2@[::1/v1?x=1", "http://[::1/v1?x=1"),  # the last @ counts
        ("https://u:hunter2@host:bad/v1?key=hunter2#f", "https://host:bad/v1?key=REDACTED#f"),
        ("https://host:bad/v1", "https://host:bad/v1"),
    ],
)
def test_credentials_are_cut_even_when_the_url_does_not_parse(url, expected):
    assert redact_url(url) == expected
    assert "hunter2" not in scrub_options({"base_url": url})["base_url"]


@pytest.mark.parametrize(
    "query",
    [
        "key=hunter2",
        "sig=hunter2&sv=2020",
        "signature=hunter2",
        "X-Amz-Signature=hunter2",
        "private_key=hunter2",
        "access_key=hunter2",
        "api-key=hunter2",
    ],
)
def test_secret_query_values_are_masked(query):
    url = f"https://host/v1?{query}"
    out = redact_url(url)
    assert "hunter2" not in out and "REDACTED" in out
    assert "sv=2020" in out or "sv=" not in query


def test_names_the_library_uses_are_not_secrets():
    for name in ("cache_key", "mask_key", "keys", "key_id_order", "histogram_sigma", "sigma"):
        assert not is_secret_name(name), name
    for name in ("key", "KEY", "sig", "url_sig", "signature", "private_key", "access_key"):
        assert is_secret_name(name), name
    kept = scrub_options({"cache_key": "abc", "mask_key": "m", "key": "sk-1", "sig": "s"})
    assert kept == {"cache_key": "abc", "mask_key": "m"}


@pytest.mark.parametrize("line", ["[1, 2]", "3", "null", '"text"', "true", '{"images": 1}'])
def test_a_ledger_line_that_is_not_a_booking_is_skipped(tmp_path, line):
    path = tmp_path / "spend.jsonl"
    good = json.dumps({"images": 3, "usd": 0.1, "failed": False, "what": "a"})
    path.write_text(f"{good}\n{line}\n{good}\n")
    ledger = SpendLedger(path)
    totals = ledger.all_time()
    assert (totals.calls, totals.images) == (2, 6)
    assert totals.usd == pytest.approx(0.2)
    ledger.book(1, 0.05)
    assert SpendLedger(path).all_time().images == 7
