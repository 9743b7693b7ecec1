// The Translator contract, run against every (ingress API, provider API) chat pair through the same cases
// (ARCHITECTURE.md, "Pluggable parts"). Inputs are each pair's golden transcripts (fixtures/transcripts/):
// a client request, a provider answer and a provider stream.
//
// Usage (one call per pair): translatorContract('openai-anthropic', { ... }).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Decoded, decodeIngress } from '../../core/pipeline/ingress.js';
import { translatorFor } from '../../core/providers/registry.js';
import { ResponseInfo } from '../../core/providers/translator.js';
import { memberText } from '../../core/schema/json-span.js';
import type { CanonicalRequest, IngressApi, ProviderApi } from '../../core/schema/canonical.js';

const ROOT = join(import.meta.dirname, '../../fixtures/transcripts');

export interface PairFixture {
  /** A transcript directory whose upstream answer is a whole body (request.json, upstream-response.json). */
  answerCase: string;
  /** A transcript directory whose upstream answer is a stream (upstream-response.sse). */
  streamCase: string;
}

function load(pair: string, c: string, ingress: IngressApi): { req: CanonicalRequest; raw: string | null } {
  const text = readFileSync(join(ROOT, pair, c, 'request.json'), 'utf8').trimEnd();
  const d = new Decoded();
  decodeIngress(ingress, JSON.parse(text), d);
  if (d.body === null) throw new Error(`${pair}/${c}: ${d.problem?.message}`);
  return { req: d.body, raw: memberText(text, 'messages') };
}

export function translatorContract(pair: string, fx: PairFixture): void {
  const [ingress, api] = pair.split('-') as [IngressApi, ProviderApi];
  const t = translatorFor(ingress, api);
  const ALIAS = 'contract.alias';

  describe(`Translator contract: ${pair}`, () => {
    it('builds a JSON body for the provider model, byte-stable, without the gateway metadata', () => {
      for (const c of [fx.answerCase, fx.streamCase]) {
        const { req, raw } = load(pair, c, ingress);
        expect(t.unsupported(req)).toBeNull();
        const withMeta = { ...req, metadata: { scenario_id: 'secret-scenario', owner: 'secret-owner' } };
        const body = t.buildBody(withMeta, 'provider-model', raw, 256);
        expect(t.buildBody(withMeta, 'provider-model', raw, 256)).toBe(body);
        const parsed = JSON.parse(body);
        expect(parsed.model).toBe('provider-model');
        expect(body).not.toContain('secret-');
        expect(parsed.stream === true).toBe(req.stream === true);
      }
    });

    it('translates an answer: the alias as model, usage reported, finish reason known', () => {
      const info = new ResponseInfo();
      const out = JSON.parse(String(t.translateResponse(readFileSync(join(ROOT, pair, fx.answerCase, 'upstream-response.json')), ALIAS, info)));
      expect(out.model).toBe(ALIAS);
      expect(info.usageReported).toBe(true);
      expect(info.inputTokens).toBeGreaterThan(0);
      expect(info.cachedInputTokens).toBeLessThanOrEqual(info.inputTokens);
      expect(info.finishReason).not.toBeNull();
    });

    it('throws on an answer that is not one (the pipeline answers 502 upstream_bad_response)', () => {
      for (const garbage of ['', 'not json', '[]', '{"unrelated":true}', 'null']) {
        expect(() => t.translateResponse(Buffer.from(garbage), ALIAS, new ResponseInfo()), garbage).toThrow();
      }
    });

    it('translates a stream the same whatever the chunk boundaries, ends it, reports usage', () => {
      const upstream = readFileSync(join(ROOT, pair, fx.streamCase, 'upstream-response.sse'));
      const whole = new ResponseInfo();
      const s = t.createStream(ALIAS, true, whole);
      const out = (s.push(upstream) + s.finish()).replace(/"created":\d+/g, '"created":0');
      expect(whole.sawDone).toBe(true);
      expect(whole.streamError).toBeNull();
      expect(whole.usageReported).toBe(true);
      expect(out).toContain(`"model":"${ALIAS}"`);
      for (const step of [1, 2, 5, 13, 100]) {
        const info = new ResponseInfo();
        const p = t.createStream(ALIAS, true, info);
        let o = '';
        for (let i = 0; i < upstream.length; i += step) o += p.push(upstream.subarray(i, i + step));
        o += p.finish();
        expect(o.replace(/"created":\d+/g, '"created":0'), `pieces of ${step} bytes`).toBe(out);
        expect(info).toEqual(whole);
      }
    });

    it('does not end a stream the provider cut (the pipeline sends a terminal error event)', () => {
      const upstream = readFileSync(join(ROOT, pair, fx.streamCase, 'upstream-response.sse'));
      const info = new ResponseInfo();
      const s = t.createStream(ALIAS, true, info);
      s.push(upstream.subarray(0, upstream.length >> 1));
      s.finish();
      expect(info.sawDone).toBe(false);
    });
  });
}
