"""The official openai and anthropic packages through the daemon to the scripted upstream (not the
mock): the exact body each upstream received, and what the SDK made of the answer."""
import json
import os
import sys

import anthropic
import openai
import pytest
from openai import OpenAI

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from upstream_daemon import running_rig  # noqa: E402

STREAM = {"stream": True, "stream_options": {"include_usage": True}}
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False}}}
FORCED = {"type": "function", "function": {"name": "get_weather"}}


def tool_reply(name, arguments):
    return {"text": None, "tool_calls": [{"id": "call_1", "name": name, "arguments": json.dumps(arguments)}]}


@pytest.fixture(scope="module")
def rig():
    yield from running_rig()


@pytest.fixture
def upstream(rig):
    rig[1].reset()
    return rig[1]


@pytest.fixture
def oai(rig):
    return OpenAI(base_url=rig[0].base_url, api_key="sk-test", max_retries=0)


@pytest.fixture
def claude(rig):
    return anthropic.Anthropic(base_url="http://" + rig[0].http, api_key="sk-test", max_retries=0)


def test_chat_unary_sends_every_sampling_field_as_given(oai, upstream):
    upstream.script({"text": "Paris."})
    r = oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Capital?"}],
                                    temperature=0.3, top_p=0.9, max_completion_tokens=64, seed=7, stop=["END"],
                                    presence_penalty=0.5, user="u-1")
    assert upstream.only_body() == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Capital?"}],
                                    "temperature": 0.3, "top_p": 0.9, "max_tokens": 64, "seed": 7,
                                    "stop": ["END"], "presence_penalty": 0.5, "user": "u-1"}
    assert r.choices[0].message.content == "Paris."
    assert r.usage.prompt_tokens_details.cached_tokens == 4
    assert r.usage.completion_tokens_details.reasoning_tokens == 2


def test_chat_stream_with_a_forced_tool(oai, upstream):
    upstream.script(tool_reply("get_weather", {"city": "Paris"}))
    chunks = list(oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather?"}],
                                              tools=[WEATHER], tool_choice=FORCED, parallel_tool_calls=False,
                                              stream=True))
    assert upstream.only_body() == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Weather?"}],
                                    "tools": [WEATHER], "tool_choice": FORCED, "parallel_tool_calls": False,
                                    **STREAM}
    args = "".join(c.choices[0].delta.tool_calls[0].function.arguments or ""
                   for c in chunks if c.choices and c.choices[0].delta.tool_calls)
    assert json.loads(args) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_chat_parse_with_a_strict_pydantic_tool(oai, upstream):
    # pydantic_function_tool marks the function strict, which parse() requires.
    from pydantic import BaseModel

    class GetWeather(BaseModel):
        city: str

    upstream.script(tool_reply("GetWeather", {"city": "Paris"}))
    r = oai.chat.completions.parse(model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather?"}],
                                   tools=[openai.pydantic_function_tool(GetWeather)])
    tool = upstream.only_body()["tools"][0]
    assert tool["function"]["strict"] is True
    assert tool["function"]["parameters"]["additionalProperties"] is False
    assert r.choices[0].message.tool_calls[0].function.parsed_arguments == GetWeather(city="Paris")


def test_chat_parse_with_a_response_format(oai, upstream):
    from pydantic import BaseModel

    class Answer(BaseModel):
        answer: str

    upstream.script({"text": '{"answer": "Paris"}'})
    r = oai.chat.completions.parse(model="gpt-4o-mini", messages=[{"role": "user", "content": "Capital?"}],
                                   response_format=Answer)
    assert upstream.only_body()["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "Answer", "strict": True,
        "schema": {"properties": {"answer": {"title": "Answer", "type": "string"}}, "required": ["answer"],
                   "title": "Answer", "type": "object", "additionalProperties": False}}}
    assert r.choices[0].message.parsed == Answer(answer="Paris")


def test_embeddings_with_dimensions(oai, upstream):
    r = oai.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta gamma"], dimensions=3)
    assert upstream.only_body() == {"model": "text-embedding-3-small", "input": ["alpha", "beta gamma"],
                                    "dimensions": 3, "encoding_format": "base64"}
    assert [d.embedding for d in r.data] == [[5.0, 0.0, 0.5], [10.0, 1.0, 0.5]]


def test_chat_upstream_errors_and_timeouts(oai, upstream):
    upstream.script({"fault": "status", "code": 400, "message": "bad request upstream"})
    with pytest.raises(openai.BadRequestError) as err:
        oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert "bad request upstream" in str(err.value)
    upstream.script({"fault": "hang", "ms": 5000})
    with pytest.raises(openai.APITimeoutError):
        oai.with_options(timeout=0.5).chat.completions.create(model="gpt-4o-mini",
                                                             messages=[{"role": "user", "content": "x"}])


def test_messages_unary_with_a_forced_tool(claude, upstream):
    upstream.script(tool_reply("get_weather", {"city": "Paris"}))
    tool = {"name": "get_weather", "description": "Current weather in a city.",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
    r = claude.messages.create(model="claude-sonnet-4-5", max_tokens=64, system="Answer briefly.",
                               metadata={"user_id": "u-1"}, messages=[{"role": "user", "content": "Weather?"}], tools=[tool],
                               tool_choice={"type": "tool", "name": "get_weather"})
    log = upstream.requests()
    assert [e["path"] for e in log] == ["/v1/messages"]
    assert log[0]["body"] == {"model": "claude-sonnet-4-5", "max_tokens": 64, "system": "Answer briefly.",
                              "tools": [tool], "metadata": {"user_id": "u-1"},
                              "tool_choice": {"type": "tool", "name": "get_weather"},
                              "messages": [{"role": "user", "content": [{"type": "text", "text": "Weather?"}]}]}
    assert r.stop_reason == "tool_use"
    assert [(b.type, b.name, b.input) for b in r.content] == [("tool_use", "get_weather", {"city": "Paris"})]


def test_messages_stream(claude, upstream):
    upstream.script({"text": "Paris is the capital."})
    with claude.messages.stream(model="claude-sonnet-4-5", max_tokens=64,
                                messages=[{"role": "user", "content": "Capital?"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert upstream.only_body() == {"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": True,
                                    "messages": [{"role": "user", "content": [{"type": "text", "text": "Capital?"}]}]}
    assert text == "Paris is the capital."
    assert final.stop_reason == "end_turn"
    assert final.usage.cache_read_input_tokens == 3


# ---------------------------------------------------------------- what the answer says about itself

REFUSAL = "I can't help with that."
UPSTREAM_HEAD = {"model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_44709d6fcb", "service_tier": "priority"}


def capital_model():
    from pydantic import BaseModel

    class Capital(BaseModel):
        city: str

    return Capital


def test_chat_refusal_reaches_parse_as_message_refusal(oai, upstream):
    upstream.script({"fault": "refusal", "refusal": REFUSAL})
    r = oai.chat.completions.parse(model="gpt-4o-mini", messages=[{"role": "user", "content": "Capital?"}],
                                   response_format=capital_model())
    message = r.choices[0].message
    assert (message.refusal, message.content, message.parsed) == (REFUSAL, None, None)
    assert r.choices[0].finish_reason == "stop"


def test_chat_streamed_refusal_arrives_as_refusal_deltas(oai, upstream):
    upstream.script({"fault": "refusal", "refusal": REFUSAL})
    with oai.chat.completions.stream(model="gpt-4o-mini", messages=[{"role": "user", "content": "Capital?"}],
                                     response_format=capital_model()) as stream:
        events = list(stream)
        final = stream.get_final_completion()
    assert "".join(e.delta for e in events if e.type == "refusal.delta") == REFUSAL
    assert [e.refusal for e in events if e.type == "refusal.done"] == [REFUSAL]
    assert not [e for e in events if e.type == "content.delta" and e.delta]
    message = final.choices[0].message
    assert (message.refusal, message.parsed) == (REFUSAL, None)
    assert final.choices[0].finish_reason == "stop"


def test_an_anthropic_refusal_reaches_openai_callers_as_a_refusal(oai, upstream):
    upstream.script({"fault": "refusal", "text": "I won't write that."})
    r = oai.chat.completions.create(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "Write it."}])
    message = r.choices[0].message
    assert (message.refusal, message.content) == ("I won't write that.", None)


def test_an_openai_refusal_reaches_anthropic_callers_as_stop_reason_refusal(claude, upstream):
    upstream.script({"fault": "refusal", "refusal": REFUSAL})
    r = claude.messages.create(model="gpt-4o-mini", max_tokens=64, messages=[{"role": "user", "content": "Capital?"}])
    assert r.stop_reason == "refusal"
    assert [(b.type, b.text) for b in r.content] == [("text", REFUSAL)]
    upstream.reset()
    upstream.script({"fault": "refusal", "refusal": REFUSAL})
    with claude.messages.stream(model="gpt-4o-mini", max_tokens=64,
                                messages=[{"role": "user", "content": "Capital?"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert (text, final.stop_reason) == (REFUSAL, "refusal")


def test_chat_passes_back_the_upstreams_model_fingerprint_and_tier(oai, upstream):
    upstream.script(dict(UPSTREAM_HEAD, text="Paris."))
    r = oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Capital?"}],
                                    service_tier="priority")
    assert upstream.only_body()["service_tier"] == "priority"
    assert (r.model, r.system_fingerprint, r.service_tier) == tuple(UPSTREAM_HEAD.values())
    upstream.reset()
    upstream.script(dict(UPSTREAM_HEAD, text="Paris is the capital."))
    chunks = list(oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Capital?"}],
                                              stream=True, stream_options={"include_usage": True}))
    # Every chunk, the first included, names what the upstream named: the same as the unary answer.
    assert len(chunks) > 3
    assert {(c.model, c.system_fingerprint, c.service_tier) for c in chunks} == {tuple(UPSTREAM_HEAD.values())}


def test_responses_refusal_and_tier(oai, upstream):
    upstream.script(dict(UPSTREAM_HEAD, fault="refusal", refusal=REFUSAL))
    r = oai.responses.create(model="gpt-4o-mini", input="Capital?")
    part = r.output[0].content[0]
    assert (part.type, part.refusal) == ("refusal", REFUSAL)
    assert (r.model, r.service_tier) == ("gpt-4o-mini-2024-07-18", "priority")
    upstream.reset()
    upstream.script({"fault": "refusal", "refusal": REFUSAL})
    events = list(oai.responses.create(model="gpt-4o-mini", input="Capital?", stream=True))
    assert "".join(e.delta for e in events if e.type == "response.refusal.delta") == REFUSAL
    assert [e.refusal for e in events if e.type == "response.refusal.done"] == [REFUSAL]
    assert events[-1].response.output[0].content[0].refusal == REFUSAL


def test_messages_stream_starts_with_the_upstreams_model_and_input_tokens(claude, upstream):
    usage = {"input_tokens": 21, "output_tokens": 6, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 3,
             "service_tier": "standard"}
    upstream.script({"text": "Paris.", "model": "claude-sonnet-4-5-20250929", "usage": usage})
    with claude.messages.stream(model="claude-sonnet-4-5", max_tokens=64,
                                messages=[{"role": "user", "content": "Capital?"}]) as stream:
        start = next(e for e in stream if e.type == "message_start").message
        final = stream.get_final_message()
    assert start.model == final.model == "claude-sonnet-4-5-20250929"
    assert (start.usage.input_tokens, start.usage.cache_read_input_tokens, start.usage.cache_creation_input_tokens) == (
        21, 3, 5)
    assert final.usage.service_tier == "standard"
    upstream.reset()
    upstream.script({"text": "Paris.", "model": "claude-sonnet-4-5-20250929", "usage": usage})
    r = claude.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "Capital?"}])
    assert (r.model, r.usage.input_tokens, r.usage.service_tier) == ("claude-sonnet-4-5-20250929", 21, "standard")


def test_count_tokens_is_exact_for_an_openai_encoding_and_501_otherwise(claude, upstream):
    # gpt-4o-mini is o200k_base: each message costs 3 + its role + its content, the reply 3 more
    # ("system" 1, "Answer in one word." 5, "user" 1, "Capital of France?" 4: ids checked against
    # tiktoken by the tokens suite).
    r = claude.messages.count_tokens(model="gpt-4o-mini", system="Answer in one word.",
                                     messages=[{"role": "user", "content": "Capital of France?"}])
    assert r.input_tokens == (3 + 1 + 5) + (3 + 1 + 4) + 3
    with pytest.raises(anthropic.APIStatusError) as err:
        claude.messages.count_tokens(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == 501
    assert "no exact tokenizer for model 'claude-sonnet-4-5'" in str(err.value)
    assert upstream.requests() == []  # counting never reaches a provider
