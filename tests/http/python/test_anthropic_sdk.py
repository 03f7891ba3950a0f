"""The official anthropic package, unchanged but for base_url, against the real daemon's
Anthropic-compatible /v1/messages endpoint: same chain, same mock, Anthropic's shapes."""
import anthropic
import pytest
from anthropic import Anthropic


def client(daemon, **kw):
    kw.setdefault("max_retries", 0)
    return Anthropic(base_url="http://%s" % daemon.http, api_key="sk-ant-test", **kw)


def user(text):
    return [{"role": "user", "content": text}]


TOOL_CALLS = [{"id": "toolu_1", "name": "get_weather", "arguments": '{"city":"Paris"}'}]
TOOLS = [{"name": "get_weather", "description": "weather", "input_schema": {"type": "object"}}]


def test_unary_message(daemon):
    m = client(daemon).messages.create(model="default", max_tokens=64, system="Be brief.",
                                       messages=user("the quick brown fox"))
    assert m.type == "message"
    assert m.role == "assistant"
    assert m.id.startswith("msg_")
    assert [b.type for b in m.content] == ["text"]
    assert m.content[0].text == "the quick brown fox"
    assert m.stop_reason == "end_turn"
    assert m.usage.output_tokens == 4
    assert m.usage.input_tokens == 6  # "Be brief." + the four words: the system prompt reached the chain


def test_streaming_text_events(daemon):
    with client(daemon).messages.stream(model="default", max_tokens=64, messages=user("one two three four"),
                                        extra_body={"mock": {"chunks": 4}}) as stream:
        deltas = [t for t in stream.text_stream]
        final = stream.get_final_message()
    assert "".join(deltas) == "one two three four"
    assert len(deltas) == 4
    assert final.content[0].text == "one two three four"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 4


def test_tool_use_unary_and_streamed(daemon):
    c = client(daemon)
    m = c.messages.create(model="default", max_tokens=64, tools=TOOLS, messages=user("weather?"),
                          extra_body={"mock": {"tool_calls": TOOL_CALLS}})
    assert m.stop_reason == "tool_use"
    assert m.content[0].type == "tool_use"
    assert (m.content[0].id, m.content[0].name, m.content[0].input) == ("toolu_1", "get_weather", {"city": "Paris"})
    with c.messages.stream(model="default", max_tokens=64, tools=TOOLS, messages=user("weather?"),
                           extra_body={"mock": {"tool_calls": TOOL_CALLS}}) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].input == {"city": "Paris"}


def test_tool_results_round_trip(daemon):
    # A full tool turn: the assistant's tool_use and the user's tool_result are accepted, and the
    # answer echoes the last user text.
    m = client(daemon).messages.create(model="default", max_tokens=64, messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                           "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                                     {"type": "text", "text": "and tomorrow?"}]},
    ])
    assert m.content[0].text == "and tomorrow?"


@pytest.mark.parametrize("code,exc,status", [
    ("INVALID_ARGUMENT", anthropic.BadRequestError, 400),
    ("PERMISSION_DENIED", anthropic.PermissionDeniedError, 403),
    ("RESOURCE_EXHAUSTED", anthropic.RateLimitError, 429),
    ("UNAVAILABLE", anthropic.InternalServerError, 503),
])
def test_errors_map_to_sdk_exceptions(daemon, code, exc, status):
    with pytest.raises(exc) as info:
        client(daemon).messages.create(model="default", max_tokens=8, messages=user("x"),
                                       extra_body={"mock": {"fail": {"code": code, "message": "boom"}}})
    assert info.value.status_code == status
    assert info.value.body["error"]["message"] == "boom"


def test_bad_requests_get_anthropic_shaped_errors(daemon):
    with pytest.raises(anthropic.BadRequestError) as info:
        client(daemon).messages.create(model="default", max_tokens=0, messages=user("x"))
    assert info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in info.value.body["error"]["message"]


def test_failure_after_the_stream_started_raises(daemon):
    with pytest.raises(anthropic.APIStatusError):
        with client(daemon).messages.stream(model="default", max_tokens=64, messages=user("a b c d"),
                                            extra_body={"mock": {"chunks": 4, "cut_after_chunks": 2}}) as stream:
            for _ in stream.text_stream:
                pass


def test_guardrail_denial_is_not_retried(daemon):
    before = daemon.metric("outrigger_chain_requests_started_total")
    with pytest.raises(anthropic.PermissionDeniedError):
        client(daemon, max_retries=2).messages.create(model="default", max_tokens=8,
                                                      messages=user("the forbidden phrase"))
    assert daemon.metric("outrigger_chain_requests_started_total") - before == 1
