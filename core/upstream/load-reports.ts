// Load reports of self-hosted replicas: every replica of a `self_hosted` pool is polled for its
// vLLM-style `/metrics` (requests waiting and running), off the request path, and the numbers land on
// the LoadBoard the replica choice reads. A replica that does not answer keeps its last report.
import { request } from 'undici';
import type { LoadBoard } from '../routing/selector.js';
import type { PoolContext, PoolMember } from '../routing/types.js';

/** The value of the first sample of `name` (with or without labels) in Prometheus text, or -1. */
export function gauge(text: string, name: string): number {
  let at = 0;
  for (;;) {
    const i = text.indexOf(name, at);
    if (i < 0) return -1;
    at = i + name.length;
    if (i > 0 && text.charCodeAt(i - 1) !== 10) continue; // not at a line start (a comment or another name)
    const c = text.charCodeAt(at);
    if (c !== 32 && c !== 123) continue; // `name ` or `name{`: not a longer name
    const eol = text.indexOf('\n', at);
    const line = text.slice(at, eol < 0 ? text.length : eol);
    const v = Number(line.slice(line.lastIndexOf(c === 123 ? '}' : ' ') + 1).trim().split(' ')[0]);
    return Number.isFinite(v) ? v : -1;
  }
}

export class LoadReporter {
  private timer: NodeJS.Timeout | null = null;
  private members: PoolMember[] = [];
  private polling = false;

  constructor(
    private readonly board: LoadBoard,
    private readonly intervalMs = 250,
    private readonly timeoutMs = 200,
  ) {}

  /** Poll the replicas of these pools (the self-hosted ones), replacing what was watched before. */
  watch(pools: Iterable<PoolContext>): void {
    const members: PoolMember[] = [];
    for (const p of pools) if (p.kind === 'self_hosted') for (const m of p.members) members.push(m);
    this.members = members;
    if (members.length > 0 && this.timer === null) {
      this.timer = setInterval(pollSoon, this.intervalMs, this);
      this.timer.unref();
      void this.poll();
    } else if (members.length === 0) this.close();
  }

  /** One round of reports (also what the timer runs). */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      await Promise.all(this.members.map((m) => this.pollOne(m)));
    } finally {
      this.polling = false;
    }
  }

  private async pollOne(m: PoolMember): Promise<void> {
    try {
      const r = await request(m.provider.origin + '/metrics', { headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
      const text = await r.body.text();
      if (r.statusCode !== 200) return;
      const waiting = gauge(text, 'vllm:num_requests_waiting');
      const running = gauge(text, 'vllm:num_requests_running');
      if (waiting < 0 && running < 0) return;
      const load = this.board.of(m);
      load.reportedWaiting = Math.max(0, waiting);
      load.reportedRunning = Math.max(0, running);
      load.reportedAt = Date.now();
    } catch {
      // A replica that does not report keeps its last numbers; its failures count through requests.
    }
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

function pollSoon(r: LoadReporter): void {
  void r.poll();
}
