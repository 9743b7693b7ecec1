// Prompt templates with versions: what a route's `prompt: { template, version }` names. A template
// version holds the stable parts of a prompt — system prompt, tool definitions, few-shot messages — and
// is compiled once, at config load, into canonical JSON text (canonical.ts) and the prefix hash state
// after those parts, so assembling a request (assemble.ts) is string concatenation plus a short hash.
// Template text lives in the config (`prompts[].versions[]`) or in files next to it
// (`fixtures/prompts/`), read by the config loader through readTemplateFile.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { ChatMessage, ChatTool } from '../schema/openai.js';
import { canonicalMessage, canonicalToolItems } from './canonical.js';
import { FNV_OFFSET, fnvFeed, fnvBoundary } from './prefix.js';

/** The stable parts of one template version, as written in config or a template file. */
export interface TemplateParts {
  system?: string | undefined;
  tools?: ChatTool[] | undefined;
  few_shot?: ChatMessage[] | undefined;
}

/** One compiled template version. Frozen; shared by every request of every route naming it. */
export interface PromptTemplate {
  readonly name: string;
  readonly version: number;
  /** `name@version`, for errors and logs. */
  readonly label: string;
  /** Canonical JSON of the system message then the few-shot messages, comma-joined, no brackets ('' for none). */
  readonly messagesJson: string;
  /** How many messages messagesJson holds. */
  readonly messageCount: number;
  /** Canonical JSON of the template's tools, comma-joined, no brackets ('' for none). */
  readonly toolsJson: string;
  readonly toolNames: ReadonlySet<string>;
  /** Characters of the template's text (system, few-shot, tools), for token estimates. */
  readonly chars: number;
  /** Prefix-hash state after the template's tools and messages (prefix.ts). */
  readonly hashState: number;
  /** Upper bound of the template's prompt tokens (UTF-8 bytes ÷ 3 + 4 per message), for admission. */
  readonly estTokens: number;
}

/** Compile one template version. Throws an Error naming the problem (the loader reports it against the config path). */
export function compileTemplate(name: string, version: number, parts: TemplateParts): PromptTemplate {
  const tools = parts.tools ?? [];
  const names = new Set<string>();
  for (const t of tools) {
    if (t == null || t.type !== 'function' || t.function == null || typeof t.function.name !== 'string' || t.function.name === '') {
      throw new Error('every tool must be {type: function, function: {name, ...}}');
    }
    if (names.has(t.function.name)) throw new Error(`tool "${t.function.name}" is defined twice`);
    names.add(t.function.name);
  }
  const messages: ChatMessage[] = [];
  if (parts.system !== undefined && parts.system !== '') messages.push({ role: 'system', content: parts.system });
  for (const m of parts.few_shot ?? []) {
    if (m == null || typeof m.role !== 'string' || !['system', 'developer', 'user', 'assistant', 'tool'].includes(m.role)) {
      throw new Error('every few_shot message needs a role (system, developer, user, assistant or tool)');
    }
    if (typeof m.content !== 'string') throw new Error('every few_shot message needs string content');
    messages.push(m);
  }
  const toolsJson = canonicalToolItems(tools);
  let messagesJson = '';
  let h = fnvFeed(FNV_OFFSET, toolsJson);
  let chars = toolsJson.length;
  let bytes = Buffer.byteLength(toolsJson);
  for (let i = 0; i < messages.length; i++) {
    const text = canonicalMessage(messages[i]!);
    messagesJson += (i > 0 ? ',' : '') + text;
    h = fnvBoundary(fnvFeed(h, text));
    chars += messages[i]!.content!.length;
    bytes += Buffer.byteLength(messages[i]!.content as string);
  }
  return Object.freeze({
    name,
    version,
    label: `${name}@${version}`,
    messagesJson,
    messageCount: messages.length,
    toolsJson,
    toolNames: names,
    chars,
    hashState: h,
    estTokens: Math.ceil(bytes / 3) + 4 * messages.length,
  });
}

export type TemplateFileResult = { ok: true; parts: TemplateParts } | { ok: false; message: string };

/** Read a template file (YAML or JSON: `system`, `tools`, `few_shot`). Boot time only (sync I/O). */
export function readTemplateFile(path: string): TemplateFileResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { ok: false, message: `cannot read template file ${path}: ${(err as Error).message}` };
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    return { ok: false, message: `template file ${path} is not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}` };
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { ok: false, message: `template file ${path} must be a mapping with system, tools, few_shot` };
  }
  const o = data as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k !== 'system' && k !== 'tools' && k !== 'few_shot') return { ok: false, message: `template file ${path}: unknown field "${k}" (allowed: system, tools, few_shot)` };
  }
  if (o.system !== undefined && typeof o.system !== 'string') return { ok: false, message: `template file ${path}: system must be a string` };
  if (o.tools !== undefined && !Array.isArray(o.tools)) return { ok: false, message: `template file ${path}: tools must be a list` };
  if (o.few_shot !== undefined && !Array.isArray(o.few_shot)) return { ok: false, message: `template file ${path}: few_shot must be a list` };
  return { ok: true, parts: { system: o.system as string | undefined, tools: o.tools as ChatTool[] | undefined, few_shot: o.few_shot as ChatMessage[] | undefined } };
}
