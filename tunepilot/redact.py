"""One redaction for every record tunepilot writes: journal, journal.md, request/plan/metadata/config
JSON, model cards, error messages, the memory store.

    redact({"base_url": "https://user:pw@host/v1", "api_key": "sk-..."})
    -> {"base_url": "https://***@host/v1", "api_key": "***"}
    redact_text("401: invalid key ghp_abc...")  -> "401: invalid key ***"

What is masked:
- values under credential-named keys (api_key, token, secret, password, authorization, cookie, ...);
  names of environment variables (`api_key_env`, `*_env`) stay readable: they are not secrets;
- URL userinfo (`scheme://user:pass@host` -> `scheme://***@host`);
- known token shapes: OpenAI `sk-`, Hugging Face `hf_`, GitHub `ghp_`/`gho_`/`ghs_`/`ghu_`/`ghr_`/
  `github_pat_`, Google `AIza`, AWS `AKIA`, Slack `xox?-`, Stripe-style `*_live_*`/`*_test_*`,
  JWTs, `Bearer <token>`, `Authorization:`/`Cookie:`/`Set-Cookie:` header values, `?key=value`
  query parameters;
- the value of every environment variable whose name looks like a credential (the canary test
  sets one and greps every file of a run for it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MASK = "***"
SECRET_NAME = re.compile(r"(api[_-]?key|secret|passw(or)?d|authorization|bearer|cookie|credential|private[_-]?key|"
                         r"access[_-]?key|session[_-]?id|(^|[_-])(token|pat|auth)$)", re.I)  # not max_tokens
_ENV_SECRET = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|COOKIE|AUTH|PAT)($|_)", re.I)
PATTERNS = [
    (re.compile(r"(?<=://)[^/\s:@'\"]+(?::[^/\s@'\"]*)?@"), MASK + "@"),  # URL userinfo
    (re.compile(r"\b(?:sk|rk|pk)-(?:proj-|ant-)?[A-Za-z0-9_-]{8,}"), MASK),
    (re.compile(r"\bhf_[A-Za-z0-9]{8,}"), MASK),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,})"), MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"), MASK),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), MASK),
    (re.compile(r"\b(?:sk|pk|rk|whsec)_(?:live|test)_[A-Za-z0-9]{8,}|\b[A-Za-z]{2,8}_live_[A-Za-z0-9]{12,}"), MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}"), MASK),  # JWT
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1" + MASK),
    (re.compile(r"(?i)\b((?:proxy-)?authorization\s*:\s*)[^\r\n\"']+"), r"\1" + MASK),
    (re.compile(r"(?i)\b((?:set-)?cookie\s*:\s*)[^\r\n\"']+"), r"\1" + MASK),
    (re.compile(r"(?i)(?<=[?&;])((?:api[_-]?key|access[_-]?token|token|secret|password|passwd|sig|signature|key|"
                r"auth)=)[^&\s\"'#]+"), r"\1" + MASK),  # query parameters, never `key=len` in code
]


def env_secrets() -> list[str]:
    """Values of credential-named environment variables, longest first (so a prefix never leaves a tail)."""
    values = {v for k, v in os.environ.items() if _ENV_SECRET.search(k) and not k.endswith("_ENV") and len(v) >= 8}
    return sorted(values, key=len, reverse=True)


def secret_key(key) -> bool:
    key = str(key)
    return bool(SECRET_NAME.search(key)) and not key.lower().endswith("_env")  # api_key_env names a variable


def redact_text(text: str, env: list[str] | None = None) -> str:
    for value in env_secrets() if env is None else env:
        text = text.replace(value, MASK)
    for pattern, repl in PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact(obj, env: list[str] | None = None, *, by_key: bool = True):
    """A copy of a JSON-like object with credentials masked. `by_key=False` for data (training
    records, where a tool's parameter may be called api_key): only the text of values is masked."""
    env = env_secrets() if env is None else env
    if isinstance(obj, dict):
        return {k: MASK if by_key and secret_key(k) and obj[k] not in (None, "", [], {}) else redact(v, env, by_key=by_key)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact(v, env, by_key=by_key) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj, env)
    if isinstance(obj, Path):
        return redact_text(str(obj), env)
    return obj


def no_userinfo(url: str | None) -> str | None:
    """A pydantic validator for endpoint URLs: credentials in a URL are refused (they would be sent as
    Basic auth instead of the key, and they belong in an environment variable, not in records)."""
    if url is not None and PATTERNS[0][0].search(url):
        raise ValueError("credentials in the URL are refused; put the key in $OPENAI_API_KEY "
                         "(or the variable --api-key-env names) and give the URL without user:password@")
    return url


def clip(text, n: int) -> str:
    """The first `n` characters of `text` after masking (cutting first could leave half a secret unmasked)."""
    return redact_text(str(text))[:n]
