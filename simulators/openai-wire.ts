// The OpenAI wire format as the simulators (maas.ts, batch.ts, gpu-pool.ts) write it: usage JSON, error
// envelopes and the canned errors, chat.completion bodies and chat.completion.chunk SSE lines.
// Imports nothing. Responses are assembled from strings, not objects; constant pieces are built once,
// at module load.

// ---------------------------------------------------------------------------------------------------
// Usage and errors

const USAGE_DETAILS_TAIL =
  ',"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}';

/** A chat completion's `usage` object. */
export function usageJson(prompt: number, completion: number, cached: number): string {
  return (
    '{"prompt_tokens":' + prompt +
    ',"completion_tokens":' + completion +
    ',"total_tokens":' + (prompt + completion) +
    ',"prompt_tokens_details":{"cached_tokens":' + cached + ',"audio_tokens":0}' +
    USAGE_DETAILS_TAIL
  );
}

/** OpenAI's error envelope: {"error":{"message","type","param","code"}}. */
export function errorJson(message: string, type: string, param: string | null, code: string | null): string {
  return JSON.stringify({ error: { message, type, param, code } });
}

/** An error answer: HTTP status line and JSON body. */
export class HttpError {
  constructor(
    readonly status: string,
    readonly body: string,
  ) {}
}

/** A 400 `invalid_request_error`. */
export function badRequest(message: string, param: string | null = null, code: string | null = null): HttpError {
  return new HttpError('400 Bad Request', errorJson(message, 'invalid_request_error', param, code));
}

export const ERR_UNAUTHORIZED = errorJson(
  "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
  'invalid_request_error', null, null,
);
export const ERR_BAD_JSON_MESSAGE =
  'We could not parse the JSON body of your request. The API expects a JSON payload, but what was sent was not valid JSON.';
export const ERR_BAD_JSON = errorJson(ERR_BAD_JSON_MESSAGE, 'invalid_request_error', null, null);
export const ERR_TOO_LARGE = errorJson('Request body too large.', 'invalid_request_error', null, 'request_too_large');
/** OpenAI's own 500, 503 and 429 bodies (the MaaS and batch simulators). */
export const ERR_SERVER = errorJson(
  'The server had an error while processing your request. Sorry about that!',
  'server_error', null, null,
);
export const ERR_UNAVAILABLE = errorJson('The server is overloaded or not ready yet.', 'server_error', null, null);
export const ERR_RATE_LIMITED = errorJson(
  'Rate limit reached for requests (simulated). Please try again later.',
  'requests', 'requests', 'rate_limit_exceeded',
);
export const HEALTH_BODY = '{"status":"ok"}';

/** An `Authorization: Bearer <something>` header value. */
export const BEARER_RE = /^bearer\s+\S/i;

// ---------------------------------------------------------------------------------------------------
// Chat completions

/** The system_fingerprint of the MaaS simulator (and of the batch simulator, which answers as it does). */
export const SIM_FINGERPRINT = 'fp_switchyard_sim';

/** An assistant message with text content. */
export function textMessageJson(content: string): string {
  return '{"role":"assistant","content":' + JSON.stringify(content) + ',"refusal":null,"annotations":[]}';
}

/** An assistant message holding one tool call (`nameJson`: the function name, JSON-encoded). */
export function toolCallMessageJson(callId: string, nameJson: string, args: string): string {
  return (
    '{"role":"assistant","content":null,"tool_calls":[{"id":"' + callId +
    '","type":"function","function":{"name":' + nameJson +
    ',"arguments":' + JSON.stringify(args) +
    '}}],"refusal":null,"annotations":[]}'
  );
}

/** A whole `chat.completion` with one choice (`modelJson`: the model, JSON-encoded). */
export function completionJson(
  id: string,
  created: number,
  modelJson: string,
  message: string,
  finish: string,
  usage: string,
  fingerprint: string,
): string {
  return (
    '{"id":"' + id + '","object":"chat.completion","created":' + created +
    ',"model":' + modelJson +
    ',"choices":[{"index":0,"message":' + message + ',"logprobs":null,"finish_reason":"' + finish +
    '"}],"usage":' + usage +
    ',"service_tier":"default","system_fingerprint":"' + fingerprint + '"}'
  );
}

// Streaming: every chunk of a choice is prefix + delta + suffix.

/** The SSE line start of a stream's choice chunks, up to the delta. */
export function chunkPrefix(id: string, created: number, modelJson: string, fingerprint: string): string {
  return (
    'data: {"id":"' + id + '","object":"chat.completion.chunk","created":' + created +
    ',"model":' + modelJson +
    ',"service_tier":"default","system_fingerprint":"' + fingerprint + '","choices":[{"index":0,"delta":'
  );
}

const CHUNK_SUFFIX = ',"logprobs":null,"finish_reason":null}]}\n\n';
const CHUNK_SUFFIX_USAGE = ',"logprobs":null,"finish_reason":null}],"usage":null}\n\n';

/** The SSE line end of a choice chunk (with `"usage":null` when the client asked for usage). */
export function chunkSuffix(includeUsage: boolean): string {
  return includeUsage ? CHUNK_SUFFIX_USAGE : CHUNK_SUFFIX;
}

/** The first delta of a text answer. */
export const ROLE_DELTA = '{"role":"assistant","content":"","refusal":null}';

/** One text piece as a chunk. */
export function contentChunk(prefix: string, piece: string, suffix: string): string {
  return prefix + '{"content":' + JSON.stringify(piece) + '}' + suffix;
}

/** The chunk with the empty delta and the finish reason. */
export function finishChunk(prefix: string, finish: string, includeUsage: boolean): string {
  return prefix + '{},"logprobs":null,"finish_reason":"' + finish + '"}]' + (includeUsage ? ',"usage":null}\n\n' : '}\n\n');
}

/** The usage chunk sent after the finish chunk when `stream_options.include_usage` is set. */
export function usageChunk(id: string, created: number, modelJson: string, fingerprint: string, usage: string): string {
  return (
    'data: {"id":"' + id + '","object":"chat.completion.chunk","created":' + created +
    ',"model":' + modelJson + ',"service_tier":"default","system_fingerprint":"' + fingerprint +
    '","choices":[],"usage":' + usage + '}\n\n'
  );
}

export const DONE_CHUNK = 'data: [DONE]\n\n';
