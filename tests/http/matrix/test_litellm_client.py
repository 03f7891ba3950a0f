"""The LiteLLM SDK as a client of the daemon (litellm.completion with api_base pointed at it),
speaking OpenAI's dialect and Anthropic's: the exact upstream bodies and what LiteLLM returned."""
import json
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-map download at import

import litellm  # noqa: E402
import pytest  # noqa: E402

from models import STREAM, text_reply, tool_reply  # noqa: E402

litellm.telemetry = False
QUESTION = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Capital of France?"}]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def complete(daemon, **kw):
    kw.setdefault("model", "openai/gpt-4o-mini")
    return litellm.completion(api_base=daemon.base_url, api_key="sk-test", num_retries=0, **kw)


def test_completion_sends_the_body_as_given(daemon, upstream):
    upstream.script(text_reply("Paris."))
    r = complete(daemon, messages=QUESTION, temperature=0.3, max_tokens=64, seed=7, stop=["\n\n"])
    assert upstream.only_body() == {"model": "gpt-4o-mini", "messages": QUESTION, "temperature": 0.3,
                                    "max_tokens": 64, "seed": 7, "stop": ["\n\n"]}
    assert r.choices[0].message.content == "Paris."
    assert r.choices[0].finish_reason == "stop"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (12, 5, 17)
    assert r.usage.prompt_tokens_details.cached_tokens == 4


def test_stream_yields_the_text(daemon, upstream):
    upstream.script(text_reply("Paris is the capital."))
    chunks = list(complete(daemon, messages=QUESTION, temperature=0.3, stream=True))
    assert upstream.only_body() == {"model": "gpt-4o-mini", "messages": QUESTION, "temperature": 0.3, **STREAM}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Paris is the capital."
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]


def test_forced_tool_call(daemon, upstream):
    upstream.script(tool_reply("get_weather", {"city": "Paris"}))
    forced = {"type": "function", "function": {"name": "get_weather"}}
    r = complete(daemon, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER],
                 tool_choice=forced, temperature=0.3)
    assert upstream.only_body() == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Weather in Paris?"}],
                                    "tools": [WEATHER], "tool_choice": forced, "temperature": 0.3}
    call = r.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == ("call_1", "get_weather",
                                                                                  {"city": "Paris"})
    assert r.choices[0].finish_reason == "tool_calls"


def test_tool_result_round_trip(daemon, upstream):
    upstream.script(text_reply("It is sunny in Paris."))
    history = [{"role": "user", "content": "Weather in Paris?"},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "call_1", "type": "function", "function": {"name": "get_weather",
                                                                     "arguments": '{"city":"Paris"}'}}]},
               {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 24C"}]
    r = complete(daemon, messages=history, tools=[WEATHER])
    assert upstream.only_body() == {"model": "gpt-4o-mini", "messages": history, "tools": [WEATHER]}
    assert r.choices[0].message.content == "It is sunny in Paris."


def test_embedding(daemon, upstream):
    r = litellm.embedding(model="openai/text-embedding-3-small", input=["alpha", "beta gamma"],
                          api_base=daemon.base_url, api_key="sk-test")
    body = upstream.only_body()
    assert body == {"model": "text-embedding-3-small", "input": ["alpha", "beta gamma"], "encoding_format": "base64"}
    assert [d["embedding"] for d in r.data] == [[5.0, 0.0, 0.5, -1.0], [10.0, 1.0, 0.5, -1.0]]


def test_anthropic_dialect_reaches_the_anthropic_route(daemon, upstream):
    # LiteLLM's anthropic provider posts to {api_base}/v1/messages: the daemon's Messages front.
    upstream.script(text_reply("Paris."))
    r = litellm.completion(model="anthropic/claude-sonnet-4-5", api_base="http://" + daemon.http, api_key="sk-test",
                           messages=QUESTION, temperature=0.3, max_tokens=64)
    log = upstream.requests()
    assert [e["path"] for e in log] == ["/v1/messages"]
    assert log[0]["body"] == {"model": "claude-sonnet-4-5", "system": "Answer briefly.",
                              "messages": [{"role": "user", "content": [{"type": "text",
                                                                          "text": "Capital of France?"}]}],
                              "temperature": 0.3, "max_tokens": 64}
    assert r.choices[0].message.content == "Paris."


def test_upstream_server_error_is_an_api_error(daemon, upstream):
    upstream.script({"fault": "status", "code": 503, "message": "overloaded"})
    with pytest.raises(litellm.exceptions.ServiceUnavailableError):
        complete(daemon, messages=QUESTION)
    assert len(upstream.requests()) == 1


def test_timeout_is_a_litellm_timeout(daemon, upstream):
    upstream.script({"fault": "hang", "ms": 5000})
    with pytest.raises(litellm.exceptions.Timeout):
        complete(daemon, messages=QUESTION, timeout=0.5)
