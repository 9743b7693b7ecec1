// The Translator seam: one implementation per (ingress API, provider API) pair. A translator builds the
// upstream body from the validated request and turns the provider's answer back into the ingress API's
// wire format, reporting usage as it goes. It does no I/O and keeps no state between requests.
// Pairs (core/providers/registry.ts): openai→openai (openai/chat.ts, the hot path), openai→anthropic
// (anthropic/chat.ts), anthropic→anthropic (anthropic/messages.ts), anthropic→openai
// (openai/messages.ts), embeddings→openai (openai/embeddings.ts).

import type { CanonicalRequest } from '../schema/canonical.js';
import type { OutputCollector } from '../scenarios/scenarios.js';

/** What a translator learned from a response; one per request, filled as bytes arrive. */
export class ResponseInfo {
  inputTokens = 0;
  cachedInputTokens = 0;
  outputTokens = 0;
  /** True once the provider reported usage (otherwise tokens are estimates). */
  usageReported = false;
  finishReason: string | null = null;
  /** Characters of generated text and tool-call arguments seen (for estimates when usage is missing). */
  outputChars = 0;
  /**
   * Stream: the generated text and tool-call arguments seen, still JSON-escaped (pieces of JSON string
   * content concatenate into valid JSON string content). Tokenized only when usage is missing.
   */
  outputText = '';
  /** Stream: the provider's terminal `[DONE]` arrived. */
  sawDone = false;
  /** Stream: the provider sent an error event mid-stream. */
  streamError: string | null = null;
  /**
   * Set by the pipeline when the request's scenario judges the output (JSON schema, tool calls,
   * non-empty): translators then take their parsing path and append the first choice's text and tool
   * calls. Null (the usual case) costs nothing.
   */
  collect: OutputCollector | null = null;

  reset(): void {
    if (this.collect !== null) this.collect.reset();
    this.inputTokens = 0;
    this.cachedInputTokens = 0;
    this.outputTokens = 0;
    this.usageReported = false;
    this.finishReason = null;
    this.outputChars = 0;
    this.outputText = '';
    this.sawDone = false;
    this.streamError = null;
  }
}

/** Decodes one upstream stream into client bytes. Stateful, one per streamed request. */
export interface StreamTranslator {
  /** Upstream bytes in; client bytes out ('' when nothing complete yet). */
  push(chunk: Buffer): string;
  /** Upstream ended; flush what is left. */
  finish(): string;
}

export interface Translator {
  /** Path under the provider's base URL, e.g. `/chat/completions`. */
  readonly path: string;
  /**
   * Upstream request body. `stream` requests always ask the provider for usage. `rawMessages`, when
   * given, is the JSON text of the messages to send, forwarded as is: the client's own bytes, or on the
   * OpenAI → OpenAI path the assembled, canonical prompt (core/prompt). `defaultMaxTokens`: the output
   * ceiling for a request that names none (the route's token budget), for provider APIs that require
   * one (Anthropic). `toolsJson`, when given (null: none), the assembled tools, in place of `req.tools`
   * (OpenAI → OpenAI only).
   */
  buildBody(req: CanonicalRequest, providerModel: string, rawMessages?: string | null, defaultMaxTokens?: number, toolsJson?: string | null): string;
  /**
   * Null when this pair can express `req`; else why not, in one sentence (a feature the provider's API
   * lacks). Checked before a member is chosen: the request falls to a member that can, or fails clearly.
   */
  unsupported(req: CanonicalRequest): string | null;
  /** Non-streaming upstream body → client body (the response's `model` is the alias). Throws on garbage. */
  translateResponse(upstreamBody: Buffer, alias: string, info: ResponseInfo): Buffer | string;
  /** A decoder for one streamed response. */
  createStream(alias: string, clientWantsUsage: boolean, info: ResponseInfo): StreamTranslator;
}
