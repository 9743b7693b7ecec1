// The translator of each (ingress API, provider API) pair: built once, stateless, shared by every request.
// A pair the gateway cannot serve (embeddings on an Anthropic provider) has a translator that says so
// before the call, so the request falls to a member that can or fails clearly.

import type { CanonicalRequest, IngressApi, ProviderApi } from '../schema/canonical.js';
import type { StreamTranslator, Translator } from './translator.js';
import { OpenAIChatTranslator } from './openai/chat.js';
import { OpenAIMessagesTranslator } from './openai/messages.js';
import { OpenAIEmbeddingsTranslator } from './openai/embeddings.js';
import { AnthropicChatTranslator } from './anthropic/chat.js';
import { AnthropicMessagesTranslator } from './anthropic/messages.js';

class UnsupportedPair implements Translator {
  readonly path = '';
  constructor(private readonly why: string) {}
  unsupported(_req: CanonicalRequest): string {
    return this.why;
  }
  buildBody(): string {
    throw new Error(this.why);
  }
  translateResponse(): string {
    throw new Error(this.why);
  }
  createStream(): StreamTranslator {
    throw new Error(this.why);
  }
}

export interface TranslatorTable {
  readonly openai: { readonly openai: Translator; readonly anthropic: Translator };
  readonly anthropic: { readonly openai: Translator; readonly anthropic: Translator };
  readonly embeddings: { readonly openai: Translator; readonly anthropic: Translator };
}

export const TRANSLATORS: TranslatorTable = Object.freeze({
  openai: Object.freeze({ openai: new OpenAIChatTranslator(), anthropic: new AnthropicChatTranslator() }),
  anthropic: Object.freeze({ openai: new OpenAIMessagesTranslator(), anthropic: new AnthropicMessagesTranslator() }),
  embeddings: Object.freeze({ openai: new OpenAIEmbeddingsTranslator(), anthropic: new UnsupportedPair('embeddings (the Anthropic API has no embeddings endpoint)') }),
});

export function translatorFor(ingress: IngressApi, api: ProviderApi): Translator {
  return TRANSLATORS[ingress][api];
}
