"""What the matrix asks of every client: the same tool, the same structured answer, the same
scripted upstream replies, so each client's upstream body can be compared field by field."""
import json

from pydantic import BaseModel, Field


class GetWeather(BaseModel):
    """Current weather in a city."""

    city: str = Field(description="the city")


class Answer(BaseModel):
    """An answer with its confidence."""

    answer: str
    confidence: float


ANSWER = {"answer": "Paris", "confidence": 0.9}


def tool_reply(name, arguments):
    """An upstream step answering with one call of `name` and no text."""
    return {"text": None, "tool_calls": [{"id": "call_1", "name": name, "arguments": json.dumps(arguments)}]}


def text_reply(text):
    return {"text": text}


# What the scripted upstream reports for every OpenAI answer (tests/upstream/upstream.py).
UPSTREAM_USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17, "cached": 4, "reasoning": 2}

# The provider asks for usage on every upstream stream (provider.openai's include_usage).
STREAM = {"stream": True, "stream_options": {"include_usage": True}}
