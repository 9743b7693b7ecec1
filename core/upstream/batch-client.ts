// A client of the OpenAI Batch API (files + batches): upload a JSON-lines file of chat requests, create
// a batch, poll it, read its output and error files. Used by batch pools; off the hot path (one batch
// carries many requests), so it uses undici's plain request API.
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import type { ProviderContext } from './provider.js';

export interface BatchLine {
  custom_id: string;
  /** The upstream chat request body (already translated for the provider). */
  body: string;
}

export interface BatchResult {
  custom_id: string;
  /** HTTP status of the request inside the batch. */
  status: number;
  /** The chat completion (status 200) or the error body, as JSON text. */
  body: string;
}

export interface BatchStatusView {
  id: string;
  status: string;
  output_file_id: string | null;
  error_file_id: string | null;
}

export class BatchApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'BatchApiError';
  }
}

async function call(provider: ProviderContext, method: 'GET' | 'POST', path: string, body?: Buffer | string, contentType?: string): Promise<string> {
  const headers: Record<string, string> = {};
  if (provider.apiKey !== '') headers.authorization = 'Bearer ' + provider.apiKey;
  if (contentType !== undefined) headers['content-type'] = contentType;
  const r = await request(provider.origin + provider.basePath + path, {
    method,
    headers,
    body,
    headersTimeout: provider.timeoutMs,
    bodyTimeout: provider.timeoutMs,
  });
  const text = await r.body.text();
  if (r.statusCode >= 300) throw new BatchApiError(`batch API ${method} ${path}: HTTP ${r.statusCode}`, r.statusCode);
  return text;
}

/** Upload the requests as a JSON-lines batch input file; its file id. */
export async function uploadBatchFile(provider: ProviderContext, lines: readonly BatchLine[]): Promise<string> {
  let jsonl = '';
  for (const l of lines) jsonl += '{"custom_id":' + JSON.stringify(l.custom_id) + ',"method":"POST","url":"/v1/chat/completions","body":' + l.body + '}\n';
  const boundary = '----switchyard' + randomBytes(12).toString('hex');
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="batch.jsonl"\r\nContent-Type: application/jsonl\r\n\r\n`),
    Buffer.from(jsonl),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const text = await call(provider, 'POST', '/files', body, `multipart/form-data; boundary=${boundary}`);
  return (JSON.parse(text) as { id: string }).id;
}

export async function createBatch(provider: ProviderContext, inputFileId: string): Promise<BatchStatusView> {
  const text = await call(provider, 'POST', '/batches', JSON.stringify({ input_file_id: inputFileId, endpoint: '/v1/chat/completions', completion_window: '24h' }), 'application/json');
  return view(text);
}

export async function getBatch(provider: ProviderContext, id: string): Promise<BatchStatusView> {
  return view(await call(provider, 'GET', `/batches/${encodeURIComponent(id)}`));
}

/** The result lines of an output or error file. */
export async function readResults(provider: ProviderContext, fileId: string): Promise<BatchResult[]> {
  const text = await call(provider, 'GET', `/files/${encodeURIComponent(fileId)}/content`);
  const out: BatchResult[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const r = JSON.parse(line) as { custom_id: string; response?: { status_code: number; body: unknown } | null; error?: unknown };
    if (r.response != null) out.push({ custom_id: r.custom_id, status: r.response.status_code, body: JSON.stringify(r.response.body) });
    else out.push({ custom_id: r.custom_id, status: 500, body: JSON.stringify({ error: r.error ?? { message: 'failed in batch' } }) });
  }
  return out;
}

function view(text: string): BatchStatusView {
  const b = JSON.parse(text) as { id: string; status: string; output_file_id?: string | null; error_file_id?: string | null };
  return { id: b.id, status: b.status, output_file_id: b.output_file_id ?? null, error_file_id: b.error_file_id ?? null };
}
