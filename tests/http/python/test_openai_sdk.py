"""The official openai package, unchanged but for base_url, against the real daemon."""
import json
import time

import openai
import pytest
from openai import OpenAI


def client(daemon, **kw):
    kw.setdefault("max_retries", 0)
    return OpenAI(base_url=daemon.base_url, api_key="sk-test", **kw)


def user(text):
    return [{"role": "user", "content": text}]


def test_unary_completion(daemon):
    c = client(daemon)
    r = c.chat.completions.create(model="default", messages=user("the quick brown fox"))
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-")
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == "the quick brown fox"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens == 4
    assert r.usage.completion_tokens == 4
    assert r.usage.total_tokens == 8
    assert r._request_id.startswith("req_")


def test_chat_completions_without_v1_prefix(daemon):
    c = OpenAI(base_url="http://%s" % daemon.http, api_key="sk-test", max_retries=0)
    r = c.chat.completions.create(model="default", messages=user("no prefix"))
    assert r.choices[0].message.content == "no prefix"


def test_streaming_text(daemon):
    c = client(daemon)
    stream = c.chat.completions.create(
        model="default", messages=user("one two three four five six"), stream=True,
        extra_body={"mock": {"chunks": 3, "chunk_interval_ms": 5}})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "one two three four five six"
    content_chunks = [ch for ch in chunks if ch.choices and ch.choices[0].delta.content]
    assert len(content_chunks) == 3
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(ch.object == "chat.completion.chunk" for ch in chunks)
    assert len({ch.id for ch in chunks}) == 1
    assert len({ch.created for ch in chunks}) == 1
    assert len({ch.model for ch in chunks}) == 1
    assert all(ch.usage is None for ch in chunks)


def test_streaming_include_usage(daemon):
    c = client(daemon)
    chunks = list(c.chat.completions.create(
        model="default", messages=user("count these four words"), stream=True,
        stream_options={"include_usage": True}, extra_body={"mock": {"chunks": 2}}))
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.prompt_tokens == 4
    assert last.usage.completion_tokens == 4
    assert last.usage.total_tokens == 8
    assert all(ch.usage is None for ch in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "stop"


TOOL_CALLS = [{"id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
              {"id": "call_2", "name": "get_time", "arguments": '{"tz":"CET"}'}]
TOOLS = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
         for n in ("get_weather", "get_time")]


def test_tool_calls_unary(daemon):
    c = client(daemon)
    r = c.chat.completions.create(model="default", messages=user("weather?"), tools=TOOLS,
                                  extra_body={"mock": {"tool_calls": TOOL_CALLS}})
    assert r.choices[0].finish_reason == "tool_calls"
    calls = r.choices[0].message.tool_calls
    assert [(t.id, t.type, t.function.name) for t in calls] == [
        ("call_1", "function", "get_weather"), ("call_2", "function", "get_time")]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert json.loads(calls[1].function.arguments) == {"tz": "CET"}


def test_tool_calls_stream_as_deltas(daemon):
    c = client(daemon)
    chunks = list(c.chat.completions.create(model="default", messages=user("weather?"), tools=TOOLS,
                                            stream=True, extra_body={"mock": {"tool_calls": TOOL_CALLS}}))
    calls = {}
    for ch in chunks:
        for d in (ch.choices[0].delta.tool_calls or []) if ch.choices else []:
            entry = calls.setdefault(d.index, {"id": None, "name": None, "arguments": ""})
            if d.id:
                entry["id"] = d.id
            if d.function and d.function.name:
                entry["name"] = d.function.name
            if d.function and d.function.arguments:
                entry["arguments"] += d.function.arguments
    assert calls == {0: {"id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
                     1: {"id": "call_2", "name": "get_time", "arguments": '{"tz":"CET"}'}}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_unknown_fields_are_tolerated_and_forwarded(daemon):
    c = client(daemon)
    r = c.chat.completions.create(
        model="default", messages=user("ignored"), temperature=0.2, top_p=0.9, max_tokens=20, seed=7,
        stop=["zzz"], presence_penalty=0.1, user="u-1", metadata={"team": "a"},
        extra_body={"some_vendor_field": {"nested": [1, 2]}, "mock": {"text": "forwarded"}})
    # The mock only answers "forwarded" if extra fields reach the provider.
    assert r.choices[0].message.content == "forwarded"


def test_models_list_names_the_routes(daemon):
    c = client(daemon)
    ids = sorted(m.id for m in c.models.list())
    assert ids == ["default", "other"]
    assert c.models.retrieve("other").id == "other"
    with pytest.raises(openai.NotFoundError):
        c.models.retrieve("nope")


def test_request_id_and_metadata_propagate(daemon):
    c = client(daemon)
    raw = c.chat.completions.with_raw_response.create(
        model="default", messages=user("x"), user="body-user", metadata={"team": "blue"},
        extra_headers={"x-request-id": "my-req-42",
                       "x-outrigger-session": "s-9", "x-outrigger-prompt-id": "greet",
                       "x-outrigger-prompt-version": "3"},
        extra_body={"mock": {"echo_metadata": True}})
    assert raw.headers["x-request-id"] == "my-req-42"
    r = raw.parse()
    assert r._request_id == "my-req-42"
    seen = json.loads(r.choices[0].message.content)
    assert seen["request_id"] == "my-req-42"
    assert seen["tenant"] == "default"  # no virtual key: the one default tenant
    assert seen["user"] == "body-user"
    assert seen["session"] == "s-9"
    assert seen["prompt_id"] == "greet"
    assert seen["prompt_version"] == "3"
    assert seen["tags"] == {"team": "blue"}


def test_error_request_id_on_failures(daemon):
    c = client(daemon)
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="default", messages=[], extra_headers={"x-request-id": "bad-1"})
    assert e.value.request_id == "bad-1"
    assert e.value.status_code == 400
    assert e.value.param == "messages"
    assert e.value.type == "invalid_request_error"


def test_policy_denial_is_permission_denied_and_not_retried(daemon):
    c = client(daemon, max_retries=2)
    before = daemon.metric("outrigger_chain_requests_started_total")
    with pytest.raises(openai.PermissionDeniedError) as e:
        c.chat.completions.create(model="default", messages=user("this has a forbidden phrase in it"))
    assert e.value.response.headers["x-should-retry"] == "false"
    assert daemon.metric("outrigger_chain_requests_started_total") - before == 1


@pytest.mark.parametrize("code,exc,status", [
    ("RESOURCE_EXHAUSTED", openai.RateLimitError, 429),
    ("UNAVAILABLE", openai.InternalServerError, 503),
    ("INTERNAL", openai.InternalServerError, 500),
    ("INVALID_ARGUMENT", openai.BadRequestError, 400),
    ("NOT_FOUND", openai.NotFoundError, 404),
    ("UNAUTHENTICATED", openai.AuthenticationError, 401),
    ("DEADLINE_EXCEEDED", openai.InternalServerError, 504),
])
def test_error_mapping_to_sdk_exceptions(daemon, code, exc, status):
    c = client(daemon)
    with pytest.raises(exc) as e:
        c.chat.completions.create(model="default", messages=user("x"),
                                  extra_body={"mock": {"fail": {"code": code, "message": "boom " + code}}})
    assert e.value.status_code == status
    assert "boom " + code in e.value.message
    assert e.value.code == code.lower()
    assert e.value.response.headers["x-request-id"]
    # Not retryable (the mock's failure says so): no time to retry after, and the SDK is told not to.
    assert "retry-after" not in e.value.response.headers
    assert e.value.response.headers["x-should-retry"] == "false"


def test_retry_after_hint_is_passed_on(daemon):
    c = client(daemon)
    with pytest.raises(openai.RateLimitError) as e:
        c.chat.completions.create(model="default", messages=user("x"), extra_body={"mock": {"fail": {
            "code": "RESOURCE_EXHAUSTED", "retryable": True, "retry_after_ms": 2500}}})
    assert e.value.response.headers["retry-after-ms"] == "2500"
    assert e.value.response.headers["retry-after"] == "3"
    assert e.value.response.headers["x-should-retry"] == "true"


def test_no_retry_multiplication(daemon):
    """One SDK call reaches the provider once per SDK attempt, never more."""
    c = client(daemon, max_retries=2)
    before = daemon.metric("outrigger_chain_requests_started_total")
    with pytest.raises(openai.InternalServerError):
        c.chat.completions.create(model="other", messages=user("x"),
                                  extra_body={"mock": {"fail": {"code": "INTERNAL", "retryable": False}}})
    assert daemon.metric("outrigger_chain_requests_started_total") - before == 1

    before = daemon.metric("outrigger_chain_requests_started_total")
    with pytest.raises(openai.InternalServerError):
        c.chat.completions.create(model="other", messages=user("x"), extra_body={"mock": {"fail": {
            "code": "UNAVAILABLE", "retryable": True, "retry_after_ms": 10}}})
    # A retryable failure: Outrigger tried once per SDK attempt (1 + max_retries), no more.
    assert daemon.metric("outrigger_chain_requests_started_total") - before == 3


def test_failure_after_stream_started_raises(daemon):
    c = client(daemon)
    stream = c.chat.completions.create(
        model="default", messages=user("a b c d e f"), stream=True,
        extra_body={"mock": {"chunks": 3, "cut_after_chunks": 1}})
    got = []
    with pytest.raises(openai.APIError) as e:
        for ch in stream:
            got.append(ch)
    assert "cut" in str(e.value.message)
    assert any(ch.choices and ch.choices[0].delta.content for ch in got)


def test_client_timeout_cancels_upstream(daemon):
    c = client(daemon, timeout=0.5)
    aborts = daemon.metric("outrigger_http_client_aborts_total")
    started = time.time()
    with pytest.raises(openai.APITimeoutError):
        c.chat.completions.create(model="default", messages=user("x"), extra_body={"mock": {"hang": True}})
    assert time.time() - started < 5
    assert daemon.wait_metric("outrigger_http_client_aborts_total", aborts + 1)
    assert daemon.wait_metric("outrigger_requests_in_flight", 0)


def test_closing_a_stream_early_cancels_upstream(daemon):
    c = client(daemon)
    aborts = daemon.metric("outrigger_http_client_aborts_total")
    stream = c.chat.completions.create(
        model="default", messages=user("a b c d e f g h"), stream=True,
        extra_body={"mock": {"chunks": 8, "chunk_interval_ms": 200}})
    first = next(iter(stream))
    assert first.choices[0].delta.role == "assistant"
    stream.close()
    assert daemon.wait_metric("outrigger_http_client_aborts_total", aborts + 1)
    assert daemon.wait_metric("outrigger_requests_in_flight", 0)


def test_async_client_streams(daemon):
    import asyncio

    async def go():
        c = openai.AsyncOpenAI(base_url=daemon.base_url, api_key="sk-test", max_retries=0)
        stream = await c.chat.completions.create(model="default", messages=user("async words here"), stream=True,
                                                 extra_body={"mock": {"chunks": 2}})
        parts = [ch.choices[0].delta.content or "" async for ch in stream if ch.choices]
        await c.close()
        return "".join(parts)

    assert asyncio.run(go()) == "async words here"


def test_virtual_keys_name_the_tenant(make_daemon, monkeypatch):
    d = make_daemon('require_key = true\n[[http.virtual_keys]]\nkey = "vk-team-a"\ntenant = "team-a"\n')
    good = OpenAI(base_url=d.base_url, api_key="vk-team-a", max_retries=0)
    r = good.chat.completions.create(model="default", messages=user("x"),
                                     extra_body={"mock": {"echo_metadata": True}})
    assert json.loads(r.choices[0].message.content)["tenant"] == "team-a"
    with pytest.raises(openai.PermissionDeniedError) as e:  # a key cannot name another tenant
        good.chat.completions.create(model="default", messages=user("x"),
                                     extra_headers={"x-outrigger-tenant": "spoofed"})
    assert "may not name tenant 'spoofed'" in str(e.value)
    bad = OpenAI(base_url=d.base_url, api_key="sk-unknown", max_retries=2)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="default", messages=user("x"))


def test_metrics_count_requests_by_route_and_status(daemon):
    c = client(daemon)
    before = daemon.metric("outrigger_http_requests_total", endpoint="chat_completions", route="other", status="200")
    for _ in range(3):
        c.chat.completions.create(model="other", messages=user("x"))
    after = daemon.metric("outrigger_http_requests_total", endpoint="chat_completions", route="other", status="200")
    assert after - before == 3
    text = daemon.metrics()
    assert 'outrigger_http_request_duration_seconds_bucket{endpoint="chat_completions",route="other",status="200",le="+Inf"}' in text
