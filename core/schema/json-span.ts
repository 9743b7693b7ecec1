// Where a top-level member's value sits in JSON text, found by one scan (strings and nesting skipped,
// nothing allocated). Lets the gateway forward a request's `messages` as the client's own bytes instead
// of serializing the parsed value again. The text must already be valid JSON (JSON.parse accepted it).
// Ground floor: imports nothing of ours.

function skipWs(s: string, i: number): number {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return i;
    i++;
  }
}

/** Index just past the string whose opening quote is at `i`. */
function skipString(s: string, i: number): number {
  for (i++; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 92) i++;
    else if (c === 34) return i + 1;
  }
  return s.length;
}

/** Index just past the value that starts at `i`. */
function skipValue(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 34) return skipString(s, i);
  if (c === 123 || c === 91) {
    let depth = 0;
    for (; i < s.length; i++) {
      const d = s.charCodeAt(i);
      if (d === 34) i = skipString(s, i) - 1;
      else if (d === 123 || d === 91) depth++;
      else if ((d === 125 || d === 93) && --depth === 0) return i + 1;
    }
    return s.length;
  }
  // number, true, false, null
  while (i < s.length) {
    const d = s.charCodeAt(i);
    if (d === 44 || d === 125 || d === 93 || d === 32 || d === 10 || d === 13 || d === 9) break;
    i++;
  }
  return i;
}

/**
 * The text of the top-level member `key` of the JSON object `s` (the last one, as JSON.parse keeps the
 * last of duplicate keys), or null when `s` is not an object or lacks it.
 */
export function memberText(s: string, key: string): string | null {
  let i = skipWs(s, 0);
  if (s.charCodeAt(i) !== 123) return null;
  i = skipWs(s, i + 1);
  let found: string | null = null;
  while (i < s.length && s.charCodeAt(i) === 34) {
    const keyEnd = skipString(s, i);
    const matches = keyEnd - i - 2 === key.length && s.startsWith(key, i + 1);
    i = skipWs(s, keyEnd);
    if (s.charCodeAt(i) !== 58) return null;
    const start = skipWs(s, i + 1);
    const end = skipValue(s, start);
    if (matches) found = s.slice(start, end);
    i = skipWs(s, end);
    if (s.charCodeAt(i) === 44) i = skipWs(s, i + 1);
    else break;
  }
  return found;
}
