// Translator: OpenAI embeddings in → OpenAI-compatible provider out. The body is the client's embedding
// parameters with the provider's model; the answer passes through with `model` set to the alias and its
// usage read. Embeddings never stream.

import type { CanonicalRequest } from '../../schema/canonical.js';
import type { ResponseInfo, StreamTranslator, Translator } from '../translator.js';

export class OpenAIEmbeddingsTranslator implements Translator {
  readonly path = '/embeddings';

  buildBody(req: CanonicalRequest, providerModel: string): string {
    const e = req.embedding!;
    let s = '{"model":' + JSON.stringify(providerModel) + ',"input":' + JSON.stringify(e.input);
    if (e.encoding_format !== undefined) s += ',"encoding_format":"' + e.encoding_format + '"';
    if (e.dimensions !== undefined) s += ',"dimensions":' + e.dimensions;
    if (e.user !== undefined) s += ',"user":' + JSON.stringify(e.user);
    return s + '}';
  }

  unsupported(req: CanonicalRequest): string | null {
    return req.embedding === undefined ? 'chat requests on the embeddings translator' : null;
  }

  translateResponse(upstream: Buffer, alias: string, info: ResponseInfo): string {
    const body = JSON.parse(upstream.toString('utf8')) as Record<string, unknown>;
    if (body === null || typeof body !== 'object' || !Array.isArray(body.data)) throw new Error('not an embeddings list');
    const u = body.usage as { prompt_tokens?: unknown } | null | undefined;
    if (u != null && typeof u.prompt_tokens === 'number') {
      info.usageReported = true;
      info.inputTokens = u.prompt_tokens;
      info.outputTokens = 0;
      info.cachedInputTokens = 0;
    }
    info.finishReason = 'stop';
    body.model = alias;
    return JSON.stringify(body);
  }

  createStream(): StreamTranslator {
    throw new Error('embeddings do not stream');
  }
}
