"""JSON over HTTP to OpenAI-compatible endpoints (a policy server, an LLM judge): one client
setup and one retry loop, so every caller reports failures the same way."""

from __future__ import annotations

import time
from typing import Any

import httpx

from nanosearch.errors import NanosearchError

RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


def json_client(base_url: str, api_key: str | None, timeout: float) -> httpx.Client:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)


def post_json(
    client: httpx.Client,
    path: str,
    payload: dict[str, Any],
    *,
    retries: int,
    backoff: float = 1.0,
    retry_on: frozenset[int] = RETRYABLE,
) -> Any:
    """POST ``payload`` and return the decoded reply. Unreachable endpoints and statuses in
    ``retry_on`` are retried with exponential backoff; any other status fails at once. Errors
    name the endpoint and what it answered."""
    failure = ""
    for attempt in range(retries + 1):
        try:
            response = client.post(path, json=payload)
        except httpx.TransportError as error:
            failure = f"cannot reach {client.base_url} ({error})"
        else:
            if response.status_code == 200:
                return response.json()
            status, body = response.status_code, response.text[:300]
            failure = f"{client.base_url}{path} answered {status}: {body}"
            if status not in retry_on:
                raise NanosearchError(failure)
        if attempt < retries:
            time.sleep(backoff * 2**attempt)
    raise NanosearchError(f"{failure} (after {retries + 1} attempts)")
