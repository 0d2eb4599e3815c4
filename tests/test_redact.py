"""The one redaction (tunepilot/redact.py): every credential shape of issue 14 masked, ordinary text kept."""

import pytest

from tunepilot.redact import MASK, redact, redact_text

SECRETS = [
    ("https://user:hunter2secret@example.com/v1", "https://***@example.com/v1"),
    ("http://tok3nvalue@example.com", "http://***@example.com"),
    ("key ghp_" + "a" * 36, "key ***"),
    ("github_pat_" + "B" * 40, "***"),
    ("AIza" + "c" * 35, "***"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dGhpc2lzYXNpZw", "***"),
    ("sk_live_" + "d" * 24, "***"),
    ("rk_test_" + "e" * 24, "***"),
    ("sk-proj-" + "f" * 20, "***"),
    ("hf_" + "g" * 30, "***"),
    ("AKIA" + "H" * 16, "***"),
    ("xoxb-1234567890-abcdef", "***"),
    ("Cookie: session=abc123; theme=dark", "Cookie: ***"),
    ("Set-Cookie: id=a3fWa; Secure", "Set-Cookie: ***"),
    ("Authorization: Basic dXNlcjpwYXNz", "Authorization: ***"),
    ("got Bearer abcdefgh12345678", "got Bearer ***"),
    ("https://h/x?api_key=zzz123&page=2", "https://h/x?api_key=***&page=2"),
]
KEPT = ["sorted(rows, key=len)", "max_tokens", "the token limit is 512", "unit_test_environment",
        "Basic authentication is off", "see https://example.com/docs", "a_live_wire"]


@pytest.mark.parametrize("text,masked", SECRETS)
def test_every_credential_shape_is_masked(text, masked):
    assert redact_text(text, []) == masked


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_text_is_kept(text):
    assert redact_text(text, []) == text


def test_environment_values_keys_and_names(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "plain-looking-value-42")
    doc = {"note": "the key was plain-looking-value-42", "api_key": "x", "api_key_env": "MY_SERVICE_TOKEN",
           "password": "", "max_tokens": 64, "nested": [{"hf_token": "abc"}]}
    assert redact(doc) == {"note": f"the key was {MASK}", "api_key": MASK, "api_key_env": "MY_SERVICE_TOKEN",
                           "password": "", "max_tokens": 64, "nested": [{"hf_token": MASK}]}
    schema = {"properties": {"api_key": {"type": "string"}}}  # data: a tool's parameter named api_key stays
    assert redact(schema, by_key=False) == schema
