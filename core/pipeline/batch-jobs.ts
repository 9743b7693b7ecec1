// Batch pools: requests to a route whose pool is `batch` are answered at once with a job id (202), then
// gathered per pool member for a short window and sent as one OpenAI-style batch (file upload, batch
// create, poll, read results). The client polls GET /v1/batch_jobs/{id} for the result.
//
// Jobs live in the memory of the gateway thread that took them (with `--threads N`, a poll that reaches
// another thread is relayed through the main thread: Gateway's `jobRelay`); finished jobs are kept for
// JOB_RETENTION_MS; a restart loses jobs not yet finished.
import type { PoolMember } from '../routing/types.js';
import { createBatch, getBatch, readResults, uploadBatchFile, type BatchLine, type BatchResult } from '../upstream/batch-client.js';

export type JobStatus = 'queued' | 'in_progress' | 'completed' | 'failed';

export interface BatchJob {
  readonly id: string;
  readonly tenant: string;
  readonly model: string;
  readonly createdAt: number;
  status: JobStatus;
  /** The client's chat completion (status completed), as JSON text. */
  response: string | null;
  error: { code: string; message: string } | null;
  finishedAt: number;
}

/** The request behind a job: supplies its upstream body, is told the outcome (and settles then). */
export interface BatchJobOwner {
  readonly job: BatchJob;
  batchBody(): string;
  batchDone(result: BatchResult | null, failure: string | null): void;
}

export const BATCH_WINDOW_MS = 100;
export const BATCH_MAX_REQUESTS = 1000;
export const BATCH_POLL_MS = 100;
export const JOB_RETENTION_MS = 3_600_000;

interface Queue {
  pending: BatchJobOwner[];
  timer: NodeJS.Timeout | null;
}

export class BatchJobs {
  private readonly jobs = new Map<string, BatchJob>();
  private readonly queues = new Map<PoolMember, Queue>();
  private closed = false;

  constructor(
    private readonly windowMs = BATCH_WINDOW_MS,
    private readonly pollMs = BATCH_POLL_MS,
  ) {}

  get(id: string): BatchJob | undefined {
    return this.jobs.get(id);
  }

  /** Queue a request for the next batch of `member`. */
  enqueue(member: PoolMember, owner: BatchJobOwner): void {
    this.sweep();
    this.jobs.set(owner.job.id, owner.job);
    let q = this.queues.get(member);
    if (q === undefined) {
      q = { pending: [], timer: null };
      this.queues.set(member, q);
    }
    q.pending.push(owner);
    if (q.pending.length >= BATCH_MAX_REQUESTS) this.flush(member, q);
    else if (q.timer === null) q.timer = setTimeout(() => this.flush(member, q), this.windowMs);
  }

  private flush(member: PoolMember, q: Queue): void {
    if (q.timer !== null) clearTimeout(q.timer);
    q.timer = null;
    const owners = q.pending;
    q.pending = [];
    if (owners.length > 0) void this.run(member, owners);
  }

  private async run(member: PoolMember, owners: BatchJobOwner[]): Promise<void> {
    const provider = member.provider;
    const byId = new Map<string, BatchJobOwner>();
    const lines: BatchLine[] = [];
    for (const o of owners) {
      byId.set(o.job.id, o);
      lines.push({ custom_id: o.job.id, body: o.batchBody() });
    }
    try {
      const fileId = await uploadBatchFile(provider, lines);
      let batch = await createBatch(provider, fileId);
      for (const o of owners) o.job.status = 'in_progress';
      while (batch.status !== 'completed' && batch.status !== 'failed' && batch.status !== 'expired' && batch.status !== 'cancelled') {
        if (this.closed) throw new Error('gateway closing');
        await new Promise((r) => setTimeout(r, this.pollMs));
        batch = await getBatch(provider, batch.id);
      }
      const results: BatchResult[] = [];
      if (batch.output_file_id !== null) results.push(...(await readResults(provider, batch.output_file_id)));
      if (batch.error_file_id !== null) results.push(...(await readResults(provider, batch.error_file_id)));
      for (const r of results) {
        const o = byId.get(r.custom_id);
        if (o === undefined) continue;
        byId.delete(r.custom_id);
        o.batchDone(r, null);
      }
      for (const o of byId.values()) o.batchDone(null, `the batch ended ${batch.status} without a result for this request`);
    } catch (err) {
      for (const o of byId.values()) o.batchDone(null, (err as Error).message);
    }
  }

  /** Forget finished jobs older than the retention window. */
  private sweep(): void {
    if (this.jobs.size < 1024) return;
    const cutoff = Date.now() - JOB_RETENTION_MS;
    for (const [id, j] of this.jobs) if (j.finishedAt > 0 && j.finishedAt < cutoff) this.jobs.delete(id);
  }

  /** Stop polling: jobs not finished fail with a "gateway closing" error. */
  close(): void {
    this.closed = true;
    for (const [member, q] of this.queues) this.flush(member, q);
  }
}

/** A job as the client sees it (GET /v1/batch_jobs/{id}, and the 202 answer). */
export function jobJson(job: BatchJob): string {
  return (
    '{"id":' + JSON.stringify(job.id) + ',"object":"switchyard.batch_job","status":"' + job.status + '","model":' + JSON.stringify(job.model) +
    ',"created_at":' + Math.floor(job.createdAt / 1000) + ',"response":' + (job.response ?? 'null') + ',"error":' + (job.error === null ? 'null' : JSON.stringify(job.error)) + '}'
  );
}
