import { describe, expect, it } from 'vitest';
import { PromptAssembly, assemblePrompt } from '../../../core/prompt/assemble.js';
import { compileTemplate, type PromptTemplate } from "../../../core/prompt/templates.js";
import type { ChatCompletionRequest, ChatMessage, ChatTool } from '../../../core/schema/openai.js';

const tool = (name: string): ChatTool => ({ type: 'function', function: { name, parameters: { type: 'object', properties: {} } } });
const template = compileTemplate('crm', 3, {
  system: 'You summarize CRM notes.',
  tools: [tool('lookup_account')],
  few_shot: [
    { role: 'user', content: 'example note' },
    { role: 'assistant', content: 'example summary' },
  ],
});

function req(messages: ChatMessage[], extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest {
  return { model: 'crm.summary', messages, ...extra };
}
function assemble(r: ChatCompletionRequest, t: PromptTemplate | null = template): PromptAssembly {
  const out = new PromptAssembly();
  expect(assemblePrompt(r, t, out)).toBe(true);
  return out;
}

describe('assemblePrompt', () => {
  it('puts the template system prompt and few-shot messages first, then the client messages', () => {
    const out = assemble(req([{ role: 'user', content: 'the note' }]));
    expect(JSON.parse(out.messagesJson)).toEqual([
      { role: 'system', content: 'You summarize CRM notes.' },
      { role: 'user', content: 'example note' },
      { role: 'assistant', content: 'example summary' },
      { role: 'user', content: 'the note' },
    ]);
  });

  it('puts the template tools first, then the client tools by name', () => {
    const out = assemble(req([{ role: 'user', content: 'x' }], { tools: [tool('zeta'), tool('alpha')] }));
    expect(JSON.parse(out.toolsJson!).map((t: ChatTool) => t.function.name)).toEqual(['lookup_account', 'alpha', 'zeta']);
  });

  it('has no tools when neither the template nor the client has any', () => {
    const out = assemble(req([{ role: 'user', content: 'x' }]), null);
    expect(out.toolsJson).toBeNull();
    expect(out.messagesJson).toBe('[{"role":"user","content":"x"}]');
  });

  it('refuses a client tool the template already defines, naming the tool and the template version', () => {
    const out = new PromptAssembly();
    expect(assemblePrompt(req([{ role: 'user', content: 'x' }], { tools: [tool('lookup_account')] }), template, out)).toBe(false);
    expect(out.error).toContain("Tool 'lookup_account' is defined by the route's prompt template crm@3");
  });

  it('does not let request metadata, user or stream settings into the messages or tools', () => {
    const a = assemble(req([{ role: 'user', content: 'x' }], { metadata: { scenario_id: 's1', owner: 'o1' }, stream: true }));
    const b = assemble(req([{ role: 'user', content: 'x' }], { metadata: { scenario_id: 's2', owner: 'o2' } }));
    expect(a.messagesJson).toBe(b.messagesJson);
    expect(a.toolsJson).toBe(b.toolsJson);
    expect(a.messagesJson).not.toContain('s1');
  });
});

describe('prefix hash (conversation key)', () => {
  const sys: ChatMessage = { role: 'system', content: 'You are the ops agent.' };
  const task: ChatMessage = { role: 'user', content: 'Resolve ticket 42.' };

  it('is the same for every turn of one conversation', () => {
    const t1 = assemble(req([sys, task]), null).prefixHash;
    const t2 = assemble(req([sys, task, { role: 'assistant', content: 'calling get_order' }, { role: 'tool', content: '{}', tool_call_id: 'c1' }]), null).prefixHash;
    const t3 = assemble(req([sys, task, { role: 'assistant', content: 'a' }, { role: 'user', content: 'and then?' }]), null).prefixHash;
    expect(t1).not.toBe(0);
    expect(t2).toBe(t1);
    expect(t3).toBe(t1);
  });

  it('differs between conversations and between template versions', () => {
    const a = assemble(req([task])).prefixHash;
    const b = assemble(req([{ role: 'user', content: 'Resolve ticket 43.' }])).prefixHash;
    const v4 = compileTemplate('crm', 4, { system: 'You summarize CRM notes briefly.' });
    const c = assemble(req([task]), v4).prefixHash;
    expect(new Set([a, b, c]).size).toBe(3);
  });

  it('does not depend on key order, tool order or metadata', () => {
    const a = assemble(req([JSON.parse('{"role":"user","content":"q"}')], { tools: [tool('b'), tool('a')], metadata: { owner: 'x' } }), null).prefixHash;
    const b = assemble(req([JSON.parse('{"content":"q","role":"user"}')], { tools: [tool('a'), tool('b')] }), null).prefixHash;
    expect(a).toBe(b);
  });

  it('is 0 (no prefix to share: least loaded replica) for a lone system message without template or tools', () => {
    expect(assemble(req([sys]), null).prefixHash).toBe(0);
  });

  it('continues from the template hash state: template + client equals the same parts sent inline', () => {
    const plain = compileTemplate('none', 1, {});
    const inline = assemble(req([{ role: 'system', content: 'You summarize CRM notes.' }, { role: 'user', content: 'example note' }, { role: 'assistant', content: 'example summary' }, task], { tools: [tool('lookup_account')] }), plain);
    const templated = assemble(req([task]));
    expect(templated.messagesJson).toBe(inline.messagesJson);
    expect(templated.toolsJson).toBe(inline.toolsJson);
  });
});
