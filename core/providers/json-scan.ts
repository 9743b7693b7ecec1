// Scanning JSON text in place (no parse): what the translators' fast paths for compact provider answers
// and stream events share. A JSON string cannot hold a bare quote, so a key pattern found by indexOf is a
// key, not text inside content.

/** Characters the JSON string whose content starts at `start` decodes to (escapes count as one). */
export function decodedLength(s: string, start: number): number {
  let n = 0;
  for (let i = start; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34) return n;
    if (c === 92) i += s.charCodeAt(i + 1) === 117 ? 5 : 1; // \uXXXX or \x
    n++;
  }
  return n;
}

/** Index of the closing quote of the JSON string whose content starts at `start`, or -1. */
export function endOfString(s: string, start: number): number {
  for (let i = start; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 92) i++; // backslash: skip the escaped character
    else if (c === 34) return i;
  }
  return -1;
}

/** The non-negative integer at `i` in `s`, or -1 when there is none. */
export function intAt(s: string, i: number): number {
  let v = 0;
  const start = i;
  for (let c = s.charCodeAt(i); c >= 48 && c <= 57; c = s.charCodeAt(++i)) v = v * 10 + (c - 48);
  return i === start ? -1 : v;
}
