// Open client connections of a listening port, for the `switchyard_open_connections` gauge. uWebSockets.js
// exposes no per-connection event for HTTP, so both transports count the same way: established TCP
// sockets whose local port is the gateway's, from /proc/net/tcp and /proc/net/tcp6 (Linux; 0 elsewhere).
// Read at scrape time only (a /proc read is generated in memory by the kernel: no disk wait).

import { readFileSync } from 'node:fs';

const ESTABLISHED = '01';

function countIn(path: string, portHex: string): number {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch {
    return 0;
  }
  let n = 0;
  // Each line: `sl local_address rem_address st ...`, addresses as HEXIP:HEXPORT.
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const local = f[1]!;
    if (f[3] === ESTABLISHED && local.endsWith(':' + portHex)) n++;
  }
  return n;
}

/** Established connections to `port` on this host (the gateway's threads share one port). */
export function establishedConnections(port: number): number {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  return countIn('/proc/net/tcp', portHex) + countIn('/proc/net/tcp6', portHex);
}
