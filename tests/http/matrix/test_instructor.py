"""instructor on the official openai client, pointed at the daemon: its default TOOLS mode and
its JSON modes, with the exact upstream bodies and the validated objects it returned."""
import instructor
import pytest
from openai import OpenAI

from models import ANSWER, Answer, text_reply, tool_reply

ASK = [{"role": "user", "content": "Capital of France?"}]
# The JSON Schema instructor derives from Answer (pydantic's, titles included).
ANSWER_SCHEMA = {"description": "An answer with its confidence.",
                 "properties": {"answer": {"title": "Answer", "type": "string"},
                                "confidence": {"title": "Confidence", "type": "number"}},
                 "required": ["answer", "confidence"], "title": "Answer", "type": "object"}


def client(daemon, mode=instructor.Mode.TOOLS):
    return instructor.from_openai(OpenAI(base_url=daemon.base_url, api_key="sk-test", max_retries=0), mode=mode)


def test_default_tools_mode_forces_its_tool(daemon, upstream):
    upstream.script(tool_reply("Answer", ANSWER))
    result = client(daemon).chat.completions.create(model="gpt-4o-mini", response_model=Answer, messages=ASK,
                                                    temperature=0.3)
    assert upstream.only_body() == {
        "model": "gpt-4o-mini", "messages": ASK, "temperature": 0.3,
        "tools": [{"type": "function", "function": {"name": "Answer", "description": "An answer with its confidence.",
                                                     "parameters": {k: v for k, v in ANSWER_SCHEMA.items()
                                                                    if k not in ("description", "title")}}}],
        "tool_choice": {"type": "function", "function": {"name": "Answer"}}}
    assert result.model_dump() == ANSWER


def test_tools_mode_retries_with_the_validation_error(daemon, upstream):
    # A first answer that fails validation is sent back with the error; the retry carries the
    # whole conversation, tool call and tool result included.
    upstream.script(tool_reply("Answer", {"answer": "Paris"}), tool_reply("Answer", ANSWER))
    result = client(daemon).chat.completions.create(model="gpt-4o-mini", response_model=Answer, messages=ASK,
                                                    max_retries=1)
    assert result.model_dump() == ANSWER
    first, second = upstream.bodies()
    assert first["messages"] == ASK
    assert second["messages"][:2] == ASK + [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "Answer", "arguments": '{"answer": "Paris"}'}}]}]
    assert second["messages"][2]["role"] == "tool"
    assert second["messages"][2]["tool_call_id"] == "call_1"
    assert "confidence" in second["messages"][2]["content"]
    assert second["tool_choice"] == {"type": "function", "function": {"name": "Answer"}}


def test_json_mode_asks_for_a_json_object(daemon, upstream):
    upstream.script(text_reply('{"answer": "Paris", "confidence": 0.9}'))
    result = client(daemon, instructor.Mode.JSON).chat.completions.create(
        model="gpt-4o-mini", response_model=Answer, messages=ASK)
    body = upstream.only_body()
    assert set(body) == {"model", "messages", "response_format"}
    assert body["response_format"] == {"type": "json_object"}
    assert body["messages"][0]["role"] == "system"
    assert '"confidence"' in body["messages"][0]["content"]  # the schema, in instructor's own prompt
    assert body["messages"][1:] == ASK
    assert result.model_dump() == ANSWER


def test_json_schema_mode_sends_the_schema(daemon, upstream):
    upstream.script(text_reply('{"answer": "Paris", "confidence": 0.9}'))
    result = client(daemon, instructor.Mode.JSON_SCHEMA).chat.completions.create(
        model="gpt-4o-mini", response_model=Answer, messages=ASK)
    # instructor leaves out "strict"; the wire has no "unset", so it goes as false, its default.
    assert upstream.only_body() == {"model": "gpt-4o-mini", "messages": ASK, "response_format": {
        "type": "json_schema", "json_schema": {"name": "Answer", "schema": ANSWER_SCHEMA, "strict": False}}}
    assert result.model_dump() == ANSWER


def test_streamed_partial_objects(daemon, upstream):
    upstream.script(tool_reply("Answer", ANSWER))
    partials = list(client(daemon).chat.completions.create_partial(
        model="gpt-4o-mini", response_model=Answer, messages=ASK))
    body = upstream.only_body()
    assert body["stream"] is True
    assert body["tool_choice"] == {"type": "function", "function": {"name": "PartialAnswer"}}
    assert partials[-1].answer == "Paris"
    assert partials[-1].confidence == 0.9


def test_upstream_refusal_of_the_request_is_not_retried_as_invalid_output(daemon, upstream):
    upstream.script({"fault": "status", "code": 400, "message": "bad schema"})
    with pytest.raises(Exception) as err:
        client(daemon).chat.completions.create(model="gpt-4o-mini", response_model=Answer, messages=ASK,
                                               max_retries=2)
    assert "400" in str(err.value) or "bad schema" in str(err.value)
    assert len(upstream.requests()) == 1
