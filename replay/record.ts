// The recorder: real gateway traffic → a traffic trace (the replay's input format).
//
// Source today: the gateway's trace file (`$SWITCHYARD_DATA_DIR/traces.jsonl`, one contract trace record
// per request, written by core/telemetry/trace.ts JsonlTraceSink). The ledger (issue 6) carries the same
// fields (core/ledger UsageRow, same names); to record from it, feed its rows to `recordRows` (any iterable
// of objects with the contract's field names, e.g. `SELECT ts, alias, tenant, scenario_id, input_tokens,
// output_tokens, stream, prompt_version FROM ...`; 0/1 booleans are accepted) — nothing else here depends
// on where the rows come from.
//
// Mapping (contract trace field → trace field):
//   ts (ISO time the request started) → t: seconds since the earliest request recorded
//   alias, tenant, scenario_id, input_tokens, output_tokens, stream → the same
//   alias + prompt_version → prefix_group `ALIAS@vN` (requests of one prompt version share the template's
//   stable prefix; no prompt version, no prefix group)
// Records without an alias (refused before routing: bad key, unknown alias) are skipped and counted.
// Records are sorted by time (the sink writes them when they settle, not when they start).
import { forEachLine, TraceWriter, type TraceRequest } from './trace-format.js';

/** The fields of a contract trace record (or ledger row) the recorder reads. */
export interface GatewayRow {
  ts: string;
  alias: string;
  tenant: string;
  scenario_id: string;
  input_tokens: number;
  output_tokens: number;
  /** SQL ledgers may hand booleans back as 0/1. */
  stream?: boolean | number;
  prompt_version?: number | null;
}

export interface RecordResult {
  requests: TraceRequest[];
  /** Rows without an alias (refused before routing). */
  skipped: number;
}

export class RecordError extends Error {}

function rowProblem(o: Record<string, unknown>): string | null {
  if (typeof o.ts !== 'string' || Number.isNaN(Date.parse(o.ts))) return 'ts: must be an ISO date-time string';
  if (typeof o.alias !== 'string') return 'alias: must be a string';
  if (typeof o.tenant !== 'string') return 'tenant: must be a string';
  if (typeof o.scenario_id !== 'string') return 'scenario_id: must be a string';
  if (typeof o.input_tokens !== 'number' || !(o.input_tokens >= 0)) return 'input_tokens: must be a number >= 0';
  if (typeof o.output_tokens !== 'number' || !(o.output_tokens >= 0)) return 'output_tokens: must be a number >= 0';
  return null;
}

/** Turn gateway rows into trace requests, sorted by start time, `t` from the earliest. */
export function recordRows(rows: Iterable<GatewayRow>): RecordResult {
  const kept: { ms: number; seq: number; row: GatewayRow }[] = [];
  let skipped = 0;
  let seq = 0;
  for (const row of rows) {
    if (row.alias === '') {
      skipped++;
      continue;
    }
    kept.push({ ms: Date.parse(row.ts), seq: seq++, row });
  }
  kept.sort((a, b) => a.ms - b.ms || a.seq - b.seq);
  const t0 = kept.length > 0 ? kept[0]!.ms : 0;
  const requests = kept.map(({ ms, row }) => {
    const r: TraceRequest = {
      t: (ms - t0) / 1000,
      alias: row.alias,
      tenant: row.tenant,
      scenario_id: row.scenario_id,
      input_tokens: Math.round(row.input_tokens),
      output_tokens: Math.round(row.output_tokens),
      stream: row.stream === true || row.stream === 1,
    };
    if (row.prompt_version != null) r.prefix_group = `${row.alias}@v${row.prompt_version}`;
    return r;
  });
  return { requests, skipped };
}

/** Read a gateway trace file (JSON lines of contract trace records). Bad lines: error with the line number. */
export function readGatewayTraceFile(path: string): GatewayRow[] {
  const rows: GatewayRow[] = [];
  forEachLine(path, (text, line) => {
    if (text.trim() === '') return;
    let o: unknown;
    try {
      o = JSON.parse(text);
    } catch (err) {
      throw new RecordError(`${path}:${line}: not valid JSON (${(err as Error).message})`);
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new RecordError(`${path}:${line}: must be a JSON object (a gateway trace record)`);
    const p = rowProblem(o as Record<string, unknown>);
    if (p !== null) throw new RecordError(`${path}:${line}: ${p} (is this a gateway trace file?)`);
    rows.push(o as GatewayRow);
  });
  return rows;
}

/** Record a gateway trace file into a traffic trace file. */
export function recordFile(input: string, output: string): { written: number; skipped: number } {
  const { requests, skipped } = recordRows(readGatewayTraceFile(input));
  const w = new TraceWriter(output);
  for (const r of requests) w.write(r);
  w.close();
  return { written: requests.length, skipped };
}
