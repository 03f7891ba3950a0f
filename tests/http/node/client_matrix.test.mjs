// The Vercel AI SDK (ai + @ai-sdk/openai) and the official openai package's Responses API through
// the daemon to the scripted OpenAI upstream. The AI SDK's default provider, openai('model'),
// speaks the Responses API; openai.chat('model') speaks Chat Completions. Each test asserts the
// exact body the upstream received and what the client returned.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { generateText, streamText, generateObject, tool, APICallError } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { z } from 'zod';
import OpenAI from 'openai';
import { Rig, textReply, toolReply } from './matrix_rig.mjs';

globalThis.AI_SDK_LOG_WARNINGS = false;  // generateObject's deprecation notice
const rig = new Rig();
let provider;
before(async () => {
  await rig.start();
  provider = createOpenAI({ baseURL: rig.baseURL, apiKey: 'sk-test' });
});
after(() => rig.stop());
beforeEach(() => rig.reset());

const weather = tool({ description: 'Current weather in a city.', inputSchema: z.object({ city: z.string() }) });
const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'getWeather', description: 'Current weather in a city.',
    parameters: { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object',
                  properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  },
};
const answerSchema = z.object({ answer: z.string(), confidence: z.number() });
const ANSWER_FORMAT = {
  type: 'json_schema',
  json_schema: {
    name: 'response', strict: true,
    schema: { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object',
              properties: { answer: { type: 'string' }, confidence: { type: 'number' } },
              required: ['answer', 'confidence'], additionalProperties: false },
  },
};
const USAGE = { inputTokens: 12, outputTokens: 5, totalTokens: 17 };
const STREAM = { stream: true, stream_options: { include_usage: true } };

const strictAs = (strict) => ({ ...WEATHER_TOOL, function: { ...WEATHER_TOOL.function, strict } });
// The Responses provider states strict: false on every function tool; .chat() leaves it out.
for (const [dialect, model, sentTool] of [
  ['responses (default provider)', () => provider('gpt-4o-mini'), strictAs(false)],
  ['chat', () => provider.chat('gpt-4o-mini'), WEATHER_TOOL]]) {
  test(`${dialect}: generateText sends the system prompt, messages and temperature as given`, async () => {
    await rig.script(textReply('Paris.'));
    const r = await generateText({ model: model(), system: 'Answer briefly.', prompt: 'Capital of France?',
                                   temperature: 0.3, maxRetries: 0 });
    const { path, body } = await rig.onlyRequest();
    assert.equal(path, '/v1/chat/completions');
    assert.deepEqual(body, { model: 'gpt-4o-mini', temperature: 0.3, messages: [
      { role: 'system', content: 'Answer briefly.' }, { role: 'user', content: 'Capital of France?' }] });
    assert.equal(r.text, 'Paris.');
    assert.equal(r.finishReason, 'stop');
    assert.deepEqual({ inputTokens: r.usage.inputTokens, outputTokens: r.usage.outputTokens,
                       totalTokens: r.usage.totalTokens }, USAGE);
    assert.equal(r.usage.inputTokenDetails.cacheReadTokens, 4);
    assert.equal(r.usage.outputTokenDetails.reasoningTokens, 2);
  });

  test(`${dialect}: streamText streams the text and ends with usage`, async () => {
    await rig.script(textReply('Paris is the capital.'));
    const r = streamText({ model: model(), prompt: 'Capital of France?', temperature: 0.3, maxRetries: 0 });
    const parts = [];
    for await (const part of r.textStream) parts.push(part);
    const { body } = await rig.onlyRequest();
    assert.deepEqual(body, { model: 'gpt-4o-mini', temperature: 0.3, ...STREAM,
                             messages: [{ role: 'user', content: 'Capital of France?' }] });
    assert.equal(parts.join(''), 'Paris is the capital.');
    assert.ok(parts.length >= 2, 'streamed in pieces');
    assert.equal(await r.finishReason, 'stop');
    assert.equal((await r.usage).outputTokens, 5);
  });

  test(`${dialect}: a tool forced by toolChoice`, async () => {
    await rig.script(toolReply('getWeather', { city: 'Paris' }));
    const r = await generateText({ model: model(), prompt: 'Weather in Paris?', tools: { getWeather: weather },
                                   toolChoice: { type: 'tool', toolName: 'getWeather' }, maxRetries: 0 });
    const { body } = await rig.onlyRequest();
    assert.deepEqual(body, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Weather in Paris?' }],
                             tools: [sentTool],
                             tool_choice: { type: 'function', function: { name: 'getWeather' } } });
    assert.deepEqual(r.toolCalls.map((c) => [c.toolCallId, c.toolName, c.input]),
                     [['call_1', 'getWeather', { city: 'Paris' }]]);
    assert.equal(r.finishReason, 'tool-calls');
  });

  test(`${dialect}: a streamed tool call arrives whole`, async () => {
    await rig.script(toolReply('getWeather', { city: 'Paris' }));
    const r = streamText({ model: model(), prompt: 'Weather in Paris?', tools: { getWeather: weather },
                           toolChoice: { type: 'tool', toolName: 'getWeather' }, maxRetries: 0 });
    const calls = await r.toolCalls;
    const { body } = await rig.onlyRequest();
    assert.equal(body.stream, true);
    assert.deepEqual(body.tool_choice, { type: 'function', function: { name: 'getWeather' } });
    assert.deepEqual(calls.map((c) => [c.toolCallId, c.toolName, c.input]), [['call_1', 'getWeather', { city: 'Paris' }]]);
  });

  test(`${dialect}: generateObject sends the zod schema as a strict json_schema`, async () => {
    await rig.script(textReply('{"answer":"Paris","confidence":0.9}'));
    const r = await generateObject({ model: model(), schema: answerSchema, prompt: 'Capital of France?', maxRetries: 0 });
    const { body } = await rig.onlyRequest();
    assert.deepEqual(body, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Capital of France?' }],
                             response_format: ANSWER_FORMAT });
    assert.deepEqual(r.object, { answer: 'Paris', confidence: 0.9 });
  });

  test(`${dialect}: generateObject's schema name and description reach the upstream`, async () => {
    await rig.script(textReply('{"answer":"Paris","confidence":0.9}'));
    await generateObject({ model: model(), schema: answerSchema, schemaName: 'answer',
                           schemaDescription: 'An answer with its confidence.', prompt: 'Capital?', maxRetries: 0 });
    const { body } = await rig.onlyRequest();
    assert.deepEqual(body.response_format, { type: 'json_schema', json_schema: {
      ...ANSWER_FORMAT.json_schema, name: 'answer', description: 'An answer with its confidence.' } });
  });

  test(`${dialect}: an upstream 429 is an APICallError with its status`, async () => {
    await rig.script({ fault: 'status', code: 429, message: 'slow down' });
    await assert.rejects(generateText({ model: model(), prompt: 'hello', maxRetries: 0 }), (e) => {
      assert.ok(APICallError.isInstance(e), String(e));
      assert.equal(e.statusCode, 429);
      return true;
    });
    assert.equal((await rig.requests()).length, 1);
  });
}

test('responses (default provider): an abort signal ends the call', async () => {
  await rig.script({ fault: 'hang', ms: 5000 });
  const started = Date.now();
  await assert.rejects(generateText({ model: provider('gpt-4o-mini'), prompt: 'hello', maxRetries: 0,
                                      abortSignal: AbortSignal.timeout(300) }));
  assert.ok(Date.now() - started < 3000);
});

test('openai sdk responses.create: input, instructions, temperature and the forced function', async () => {
  await rig.script(toolReply('get_weather', { city: 'Paris' }));
  const client = new OpenAI({ baseURL: rig.baseURL, apiKey: 'sk-test', maxRetries: 0 });
  const params = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
  const r = await client.responses.create({
    model: 'gpt-4o-mini', instructions: 'Answer briefly.', input: 'Weather in Paris?', temperature: 0.3,
    max_output_tokens: 64, tools: [{ type: 'function', name: 'get_weather', parameters: params, strict: false }],
    tool_choice: { type: 'function', name: 'get_weather' }, store: false,
  });
  const { body } = await rig.onlyRequest();
  assert.deepEqual(body, {
    model: 'gpt-4o-mini', temperature: 0.3, max_tokens: 64,
    messages: [{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: 'Weather in Paris?' }],
    tools: [{ type: 'function', function: { name: 'get_weather', parameters: params, strict: false } }],
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
  });
  const call = r.output.find((o) => o.type === 'function_call');
  assert.deepEqual([call.call_id, call.name, JSON.parse(call.arguments)], ['call_1', 'get_weather', { city: 'Paris' }]);
});

test('chat: a strict tool keeps its strict flag', async () => {
  // A strict function is held to its schema by the model; without the flag it is only a hint.
  await rig.script(toolReply('getWeather', { city: 'Paris' }));
  const strictWeather = tool({ ...weather, strict: true });
  await generateText({ model: provider.chat('gpt-4o-mini'), prompt: 'Weather in Paris?', maxRetries: 0,
                       tools: { getWeather: strictWeather }, toolChoice: { type: 'tool', toolName: 'getWeather' } });
  const { body } = await rig.onlyRequest();
  assert.deepEqual(body.tools, [strictAs(true)]);
});

test('openai sdk responses.create: a stream of typed events with the text', async () => {
  await rig.script(textReply('Paris is the capital.'));
  const client = new OpenAI({ baseURL: rig.baseURL, apiKey: 'sk-test', maxRetries: 0 });
  const stream = await client.responses.create({ model: 'gpt-4o-mini', input: 'Capital of France?', stream: true });
  const events = [];
  for await (const e of stream) events.push(e);
  const { body } = await rig.onlyRequest();
  assert.deepEqual(body, { model: 'gpt-4o-mini', ...STREAM, messages: [{ role: 'user', content: 'Capital of France?' }] });
  assert.equal(events.at(-1).type, 'response.completed');
  assert.equal(events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join(''),
               'Paris is the capital.');
  assert.equal(events.at(-1).response.usage.output_tokens, 5);
});
