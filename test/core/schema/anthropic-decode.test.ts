import { describe, expect, it } from 'vitest';
import { decodeMessagesRequest, validateMessagesRequest } from '../../../core/schema/anthropic-decode.js';
import { decodeEmbeddingsRequest, validateEmbeddingsRequest } from '../../../core/schema/embeddings.js';
import { buildAnthropicBody } from '../../../core/providers/anthropic/wire.js';

const ok = { model: 'a', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };

describe('validateMessagesRequest', () => {
  it('accepts a minimal request', () => {
    expect(validateMessagesRequest(ok)).toBeNull();
  });

  it.each([
    [[], 'The request body must be a JSON object.'],
    [{ max_tokens: 1, messages: [] }, 'model: Field required'],
    [{ model: 'a', messages: [{ role: 'user', content: 'x' }] }, 'max_tokens: Field required'],
    [{ ...ok, max_tokens: 0 }, 'max_tokens: Input should be greater than or equal to 1'],
    [{ ...ok, max_tokens: 1.5 }, 'max_tokens: Input should be a valid integer'],
    [{ ...ok, messages: undefined }, 'messages: Field required'],
    [{ ...ok, messages: {} }, 'messages: Input should be a valid list'],
    [{ ...ok, messages: [] }, 'messages: at least one message is required'],
    [{ ...ok, messages: [{ role: 'tool', content: 'x' }] }, "messages.0.role: Input should be 'user' or 'assistant'"],
    [{ ...ok, messages: [{ role: 'user' }] }, 'messages.0.content: Field required'],
    [{ ...ok, messages: [{ role: 'user', content: [{ type: 'text' }] }] }, 'messages.0.content.0.text: Field required'],
    [{ ...ok, messages: [{ role: 'user', content: [{ text: 'x' }] }] }, 'messages.0.content.0.type: Field required'],
    [{ ...ok, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'file' } }] }] }, "messages.0.content.0.source.type: Input should be 'base64' or 'url'"],
    [{ ...ok, messages: [{ role: 'user', content: [{ type: 'tool_use', id: 'x', name: 'f', input: {} }] }] }, 'messages.0.content.0.type: tool_use blocks are only allowed in assistant messages'],
    [{ ...ok, messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 'x', name: 'f', input: 'no' }] }] }, 'messages.0.content.0.input: Input should be a valid dictionary'],
    [{ ...ok, messages: [{ role: 'assistant', content: [{ type: 'tool_result', tool_use_id: 'x' }] }] }, 'messages.0.content.0.type: tool_result blocks are only allowed in user messages'],
    [{ ...ok, messages: [{ role: 'user', content: [{ type: 'text', text: 'x', cache_control: 'yes' }] }] }, 'messages.0.content.0.cache_control: Input should be a valid dictionary'],
    [{ ...ok, system: [{ type: 'image' }] }, 'system.0: system blocks must be text blocks'],
    [{ ...ok, system: 5 }, 'system: Input should be a valid string or list'],
    [{ ...ok, temperature: 1.5 }, 'temperature: Input should be less than or equal to 1'],
    [{ ...ok, top_k: -1 }, 'top_k: Input should be greater than or equal to 0'],
    [{ ...ok, stream: 'yes' }, 'stream: Input should be a valid boolean'],
    [{ ...ok, stop_sequences: [1] }, 'stop_sequences.0: Input should be a valid string'],
    [{ ...ok, tools: [{ name: 'bad name', input_schema: {} }] }, 'tools.0.name: String should match pattern ^[a-zA-Z0-9_-]{1,128}$'],
    [{ ...ok, tools: [{ name: 'web_search', type: 'web_search_20250305' }] }, 'tools.0.input_schema: Field required'],
    [{ ...ok, tool_choice: { type: 'some' } }, "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"],
    [{ ...ok, tool_choice: { type: 'tool' } }, 'tool_choice.name: Field required'],
    [{ ...ok, metadata: [] }, 'metadata: Input should be a valid dictionary'],
  ])('refuses %j', (body, message) => {
    expect(validateMessagesRequest(body)?.message).toBe(message);
  });
});

describe('decodeMessagesRequest', () => {
  it('maps system, blocks, tool use and results, tools and choice into the canonical request', () => {
    const body = {
      model: 'crm.fast',
      max_tokens: 100,
      system: [{ type: 'text', text: 'Rules.', cache_control: { type: 'ephemeral' } }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Look up 42' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'hmm', signature: 'sig' },
            { type: 'text', text: 'Looking.' },
            { type: 'tool_use', id: 'toolu_1', name: 'lookup', input: { id: 42 } },
            { type: 'tool_use', id: 'toolu_2', name: 'search', input: { q: 'x' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: 'found', cache_control: { type: 'ephemeral' } },
            { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: 'none' }], is_error: true },
            { type: 'text', text: 'Now?' },
          ],
        },
      ],
      tools: [{ name: 'lookup', description: 'Find', input_schema: { type: 'object' }, cache_control: { type: 'ephemeral' } }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      stop_sequences: ['END'],
      temperature: 0.5,
      top_k: 5,
      stream: true,
      metadata: { user_id: 'u1', scenario_id: 's1' },
    };
    expect(validateMessagesRequest(body)).toBeNull();
    expect(decodeMessagesRequest(body)).toEqual({
      model: 'crm.fast',
      max_tokens: 100,
      stream: true,
      temperature: 0.5,
      top_k: 5,
      stop: ['END'],
      user: 'u1',
      metadata: { scenario_id: 's1' },
      tool_choice: 'required',
      parallel_tool_calls: false,
      tools: [{ type: 'function', function: { name: 'lookup', description: 'Find', parameters: { type: 'object' } }, cache_control: { type: 'ephemeral' } }],
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'Rules.', cache_control: { type: 'ephemeral' } }] },
        { role: 'user', content: [{ type: 'text', text: 'Look up 42' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
        {
          role: 'assistant',
          content: 'Looking.',
          tool_calls: [
            { id: 'toolu_1', type: 'function', function: { name: 'lookup', arguments: '{"id":42}' } },
            { id: 'toolu_2', type: 'function', function: { name: 'search', arguments: '{"q":"x"}' } },
          ],
          reasoning_blocks: [{ type: 'thinking', thinking: 'hmm', signature: 'sig' }],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: 'found', cache_control: { type: 'ephemeral' } },
        { role: 'tool', tool_call_id: 'toolu_2', content: 'none', is_error: true },
        { role: 'user', content: 'Now?' },
      ],
    });
  });

  it('maps every tool_choice', () => {
    const d = (tc: unknown) => decodeMessagesRequest({ ...ok, tool_choice: tc }).tool_choice;
    expect(d({ type: 'auto' })).toBe('auto');
    expect(d({ type: 'none' })).toBe('none');
    expect(d({ type: 'any' })).toBe('required');
    expect(d({ type: 'tool', name: 'f' })).toEqual({ type: 'function', function: { name: 'f' } });
  });

  // Anthropic in → Anthropic out must not lose what the client said (cache markers above all).
  it.each([
    ['plain', ok],
    ['system string', { ...ok, system: 'Be brief.' }],
    [
      'cache_control on system, tools, tool results and images',
      {
        model: 'm',
        max_tokens: 50,
        system: [{ type: 'text', text: 'A' }, { type: 'text', text: 'B', cache_control: { type: 'ephemeral', ttl: '1h' } }],
        messages: [
          { role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://x/y.png' }, cache_control: { type: 'ephemeral' } }, { type: 'text', text: 'Q' }] },
          { role: 'assistant', content: [{ type: 'thinking', thinking: 't', signature: 's' }, { type: 'tool_use', id: 't1', name: 'f', input: { a: 1 } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'r', is_error: true, cache_control: { type: 'ephemeral' } }, { type: 'text', text: 'and?' }] },
          { role: 'assistant', content: 'done' },
          { role: 'user', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'doc' } }] },
        ],
        tools: [{ name: 'f', description: 'F', input_schema: { type: 'object', properties: {} }, cache_control: { type: 'ephemeral' } }],
        tool_choice: { type: 'tool', name: 'f', disable_parallel_tool_use: true },
        stop_sequences: ['x'],
        temperature: 0.2,
        top_p: 0.9,
        top_k: 3,
        thinking: { type: 'enabled', budget_tokens: 1024 },
        metadata: { user_id: 'u' },
        stream: true,
      },
    ],
  ])('round-trips %s through the canonical request', (_name, body) => {
    const again = JSON.parse(buildAnthropicBody(decodeMessagesRequest(body as Record<string, unknown>), (body as { model: string }).model));
    expect(again).toEqual(body);
  });
});

describe('embeddings requests', () => {
  it.each([
    [{ input: 'x' }, "Missing required parameter: 'model'."],
    [{ model: 'e' }, "Missing required parameter: 'input'."],
    [{ model: 'e', input: '' }, "'input' must not be empty."],
    [{ model: 'e', input: [] }, "'input' must not be an empty array."],
    [{ model: 'e', input: [{}] }, "'input[0]' must be a non-empty string, a token id or an array of token ids."],
    [{ model: 'e', input: 5 }, "'input' must be a string or an array."],
    [{ model: 'e', input: 'x', encoding_format: 'hex' }, "'encoding_format' must be 'float' or 'base64'."],
    [{ model: 'e', input: 'x', dimensions: 0 }, "'dimensions' must be an integer >= 1."],
    [{ model: 'e', input: 'x', metadata: { a: 1 } }, "'metadata.a' must be a string."],
  ])('refuses %j', (body, message) => {
    expect(validateEmbeddingsRequest(body)?.message).toBe(message);
  });

  it('decodes: the input as text for estimates, the parameters for the provider', () => {
    const b = { model: 'e', input: ['a', 'b'], dimensions: 8, encoding_format: 'base64', user: 'u' };
    expect(validateEmbeddingsRequest(b)).toBeNull();
    expect(decodeEmbeddingsRequest(b)).toEqual({ model: 'e', messages: [{ role: 'user', content: 'a\nb' }], embedding: { input: ['a', 'b'], dimensions: 8, encoding_format: 'base64', user: 'u' } });
  });
});
