"""The OpenAI-compatible HTTP protocol (chat completions and embeddings), spoken by OpenAI,
Ollama, vLLM, the llama.cpp server, LM Studio and LiteLLM.

A model server is an outbound target like a database: its host is resolved once, every
address is checked against the outbound-address policy (loopback only when the
``assistant_allow_loopback`` setting says so) and the request goes to the pinned address,
with the name kept for the ``Host`` header and TLS. Redirects are not followed and proxy
variables of the environment are ignored. Each call has one deadline (a watchdog closes a
response that trickles past it) and a size cap on the answer; every failure becomes a
``QueryDeckError`` whose message never holds the API key or the provider's text.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

import orjson

from querydeck.errors import (
    ModelAuthFailed,
    ModelEndpointInvalid,
    ModelOutputInvalid,
    ModelRateLimited,
    ModelRequestRejected,
    ModelTargetForbidden,
    ModelTimeout,
    ModelUnavailable,
    ModelUnreachable,
    QueryDeckError,
)
from querydeck.sandbox.addresses import AddressPolicy, resolve, spellings

if TYPE_CHECKING:
    import httpx

_DEFAULT_PORTS = {"http": 80, "https": 443}


def check_base_url(url: str) -> SplitResult:
    """An http(s) URL of a host, with an optional path and nothing else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ModelEndpointInvalid("The base URL is not a valid URL.") from None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ModelEndpointInvalid("The base URL must be http:// or https:// and name a host.")
    if parts.username is not None or parts.password is not None:
        raise ModelEndpointInvalid(
            "The base URL must not hold a user or password; give the API key on its own."
        )
    if parts.query or parts.fragment:
        raise ModelEndpointInvalid("The base URL must not have a query or a fragment.")
    del port
    return parts


@dataclass(frozen=True)
class EndpointPolicy:
    """Where model servers may be: the installation's address policy, and loopback only
    when allowed."""

    addresses: AddressPolicy
    allow_loopback: bool = False

    def pin(self, host: str, port: int) -> str:
        """Resolve ``host`` once, check every address and return the one to connect to."""
        try:
            found = resolve(host, port)
        except QueryDeckError:
            raise ModelUnreachable(
                f"The model server's host {host!r} cannot be resolved."
            ) from None
        if not found:
            raise ModelUnreachable(f"The model server's host {host!r} has no address.")
        for address in found:
            why = self.addresses.refusal(address, port)
            loopback = any(a.is_loopback for a in spellings(address))
            if why is None and loopback and not self.allow_loopback:
                why = "loopback needs the assistant_allow_loopback setting"
            if why is not None:
                raise ModelTargetForbidden(
                    f"The model server {host!r} is not an allowed target ({why}).",
                    detail={"reason": why},
                )
        return str(found[0])


@dataclass(frozen=True)
class Reply:
    """What one call returned."""

    content: str | None
    embeddings: list[list[float]] | None
    tokens_in: int | None
    tokens_out: int | None
    latency_ms: float
    body: str


@dataclass(frozen=True)
class Call:
    """One request: what the inference log keeps of it is ``prompt``."""

    base_url: str
    model: str
    api_key: str | None
    timeout_s: float


class ModelClient:
    """Calls model servers over one shared HTTP client (thread-safe, pooled), made on the
    first call: a process that never asks a model does not load httpx."""

    def __init__(self, policy: EndpointPolicy, *, max_bytes: int) -> None:
        self.policy = policy
        self.max_bytes = max_bytes
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    @property
    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                import httpx

                self._client = httpx.Client(follow_redirects=False, trust_env=False)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def chat(
        self,
        call: Call,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int,
        json_output: bool = False,
    ) -> Reply:
        payload: dict[str, Any] = {
            "model": call.model,
            "messages": list(messages),
            "temperature": 0,
            "max_tokens": max_tokens,
            "stream": False,
        }
        if json_output:
            payload["response_format"] = {"type": "json_object"}
        started = time.monotonic()
        body, data = self._post(call, "chat/completions", payload)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise ModelOutputInvalid("The model server's answer has no message.") from None
        if content is not None and not isinstance(content, str):
            raise ModelOutputInvalid("The model server's message is not text.")
        tokens_in, tokens_out = _usage(data)
        return Reply(content, None, tokens_in, tokens_out, _ms(started), body)

    def embed(self, call: Call, texts: Sequence[str]) -> Reply:
        started = time.monotonic()
        body, data = self._post(call, "embeddings", {"model": call.model, "input": list(texts)})
        try:
            items = sorted(data["data"], key=lambda item: int(item.get("index", 0)))
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ModelOutputInvalid("The model server's answer has no embeddings.") from None
        if len(vectors) != len(texts) or len({len(v) for v in vectors}) > 1:
            raise ModelOutputInvalid("The model server returned the wrong number of embeddings.")
        tokens_in, _ = _usage(data)
        return Reply(None, vectors, tokens_in, None, _ms(started), body)

    def _post(self, call: Call, path: str, payload: dict[str, Any]) -> tuple[str, Any]:
        import httpx

        parts = check_base_url(call.base_url)
        host = str(parts.hostname)
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
        address = self.policy.pin(host, port)
        netloc = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
        url = urlunsplit(
            (parts.scheme, f"{netloc}:{port}", parts.path.rstrip("/") + "/" + path, "", "")
        )
        headers = {"Host": parts.netloc, "Content-Type": "application/json"}
        if call.api_key:
            headers["Authorization"] = f"Bearer {call.api_key}"
        deadline = time.monotonic() + call.timeout_s
        request = self._http.build_request(
            "POST",
            url,
            content=orjson.dumps(payload),
            headers=headers,
            timeout=httpx.Timeout(call.timeout_s),
            extensions={"sni_hostname": host},
        )
        try:
            raw, status, retry_after = self._send(request, deadline)
        except httpx.TimeoutException:
            raise _timeout(call) from None
        except httpx.HTTPError:
            if time.monotonic() >= deadline:
                raise _timeout(call) from None
            raise ModelUnreachable(
                "The model server could not be reached or dropped the connection."
            ) from None
        text = raw.decode("utf-8", "replace")
        if status >= 300:
            raise _status_error(status, retry_after)
        try:
            return text, orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ModelOutputInvalid("The model server's answer is not JSON.") from None

    def _send(self, request: httpx.Request, deadline: float) -> tuple[bytes, int, str | None]:
        import httpx

        response = self._http.send(request, stream=True)
        # The read timeout restarts with every chunk: a server that trickles would hold
        # the call for as long as it likes without the watchdog.
        watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), response.close)
        watchdog.daemon = True
        watchdog.start()
        try:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_raw():
                size += len(chunk)
                if size > self.max_bytes:
                    raise ModelOutputInvalid(
                        f"The model server's answer is larger than {self.max_bytes:,} bytes.",
                        detail={"limit_bytes": self.max_bytes},
                    )
                chunks.append(chunk)
            if time.monotonic() >= deadline:
                raise httpx.ReadTimeout("deadline")
            return b"".join(chunks), response.status_code, response.headers.get("retry-after")
        except (httpx.StreamClosed, httpx.ResponseNotRead):
            raise httpx.ReadTimeout("deadline") from None
        finally:
            watchdog.cancel()
            response.close()


def _usage(data: Any) -> tuple[int | None, int | None]:
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return None, None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return (
        prompt if isinstance(prompt, int) else None,
        completion if isinstance(completion, int) else None,
    )


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)


def _timeout(call: Call) -> ModelTimeout:
    return ModelTimeout(
        f"The model server did not answer within {call.timeout_s:g} s.",
        detail={"timeout_s": call.timeout_s},
    )


def _status_error(status: int, retry_after: str | None) -> QueryDeckError:
    if status == 429:
        detail: dict[str, Any] = {"status": status}
        if retry_after and retry_after.isdigit():
            detail["retry_after_s"] = int(retry_after)
        return ModelRateLimited(
            "The model provider is rate limiting these calls; try again later.", detail=detail
        )
    if status in (401, 403):
        return ModelAuthFailed(
            "The model provider refused the endpoint's API key; an administrator can set "
            "another one.",
            detail={"status": status},
        )
    if status >= 500:
        return ModelUnavailable(
            f"The model server answered with an error ({status}); try again later.",
            detail={"status": status},
        )
    if 300 <= status < 400:
        return ModelRequestRejected(
            f"The model server answered with a redirect ({status}), which is not followed; "
            "check the endpoint's base URL.",
            detail={"status": status},
        )
    return ModelRequestRejected(
        f"The model server refused the request ({status}); check the endpoint's model name "
        "and limits.",
        detail={"status": status},
    )
