// Golden transcripts (fixtures/transcripts/README.md): for each (ingress API, provider API) pair, the
// client's request → the bytes sent upstream, and the provider's answer → the bytes the client gets,
// with the usage the translator reported. Any change of these bytes fails here.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Decoded, decodeIngress } from '../../../core/pipeline/ingress.js';
import { translatorFor } from '../../../core/providers/registry.js';
import { ResponseInfo } from '../../../core/providers/translator.js';
import { memberText } from '../../../core/schema/json-span.js';
import { PromptAssembly, assemblePrompt } from '../../../core/prompt/assemble.js';
import type { IngressApi, ProviderApi } from '../../../core/schema/canonical.js';

const ROOT = join(import.meta.dirname, '../../../fixtures/transcripts');
const UPDATE = process.env.UPDATE_TRANSCRIPTS === '1';
const MODELS: Record<ProviderApi, string> = { openai: 'gpt-4o-mini', anthropic: 'claude-haiku-4-5' };

function normalize(s: string): string {
  return s.replace(/"created":\d+/g, '"created":0');
}

function golden(path: string, actual: string): void {
  if (UPDATE || !existsSync(path)) {
    if (!UPDATE) throw new Error(`missing golden file ${path} (run with UPDATE_TRANSCRIPTS=1)`);
    writeFileSync(path, actual);
    return;
  }
  expect(actual, path).toBe(readFileSync(path, 'utf8'));
}

const pairs = readdirSync(ROOT, { withFileTypes: true }).filter((d) => d.isDirectory());

it('has a transcript for every pair the gateway serves', () => {
  expect(pairs.map((d) => d.name).sort()).toEqual(['anthropic-anthropic', 'anthropic-openai', 'embeddings-openai', 'openai-anthropic', 'openai-openai']);
});

for (const pair of pairs) {
  const [ingress, api] = pair.name.split('-') as [IngressApi, ProviderApi];
  describe(pair.name, () => {
    for (const c of readdirSync(join(ROOT, pair.name))) {
      it(c, () => {
        const dir = join(ROOT, pair.name, c);
        const text = readFileSync(join(dir, 'request.json'), 'utf8').trimEnd();
        const decoded = new Decoded();
        decodeIngress(ingress, JSON.parse(text), decoded);
        expect(decoded.problem).toBeNull();
        const req = decoded.body!;
        const t = translatorFor(ingress, api);
        expect(t.unsupported(req)).toBeNull();
        // As the pipeline does (ChatCall.upstreamBody): OpenAI → OpenAI sends the assembled canonical prompt
        // (no template here); other pairs get the client's JSON text of `messages` (translators between
        // different APIs ignore it).
        let upstream: string;
        if (ingress === 'openai' && api === 'openai') {
          const p = new PromptAssembly();
          expect(assemblePrompt(req, null, p)).toBe(true);
          upstream = t.buildBody(req, MODELS[api], p.messagesJson, 256, p.toolsJson);
        } else upstream = t.buildBody(req, MODELS[api], ingress !== 'embeddings' ? memberText(text, 'messages') : null);
        golden(join(dir, 'upstream-request.json'), upstream + '\n');

        const info = new ResponseInfo();
        const stream = req.stream === true;
        const answer = readFileSync(join(dir, stream ? 'upstream-response.sse' : 'upstream-response.json'));
        let out: string;
        if (stream) {
          const s = t.createStream(req.model, req.stream_options?.include_usage === true, info);
          out = s.push(answer) + s.finish();
        } else {
          out = String(t.translateResponse(Buffer.from(answer.toString('utf8').trimEnd()), req.model, info)) + '\n';
        }
        golden(join(dir, stream ? 'response.sse' : 'response.json'), normalize(out));
        const usage = { input_tokens: info.inputTokens, cached_input_tokens: info.cachedInputTokens, output_tokens: info.outputTokens, usage_reported: info.usageReported, finish_reason: info.finishReason, stream_done: stream ? info.sawDone : null, stream_error: info.streamError };
        golden(join(dir, 'usage.json'), JSON.stringify(usage, null, 2) + '\n');
      });
    }
  });
}
