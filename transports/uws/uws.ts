// Loads uWebSockets.js and says whether its native addon loaded. The package we use silently falls back
// to a slow `ws`-based shim when the addon does not load; we refuse to run on it unless told to.
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

const require = createRequire(import.meta.url);

export const uWS: typeof UWS = require('uWebSockets.js');

/** True when `uWS.App` is native code and the addon (`binaries/uws_*.node`) is the module that was loaded. */
export function uwsIsNative(): boolean {
  if (!Function.prototype.toString.call(uWS.App).includes('[native code]')) return false;
  return Object.keys(require.cache).some((k) => k.includes('uWebSockets.js') && k.endsWith('.node'));
}

export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, WebSocket, us_socket_context_t } from 'uWebSockets.js';
