// Worker thread that owns the SQLite ledger for a gateway serving on the main thread: better-sqlite3 is
// synchronous, and a batch insert (milliseconds) must not stall the event loop that serves requests.
// Messages in: {type:'cols', seq, cols, n} (a columnar batch) and {type:'close'}; out: {type:'ready'|'error'} once at start,
// then {type:'done', seq} or {type:'failed', seq, message} per batch.
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteLedgerStore } from '../ledger/sqlite.js';

const port = parentPort!;
let store: SqliteLedgerStore;
try {
  store = new SqliteLedgerStore((workerData as { path: string }).path);
  port.postMessage({ type: 'ready' });
} catch (err) {
  port.postMessage({ type: 'error', message: (err as Error).message });
  process.exit(0);
}

port.on('message', (m: { type: string; seq?: number; cols?: unknown[][]; n?: number }) => {
  if (m.type === 'cols') {
    try {
      store.insertColumnsSync(m.cols!, m.n!);
      port.postMessage({ type: 'done', seq: m.seq });
    } catch (err) {
      port.postMessage({ type: 'failed', seq: m.seq, message: (err as Error).message });
    }
    return;
  }
  if (m.type === 'close') {
    void store.close().then(() => port.close());
  }
});
