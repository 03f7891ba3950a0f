"""POST /v1/embeddings through the official openai package, against the real daemon and the mock provider."""
import json
import math
import urllib.error
import urllib.request

import openai
import pytest
from openai import OpenAI


def client(daemon, **kw):
    kw.setdefault("max_retries", 0)
    return OpenAI(base_url=daemon.base_url, api_key="sk-test", **kw)


def test_default_path_decodes_base64_to_the_float_vectors(daemon):
    c = client(daemon)
    r = c.embeddings.create(model="default", input=["a", "b"])  # the SDK asks for base64 and decodes it
    f = c.embeddings.create(model="default", input=["a", "b"], encoding_format="float")
    assert r.object == "list"
    assert [d.index for d in r.data] == [0, 1]
    assert all(d.object == "embedding" for d in r.data)
    assert all(len(d.embedding) == 8 for d in r.data)
    assert [d.embedding for d in r.data] == [d.embedding for d in f.data]
    assert r.data[0].embedding != r.data[1].embedding
    assert abs(math.sqrt(sum(x * x for x in r.data[0].embedding)) - 1.0) < 1e-5
    assert r.usage.prompt_tokens == 2
    assert r.usage.total_tokens == 2
    assert r.model == "mock-embed-1"


def test_vectors_are_deterministic_and_per_input(daemon):
    c = client(daemon)
    one = c.embeddings.create(model="default", input="the quick brown fox", encoding_format="float")
    again = c.embeddings.create(model="other", input=["x", "the quick brown fox"], encoding_format="float")
    assert len(one.data) == 1
    assert one.data[0].embedding == again.data[1].embedding
    assert one.usage.prompt_tokens == 4


def test_dimensions_are_honoured(daemon):
    c = client(daemon)
    r = c.embeddings.create(model="default", input=["a"], dimensions=32)
    assert len(r.data[0].embedding) == 32


def test_raw_base64_is_little_endian_float32(daemon):
    body = json.dumps({"model": "default", "input": ["a"], "encoding_format": "base64"}).encode()
    req = urllib.request.Request(daemon.base_url + "/embeddings", data=body,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["x-request-id"]
        doc = json.loads(resp.read())
    import base64
    import struct
    raw = base64.b64decode(doc["data"][0]["embedding"])
    assert len(raw) == 32
    floats = list(struct.unpack("<8f", raw))
    f = client(daemon).embeddings.create(model="default", input=["a"], encoding_format="float")
    assert floats == f.data[0].embedding


def test_bad_requests_are_400_in_openai_shape(daemon):
    c = client(daemon)
    with pytest.raises(openai.BadRequestError) as e:
        c.embeddings.create(model="default", input=[[1, -2, 3]], encoding_format="float")
    assert e.value.status_code == 400
    assert e.value.body["param"] == "input[0]"
    # Token ids are refused by a provider that embeds text only (the mock), before it is called.
    with pytest.raises(openai.BadRequestError) as e:
        c.embeddings.create(model="default", input=[[1, 2, 3]], encoding_format="float")
    assert "embeds text only" in e.value.body["message"]
    with pytest.raises(openai.BadRequestError):
        c.embeddings.create(model="default", input=[], encoding_format="float")
    with pytest.raises(openai.BadRequestError) as e:
        c.embeddings.create(model="default", input="a", dimensions=0)
    assert e.value.body["param"] == "dimensions"


def test_provider_failures_map_like_chat(daemon):
    c = client(daemon)
    with pytest.raises(openai.RateLimitError) as e:
        c.embeddings.create(model="default", input="a",
                            extra_body={"mock": {"fail": {"code": "RESOURCE_EXHAUSTED", "retry_after_ms": 2000}}})
    assert e.value.status_code == 429
    assert e.value.response.headers["retry-after-ms"] == "2000"
    assert e.value.response.headers["x-request-id"]


def test_deadline_ends_a_hanging_embed_with_504(daemon):
    c = client(daemon)
    with pytest.raises(openai.APIStatusError) as e:
        c.embeddings.create(model="default", input="a", extra_body={"mock": {"hang": True}},
                            extra_headers={"x-outrigger-timeout-ms": "100"})
    assert e.value.status_code == 504


def test_get_is_not_allowed(daemon):
    req = urllib.request.Request(daemon.base_url + "/embeddings", method="GET")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 405


def test_client_timeout_cancels_a_pending_embed(daemon):
    c = client(daemon, timeout=0.5)
    aborts = daemon.metric("outrigger_http_client_aborts_total")
    with pytest.raises(openai.APITimeoutError):
        c.embeddings.create(model="default", input="x", extra_body={"mock": {"hang": True}})
    assert daemon.wait_metric("outrigger_http_client_aborts_total", aborts + 1)
    assert daemon.wait_metric("outrigger_requests_in_flight", 0)


def test_metrics_count_embeddings(daemon):
    before = daemon.metric("outrigger_http_requests_total", endpoint="embeddings", status="200")
    client(daemon).embeddings.create(model="default", input="count me", encoding_format="float")
    assert daemon.wait_metric("outrigger_http_requests_total", before + 1, endpoint="embeddings", status="200")


def test_a_provider_without_embed_answers_501(make_daemon):
    # provider.anthropic has no embed hook; it is never called, so its upstream needs not exist.
    d = make_daemon('[instances.messages_only]\ntype = "provider.anthropic"\n[instances.messages_only.config]\n'
                    'base_url = "http://127.0.0.1:9"\n[routes.messages_only]\nprovider = "messages_only"\n')
    c = client(d)
    with pytest.raises(openai.InternalServerError) as e:
        c.embeddings.create(model="messages_only", input="x", encoding_format="float")
    assert e.value.status_code == 501
    assert e.value.response.headers["x-should-retry"] == "false"
    assert len(c.embeddings.create(model="default", input="x", encoding_format="float").data[0].embedding) == 8


def test_a_failing_target_is_fallen_back_past(make_daemon):
    # `down` fails every request it is given (fail_every = 1), embeddings included.
    d = make_daemon('[instances.down]\ntype = "provider.mock"\n[instances.down.config]\nfail_every = 1\n'
                    'fail_code = "UNAVAILABLE"\nfail_retryable = true\n'
                    '[routes.down_only]\nprovider = "down"\n'
                    '[routes.down_first]\nstrategy = "fallback"\n'
                    'targets = [{ provider = "down", model = "m" }, { provider = "mock", model = "m" }]\n')
    c = client(d)
    with pytest.raises(openai.APIStatusError) as e:
        c.embeddings.create(model="down_only", input="x", encoding_format="float")
    assert e.value.status_code == 503
    r = c.embeddings.create(model="down_first", input=["x", "y"], encoding_format="float")
    assert [len(v.embedding) for v in r.data] == [8, 8]
    assert r.data[0].embedding == c.embeddings.create(model="default", input="x", encoding_format="float").data[0].embedding
