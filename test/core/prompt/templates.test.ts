import { describe, expect, it } from 'vitest';
import { compileTemplate, readTemplateFile } from '../../../core/prompt/templates.js';
import { loadConfigFile, loadConfigFileSync, parseConfigText } from '../../../core/config/load.js';
import { compilePlan } from '../../../core/config/compile.js';
import { testConfigYaml } from '../../helpers/stack.js';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('compileTemplate', () => {
  it('precomputes canonical text of the system prompt, few-shot messages and tools', () => {
    const t = compileTemplate('crm', 2, { system: 'S', few_shot: [{ role: 'user', content: 'u' }], tools: [{ type: 'function', function: { name: 'f' } }] });
    expect(t.label).toBe('crm@2');
    expect(t.messagesJson).toBe('{"role":"system","content":"S"},{"role":"user","content":"u"}');
    expect(t.messageCount).toBe(2);
    expect(t.toolsJson).toBe('{"type":"function","function":{"name":"f"}}');
    expect([...t.toolNames]).toEqual(['f']);
  });

  it('rejects a tool defined twice, a tool without a name, and a few-shot message without text', () => {
    expect(() => compileTemplate('x', 1, { tools: [{ type: 'function', function: { name: 'f' } }, { type: 'function', function: { name: 'f' } }] })).toThrow('tool "f" is defined twice');
    expect(() => compileTemplate('x', 1, { tools: [{ type: 'function', function: {} } as never] })).toThrow('every tool must be');
    expect(() => compileTemplate('x', 1, { few_shot: [{ role: 'user', content: null }] })).toThrow('string content');
    expect(() => compileTemplate('x', 1, { few_shot: [{ role: 'robot', content: 'x' } as never] })).toThrow('needs a role');
  });
});

describe('template files', () => {
  it('reads the fixtures in fixtures/prompts', () => {
    for (const f of ['crm-summary.v1.yaml', 'crm-summary.v2.yaml', 'ops-agent.v1.yaml']) {
      const r = readTemplateFile(join('fixtures/prompts', f));
      expect(r.ok, f).toBe(true);
    }
  });

  it('reports a missing file, bad YAML, an unknown field and wrong types clearly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-prompts-'));
    expect(readTemplateFile(join(dir, 'nope.yaml'))).toMatchObject({ ok: false, message: expect.stringContaining('cannot read template file') });
    writeFileSync(join(dir, 'bad.yaml'), 'system: [unclosed');
    expect(readTemplateFile(join(dir, 'bad.yaml'))).toMatchObject({ ok: false, message: expect.stringContaining('not valid YAML') });
    writeFileSync(join(dir, 'extra.yaml'), 'system: hi\nvariables: []\n');
    expect(readTemplateFile(join(dir, 'extra.yaml'))).toMatchObject({ ok: false, message: expect.stringContaining('unknown field "variables"') });
    writeFileSync(join(dir, 'types.yaml'), 'system: 3\n');
    expect(readTemplateFile(join(dir, 'types.yaml'))).toMatchObject({ ok: false, message: expect.stringContaining('system must be a string') });
    writeFileSync(join(dir, 'list.yaml'), '- a\n');
    expect(readTemplateFile(join(dir, 'list.yaml'))).toMatchObject({ ok: false, message: expect.stringContaining('must be a mapping') });
  });
});

function withPrompts(prompts: string, routePrompt = '{ template: crm-summary, version: 2 }'): string {
  return testConfigYaml().replace('prompt: null', `prompt: ${routePrompt}`) + `prompts:\n${prompts}\n`;
}

describe('prompts in config', () => {
  it('loads template files relative to the config directory and compiles them into the route', () => {
    const yaml = withPrompts(`  - name: crm-summary
    versions:
      - { version: 1, file: ../prompts/crm-summary.v1.yaml }
      - { version: 2, file: ../prompts/crm-summary.v2.yaml }`);
    const r = parseConfigText(yaml, 'test', 'fixtures/config');
    if (!r.ok) throw new Error(r.problems.join('\n'));
    const plan = compilePlan(r.config, { env: {}, providerBaseUrls: new Map([['sim', 'http://127.0.0.1:9/v1']]) });
    const route = plan.routes[0]!;
    expect(route.template!.label).toBe('crm-summary@2');
    expect(route.template!.toolNames.has('lookup_account')).toBe(true);
    expect(route.template!.messagesJson.startsWith('{"role":"system","content":"You summarize CRM notes')).toBe(true);
  });

  it('a config file finds its template files relative to its own directory (sync and async loaders)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-config-'));
    mkdirSync(join(dir, 'prompts'));
    writeFileSync(join(dir, 'prompts', 'crm.yaml'), 'system: From the file.\n');
    writeFileSync(join(dir, 'gateway.yaml'), withPrompts(`  - name: crm-summary\n    versions: [{ version: 2, file: prompts/crm.yaml }]`));
    for (const r of [loadConfigFileSync(join(dir, 'gateway.yaml')), await loadConfigFile(join(dir, 'gateway.yaml'))]) {
      if (!r.ok) throw new Error(r.problems.join('\n'));
      expect(r.config.prompts[0]!.versions![0]!.system).toBe('From the file.');
    }
  });

  it('accepts inline template parts', () => {
    const r = parseConfigText(withPrompts(`  - name: crm-summary
    versions:
      - version: 2
        system: Be brief.
        few_shot: [{ role: user, content: a }, { role: assistant, content: b }]`), 'test');
    expect(r.ok).toBe(true);
  });

  it('reports unreadable files, file and inline together, duplicate versions and bad templates, by config path', () => {
    const r = parseConfigText(withPrompts(`  - name: crm-summary
    versions:
      - { version: 1, file: ../prompts/missing.yaml }
      - { version: 2, file: ../prompts/crm-summary.v2.yaml, system: also inline }
      - { version: 2, system: dup }
      - version: 3
        tools: [{ type: function, function: { name: f } }, { type: function, function: { name: f } }]`, '{ template: crm-summary, version: 3 }'), 'test', 'fixtures/config');
    expect(r.ok).toBe(false);
    const problems = r.ok ? [] : r.problems.join('\n');
    expect(problems).toContain('prompts.0.versions.0.file: cannot read template file');
    expect(problems).toContain('prompts.0.versions.1.file: give the template in a file or inline');
    expect(problems).toContain('prompts.0.versions.2.version: duplicate version 2');
    expect(problems).toContain('prompts.0.versions.3.version: template crm-summary@3: tool "f" is defined twice');
  });

  it('still reports a route naming a version the prompt does not have', () => {
    const r = parseConfigText(withPrompts(`  - { name: crm-summary, versions: [{ version: 1, system: x }] }`), 'test');
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.problems.join('\n')).toContain('prompt "crm-summary" has no version 2');
  });
});
