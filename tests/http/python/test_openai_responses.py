"""The official openai package's Responses API (client.responses), unchanged but for base_url."""
import json

import openai
import pytest
from openai import OpenAI


def client(daemon, **kw):
    kw.setdefault("max_retries", 0)
    return OpenAI(base_url=daemon.base_url, api_key="sk-test", **kw)


TOOL_CALLS = [{"id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
              {"id": "call_2", "name": "get_time", "arguments": '{"tz":"CET"}'}]
TOOLS = [{"type": "function", "name": n, "parameters": {"type": "object", "properties": {}}}
         for n in ("get_weather", "get_time")]


def test_unary_text(daemon):
    r = client(daemon).responses.create(model="default", instructions="repeat after me",
                                        input="the quick brown fox")
    assert r.object == "response"
    assert r.id.startswith("resp_")
    assert r.status == "completed"
    assert r.output_text == "the quick brown fox"
    assert r.output[0].type == "message"
    assert r.output[0].role == "assistant"
    assert r.usage.input_tokens > 0
    assert r.usage.output_tokens == 4
    assert r.usage.total_tokens == r.usage.input_tokens + 4
    assert r.usage.input_tokens_details.cached_tokens == 0


def test_input_items_and_function_call_outputs(daemon):
    r = client(daemon).responses.create(model="default", input=[
        {"role": "user", "content": [{"type": "input_text", "text": "what is the weather"}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"role": "user", "content": "thanks, say it back"},
    ], tools=TOOLS)
    assert r.output_text == "thanks, say it back"


def test_streaming_text_events(daemon):
    stream = client(daemon).responses.create(
        model="default", input="one two three four five six", stream=True,
        extra_body={"mock": {"chunks": 3, "chunk_interval_ms": 5}})
    events = list(stream)
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert types.count("response.output_text.delta") == 3
    for t in ("response.output_item.added", "response.content_part.added", "response.output_text.done",
              "response.content_part.done", "response.output_item.done"):
        assert types.count(t) == 1, t
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "one two three four five six"
    done = events[-1].response
    assert done.status == "completed"
    assert done.output_text == deltas
    assert done.usage.output_tokens == 6


def test_stream_helper_collects_the_final_response(daemon):
    with client(daemon).responses.stream(model="default", input="stream helper text") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.output_text == "stream helper text"


def test_function_calls_unary_with_forced_tool(daemon):
    r = client(daemon).responses.create(
        model="default", input="weather?", tools=TOOLS, tool_choice={"type": "function", "name": "get_weather"},
        extra_body={"mock": {"tool_calls": TOOL_CALLS}})
    calls = [o for o in r.output if o.type == "function_call"]
    assert [(c.call_id, c.name) for c in calls] == [("call_1", "get_weather"), ("call_2", "get_time")]
    assert json.loads(calls[0].arguments) == {"city": "Paris"}


def test_function_call_arguments_stream(daemon):
    events = list(client(daemon).responses.create(
        model="default", input="weather?", tools=TOOLS, stream=True,
        extra_body={"mock": {"tool_calls": TOOL_CALLS}}))
    added = [e.item for e in events if e.type == "response.output_item.added"]
    assert [(i.type, i.call_id, i.name) for i in added] == [
        ("function_call", "call_1", "get_weather"), ("function_call", "call_2", "get_time")]
    args = {}
    for e in events:
        if e.type == "response.function_call_arguments.delta":
            args[e.output_index] = args.get(e.output_index, "") + e.delta
    done = {e.output_index: e.arguments for e in events if e.type == "response.function_call_arguments.done"}
    assert args == done == {0: '{"city":"Paris"}', 1: '{"tz":"CET"}'}
    assert [o.type for o in events[-1].response.output] == ["function_call", "function_call"]


def test_stored_response_state_is_refused_clearly(daemon):
    c = client(daemon)
    with pytest.raises(openai.BadRequestError) as e:
        c.responses.create(model="default", input="next", previous_response_id="resp_earlier")
    assert "previous_response_id is not supported" in str(e.value)
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve("resp_earlier")


def test_failure_after_stream_started_is_an_error_event(daemon):
    # As OpenAI's own stream does, a failure mid-stream is an `error` event, then response.failed;
    # the SDK yields both (it raises only on an HTTP error status).
    events = list(client(daemon).responses.create(
        model="default", input="a b c d e f", stream=True,
        extra_body={"mock": {"chunks": 3, "cut_after_chunks": 1}}))
    types = [e.type for e in events]
    assert "response.output_text.delta" in types
    assert types[-2:] == ["error", "response.failed"]
    assert "cut" in events[-2].message
    assert events[-1].response.status == "failed"
    assert "cut" in events[-1].response.error.message
    assert "response.completed" not in types
