// After the drain, a stopped gateway takes no request: the connection is closed unanswered (so nothing
// is answered once the trace sinks and the ledger are closing), on both ingresses.
import { describe, expect, it } from 'vitest';
import { request } from 'undici';
import { DEMO_KEY, startStack, type TransportName } from '../../helpers/stack.js';

for (const transport of ['uws', 'node'] as TransportName[]) {
  describe(`Gateway.stop (${transport})`, () => {
    it('answers before stop; after it, closes the connection without an answer and writes no trace', async () => {
      const s = await startStack(transport);
      try {
        const send = () =>
          request(s.url + '/v1/chat/completions', {
            method: 'POST',
            headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json', connection: 'close' },
            body: JSON.stringify({ model: 'demo.chat', messages: [{ role: 'user', content: 'hi' }] }),
          });
        const ok = await send();
        await ok.body.text();
        expect(ok.statusCode).toBe(200);
        expect(s.traces.records).toHaveLength(1);
        await s.gateway.drain(1000);
        s.gateway.stop();
        await expect(send().then((r) => r.body.text())).rejects.toThrow();
        const health = request(s.url + '/healthz', { headers: { connection: 'close' } });
        await expect(health.then((r) => r.body.text())).rejects.toThrow();
        expect(s.traces.records).toHaveLength(1);
      } finally {
        await s.close();
      }
    });
  });
}
