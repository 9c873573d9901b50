"""A local model server for the tests: it speaks the OpenAI chat-completions and embeddings
protocol on 127.0.0.1 (a free port) and answers from a script.

A script is a function ``(path, request body) -> Answer``; the server records every request
(``server.requests``) so a test can check what reached the model. Scripts for the cases the
assistant must survive are built here: an oracle that knows the gold SQL of each question,
one that names a wrong column first, prose, broken JSON, a DELETE, a slow answer, 429 and
500 from the provider, a huge answer.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sqlglot
from sqlglot import exp

STAGE1_MARK = "You choose the database tables"
EMBED_DIM = 32


@dataclass
class Answer:
    status: int = 200
    content: str | None = None
    body: bytes | None = None  # raw body instead of a chat answer
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    trickle_s: float = 0.0  # seconds between bytes of the body


Script = Callable[[str, dict[str, Any]], Answer]


def chat_body(content: str | None, tokens_in: int = 11, tokens_out: int = 7) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out},
        }
    ).encode()


def embedding(text: str) -> list[float]:
    """A deterministic bag-of-words vector (words hashed into EMBED_DIM buckets)."""
    vector = [0.0] * EMBED_DIM
    for word in re.findall(r"[a-z]+", text.lower()):
        bucket = int(hashlib.sha256(word.encode()).hexdigest(), 16) % EMBED_DIM
        vector[bucket] += 1.0
    return vector


def embeddings_body(texts: list[str]) -> bytes:
    return json.dumps(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": embedding(t)}
                for i, t in enumerate(texts)
            ],
            "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
        }
    ).encode()


def messages(body: dict[str, Any]) -> list[dict[str, str]]:
    return list(body.get("messages", []))


def question_of(body: dict[str, Any]) -> str:
    """The question of the first user message ('Question: ...' line)."""
    for message in messages(body):
        if message["role"] == "user":
            found = re.findall(r"^Question: (.+)$", message["content"], re.M)
            if found:
                return found[-1].strip()
    return ""


def is_stage1(body: dict[str, Any]) -> bool:
    return any(STAGE1_MARK in m["content"] for m in messages(body) if m["role"] == "system")


def is_correction(body: dict[str, Any]) -> bool:
    return any("That SQL cannot be used" in m["content"] for m in messages(body))


def gold_tables(sql: str, dialect: str) -> list[str]:
    tree = sqlglot.parse_one(sql, read=dialect)
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    return sorted({t.name for t in tree.find_all(exp.Table) if t.name.lower() not in ctes})


def fenced(sql: str) -> str:
    return f"```sql\n{sql}\n```"


def oracle(gold: dict[str, str], dialect: str) -> Script:
    """Answers each question with its gold SQL (and its tables in stage 1)."""

    def script(path: str, body: dict[str, Any]) -> Answer:
        if path.endswith("/embeddings"):
            return Answer(body=embeddings_body(list(body["input"])))
        question = question_of(body)
        sql = gold.get(question)
        if sql is None:
            return Answer(content="I do not know that question.")
        if is_stage1(body):
            return Answer(content=json.dumps({"tables": gold_tables(sql, dialect)}))
        return Answer(content=fenced(sql))

    return script


def wrong_column_first(gold: dict[str, str], dialect: str, wrong: str, right: str) -> Script:
    """Stage 2 names ``wrong`` instead of ``right`` until it is told about it."""
    base = oracle(gold, dialect)

    def script(path: str, body: dict[str, Any]) -> Answer:
        answer = base(path, body)
        if is_stage1(body) or is_correction(body) or answer.content is None:
            return answer
        return Answer(content=answer.content.replace(right, wrong))

    return script


def stage2_says(text: str, gold: dict[str, str], dialect: str) -> Script:
    """Stage 1 as the oracle; stage 2 (and every correction) answers ``text``."""
    base = oracle(gold, dialect)

    def script(path: str, body: dict[str, Any]) -> Answer:
        if path.endswith("/embeddings") or is_stage1(body):
            return base(path, body)
        return Answer(content=text)

    return script


def constant(answer: Answer) -> Script:
    return lambda path, body: answer


class _Handler(BaseHTTPRequestHandler):
    server: LLMServer  # type: ignore[assignment]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            body = {}
        self.server.record(self.path, body, dict(self.headers))
        answer = self.server.script(self.path, body)
        if answer.delay_s:
            time.sleep(answer.delay_s)
        payload = answer.body if answer.body is not None else chat_body(answer.content)
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.end_headers()
            if answer.trickle_s:
                for i in range(len(payload)):
                    self.wfile.write(payload[i : i + 1])
                    self.wfile.flush()
                    time.sleep(answer.trickle_s)
            else:
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass


class LLMServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: Script = constant(Answer(content="ok"))
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def record(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((path, body, headers))

    def use(self, script: Script) -> None:
        with self._lock:
            self.script = script
            self.requests.clear()

    def prompts(self) -> str:
        """Every message text the server received, joined."""
        with self._lock:
            return "\n".join(
                m.get("content") or "" for _, body, _ in self.requests for m in messages(body)
            )


@contextmanager
def llm_server() -> Iterator[LLMServer]:
    server = LLMServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
