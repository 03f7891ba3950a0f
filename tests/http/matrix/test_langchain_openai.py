"""langchain-openai's ChatOpenAI through the daemon to the scripted OpenAI upstream: each test
asserts the exact body the upstream received and what LangChain made of the answer."""
import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

from models import ANSWER, STREAM, Answer, GetWeather, text_reply, tool_reply

QUESTION = [("system", "Answer briefly."), ("user", "Capital of France?")]
SENT_MESSAGES = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Capital of France?"}]


def chat(daemon, **kw):
    return ChatOpenAI(model="gpt-4o-mini", base_url=daemon.base_url, api_key="sk-test", temperature=0.3,
                      max_retries=0, **kw)


def test_invoke_sends_the_messages_and_temperature_as_given(daemon, upstream):
    upstream.script(text_reply("Paris."))
    msg = chat(daemon).invoke(QUESTION)
    assert upstream.only_body() == {"model": "gpt-4o-mini", "messages": SENT_MESSAGES, "temperature": 0.3}
    assert msg.content == "Paris."
    assert msg.response_metadata["finish_reason"] == "stop"
    assert msg.response_metadata["model_name"] == "gpt-4o-mini"
    assert msg.usage_metadata == {"input_tokens": 12, "output_tokens": 5, "total_tokens": 17,
                                  "input_token_details": {"cache_read": 4},
                                  "output_token_details": {"reasoning": 2}}


def test_stream_yields_the_text_and_usage(daemon, upstream):
    upstream.script(text_reply("Paris is the capital."))
    chunks = list(chat(daemon, stream_usage=True).stream(QUESTION))
    assert upstream.only_body() == {"model": "gpt-4o-mini", "messages": SENT_MESSAGES, "temperature": 0.3, **STREAM}
    assert "".join(c.content for c in chunks) == "Paris is the capital."
    assert len([c for c in chunks if c.content]) >= 2
    total = sum(chunks[1:], chunks[0])
    assert total.usage_metadata["input_tokens"] == 12
    assert total.usage_metadata["output_tokens"] == 5
    assert total.response_metadata["finish_reason"] == "stop"


WEATHER_TOOL = {"type": "function", "function": {
    "name": "GetWeather", "description": "Current weather in a city.",
    "parameters": {"properties": {"city": {"description": "the city", "type": "string"}}, "required": ["city"],
                   "type": "object"}}}


def test_bind_tools_with_a_forced_tool(daemon, upstream):
    upstream.script(tool_reply("GetWeather", {"city": "Paris"}))
    msg = chat(daemon).bind_tools([GetWeather], tool_choice="GetWeather").invoke("Weather in Paris?")
    assert upstream.only_body() == {
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Weather in Paris?"}], "temperature": 0.3,
        "tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "GetWeather"}}}
    assert msg.tool_calls == [{"name": "GetWeather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}]
    assert msg.response_metadata["finish_reason"] == "tool_calls"


def test_streamed_tool_call_arrives_whole(daemon, upstream):
    upstream.script(tool_reply("GetWeather", {"city": "Paris"}))
    chunks = list(chat(daemon).bind_tools([GetWeather], tool_choice="GetWeather").stream("Weather in Paris?"))
    body = upstream.only_body()
    assert body["tool_choice"] == {"type": "function", "function": {"name": "GetWeather"}}
    assert body["stream"] is True
    total = sum(chunks[1:], chunks[0])
    assert total.tool_calls == [{"name": "GetWeather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}]


def test_structured_output_by_function_calling(daemon, upstream):
    upstream.script(tool_reply("Answer", ANSWER))
    result = chat(daemon).with_structured_output(Answer, method="function_calling").invoke("Capital of France?")
    assert upstream.only_body() == {
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Capital of France?"}], "temperature": 0.3,
        "parallel_tool_calls": False,
        "tool_choice": {"type": "function", "function": {"name": "Answer"}},
        "tools": [{"type": "function", "function": {
            "name": "Answer", "description": "An answer with its confidence.",
            "parameters": {"properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
                           "required": ["answer", "confidence"], "type": "object"}}}]}
    assert result == Answer(**ANSWER)


def test_strict_tool_keeps_its_strict_flag(daemon, upstream):
    # A strict function is held to its schema by the model; without the flag it is only a hint.
    upstream.script(tool_reply("Answer", ANSWER))
    result = chat(daemon).with_structured_output(Answer, method="function_calling", strict=True).invoke("Capital?")
    tool = upstream.only_body()["tools"][0]
    assert tool == {"type": "function", "function": {
        "name": "Answer", "description": "An answer with its confidence.", "strict": True,
        "parameters": {"properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
                       "required": ["answer", "confidence"], "type": "object", "additionalProperties": False}}}
    assert result == Answer(**ANSWER)


def test_structured_output_by_json_schema(daemon, upstream):
    upstream.script(text_reply('{"answer": "Paris", "confidence": 0.9}'))
    result = chat(daemon).with_structured_output(Answer, method="json_schema").invoke("Capital of France?")
    assert upstream.only_body() == {
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Capital of France?"}], "temperature": 0.3,
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "Answer", "strict": True,
            "schema": {"description": "An answer with its confidence.",
                       "properties": {"answer": {"title": "Answer", "type": "string"},
                                      "confidence": {"title": "Confidence", "type": "number"}},
                       "required": ["answer", "confidence"], "title": "Answer", "type": "object",
                       "additionalProperties": False}}}}
    assert result == Answer(**ANSWER)


def test_embeddings_of_texts(daemon, upstream):
    # The default embeds tokens counted with tiktoken; text input is what an OpenAI-compatible
    # server is asked for when the client leaves the counting to the server.
    emb = OpenAIEmbeddings(model="text-embedding-3-small", base_url=daemon.base_url, api_key="sk-test",
                           check_embedding_ctx_length=False, max_retries=0)
    vectors = emb.embed_documents(["alpha", "beta gamma"])
    assert upstream.only_body() == {"model": "text-embedding-3-small", "input": ["alpha", "beta gamma"],
                                    "encoding_format": "base64"}
    assert vectors == [[5.0, 0.0, 0.5, -1.0], [10.0, 1.0, 0.5, -1.0]]


def test_embeddings_of_token_ids_as_langchain_sends_by_default(daemon, upstream, offline_tiktoken):
    # By default LangChain counts tokens with tiktoken and sends token ids; they reach an OpenAI
    # upstream as the same arrays.
    emb = OpenAIEmbeddings(model="text-embedding-3-small", base_url=daemon.base_url, api_key="sk-test", max_retries=0)
    vectors = emb.embed_documents(["alpha", "beta gamma"])
    enc = offline_tiktoken.get_encoding("cl100k_base")
    ids = [enc.encode("alpha"), enc.encode("beta gamma")]
    assert upstream.only_body() == {"model": "text-embedding-3-small", "input": ids, "encoding_format": "base64"}
    # The upstream's vector i is [len(ids), i, 0.5, -1]; LangChain may normalise what it gets.
    wanted = [[float(len(t)), float(i), 0.5, -1.0] for i, t in enumerate(ids)]
    assert len(vectors) == len(wanted)
    for got, want in zip(vectors, wanted):
        norm = sum(x * x for x in want) ** 0.5
        assert got == pytest.approx(want) or got == pytest.approx([x / norm for x in want])


def test_upstream_rate_limit_reaches_langchain_as_a_rate_limit_error(daemon, upstream):
    upstream.script({"fault": "status", "code": 429, "message": "slow down", "headers": {"retry-after": "1"}})
    with pytest.raises(openai.RateLimitError) as err:
        chat(daemon).invoke("hello")
    assert err.value.status_code == 429
    assert len(upstream.requests()) == 1


def test_client_timeout_ends_the_upstream_call(daemon, upstream):
    upstream.script({"fault": "hang", "ms": 5000})
    with pytest.raises(openai.APITimeoutError):
        chat(daemon, timeout=0.5).invoke("hello")
    assert len(upstream.requests()) == 1
