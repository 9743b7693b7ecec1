import { describe, expect, it } from 'vitest';
import { classifyLane, LARGE_OUTPUT_TOKENS, LARGE_PROMPT_CHARS } from '../../../core/routing/lane.js';
import type { ChatCompletionRequest, ChatMessage } from '../../../core/schema/openai.js';

const req = (messages: ChatMessage[], extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({ model: 'a', messages, ...extra });
const user = (content: ChatMessage['content']): ChatMessage => ({ role: 'user', content });
const TOOL = { type: 'function' as const, function: { name: 'lookup' } };
const CALL = { id: 'c1', type: 'function' as const, function: { name: 'lookup', arguments: '{}' } };

describe('classifyLane', () => {
  it('the thresholds are the documented ones', () => {
    expect(LARGE_PROMPT_CHARS).toBe(32_000);
    expect(LARGE_OUTPUT_TOKENS).toBe(2_048);
  });

  it('a fixed route lane wins over every rule', () => {
    const agenticReq = req([user('x'.repeat(LARGE_PROMPT_CHARS + 1))], { tools: [TOOL], max_tokens: 100_000 });
    expect(classifyLane('direct_small', agenticReq)).toBe('direct_small');
    expect(classifyLane('direct_large', req([user('hi')]))).toBe('direct_large');
    expect(classifyLane('agentic', req([user('hi')]))).toBe('agentic');
  });

  describe('auto, rule 1: agentic', () => {
    it('tools offered', () => {
      expect(classifyLane('auto', req([user('hi')], { tools: [TOOL] }))).toBe('agentic');
    });

    it('regression: a legacy function-role tool result is agentic too', () => {
      const fn = { role: 'function', name: 'lookup', content: '{"ok":true}' } as unknown as ChatMessage;
      expect(classifyLane('auto', req([user('hi'), fn]))).toBe('agentic');
    });

    it('an empty or null tools list is not agentic', () => {
      expect(classifyLane('auto', req([user('hi')], { tools: [] }))).toBe('direct_small');
      expect(classifyLane('auto', req([user('hi')], { tools: null as unknown as undefined }))).toBe('direct_small');
    });

    it('tool calls in the conversation', () => {
      expect(classifyLane('auto', req([user('hi'), { role: 'assistant', content: null, tool_calls: [CALL] }]))).toBe('agentic');
      expect(classifyLane('auto', req([user('hi'), { role: 'assistant', content: 'ok', tool_calls: [] }]))).toBe('direct_small');
    });

    it('a tool result in the conversation', () => {
      expect(classifyLane('auto', req([user('hi'), { role: 'tool', content: 'r', tool_call_id: 'c1' }]))).toBe('agentic');
    });

    it('agentic beats large', () => {
      expect(classifyLane('auto', req([user('x'.repeat(LARGE_PROMPT_CHARS + 1))], { tools: [TOOL] }))).toBe('agentic');
      expect(classifyLane('auto', req([user('x'.repeat(LARGE_PROMPT_CHARS + 1)), { role: 'tool', content: 'r', tool_call_id: 'c' }]))).toBe(
        'agentic',
      );
    });
  });

  describe('auto, rule 2: direct_large', () => {
    it('prompt over LARGE_PROMPT_CHARS characters (strictly over), summed across messages', () => {
      expect(classifyLane('auto', req([user('x'.repeat(LARGE_PROMPT_CHARS))]))).toBe('direct_small');
      expect(classifyLane('auto', req([user('x'.repeat(LARGE_PROMPT_CHARS + 1))]))).toBe('direct_large');
      const half = 'y'.repeat(LARGE_PROMPT_CHARS / 2);
      expect(classifyLane('auto', req([{ role: 'system', content: half }, user(half)]))).toBe('direct_small');
      expect(classifyLane('auto', req([{ role: 'system', content: half }, user(half + 'z')]))).toBe('direct_large');
    });

    it('counts text content parts and ignores parts without text', () => {
      const half = 'y'.repeat(LARGE_PROMPT_CHARS / 2);
      const parts = [{ type: 'text', text: half }, { type: 'image_url', image_url: { url: 'x'.repeat(100_000) } }, { type: 'text', text: half }];
      expect(classifyLane('auto', req([user(parts)]))).toBe('direct_small');
      expect(classifyLane('auto', req([user([...parts, { type: 'text', text: '!' }])]))).toBe('direct_large');
    });

    it('null content counts nothing', () => {
      expect(classifyLane('auto', req([{ role: 'assistant', content: null }, user('hi')]))).toBe('direct_small');
    });

    it('max output over LARGE_OUTPUT_TOKENS (max_completion_tokens first, then max_tokens)', () => {
      expect(classifyLane('auto', req([user('hi')], { max_tokens: LARGE_OUTPUT_TOKENS }))).toBe('direct_small');
      expect(classifyLane('auto', req([user('hi')], { max_tokens: LARGE_OUTPUT_TOKENS + 1 }))).toBe('direct_large');
      expect(classifyLane('auto', req([user('hi')], { max_completion_tokens: LARGE_OUTPUT_TOKENS + 1 }))).toBe('direct_large');
      // max_completion_tokens takes precedence over max_tokens when both are given.
      expect(classifyLane('auto', req([user('hi')], { max_completion_tokens: 100, max_tokens: 10_000 }))).toBe('direct_small');
      expect(classifyLane('auto', req([user('hi')], { max_completion_tokens: 10_000, max_tokens: 100 }))).toBe('direct_large');
      // null means not given.
      expect(classifyLane('auto', req([user('hi')], { max_completion_tokens: null, max_tokens: 10_000 }))).toBe('direct_large');
    });
  });

  describe('auto, rule 3: direct_small', () => {
    it('otherwise', () => {
      expect(classifyLane('auto', req([user('hi')]))).toBe('direct_small');
      expect(classifyLane('auto', req([{ role: 'system', content: 's' }, user('hi'), { role: 'assistant', content: 'a' }], { max_tokens: 50 }))).toBe(
        'direct_small',
      );
    });
  });
});
