// Alias trie: exact aliases and `prefix.*` patterns compiled once into typed arrays; lookup walks the
// request's model name (string or bytes) without allocating. Exact beats prefix; the longest prefix wins.
//
// Shape: a radix tree (path-compressed trie) over ASCII bytes, built from the sorted pattern keys.
// A pattern `crm.*` is stored as the key `crm.` with a "prefix value"; it matches a name that starts
// with `crm.` and has at least one more character (so `crm.x`, `crm.a.b`, but not `crm.` nor `crm`).
// Every node is STRIDE int32s in one table; a node's children sit next to each other, sorted by their
// first label byte, so finding a child is a short scan (or binary search) over one byte array.
// Names are matched only over the alias alphabet `[A-Za-z0-9._:/-]`: any other character (non-ASCII
// included) makes the lookup miss, also inside the part a prefix pattern would cover.

export interface AliasEntry {
  /** `crm.summary.fast` (exact) or `crm.*` (every alias starting with `crm.`). ASCII only. */
  readonly pattern: string;
  /** What lookup returns for a match (a route index). Must be >= 0. */
  readonly value: number;
}

// Node table layout: one Int32Array, STRIDE slots per node.
const EXACT = 0; // value of the key ending exactly here, or -1
const PREFIX = 1; // value of `key.*`-style prefix ending here (name must continue), or -1
const LABEL_START = 2; // offset of this node's label in `labels`
const LABEL_LEN = 3; // label length (0 only for the root)
const FIRST_CHILD = 4; // node index of the first child (children are contiguous)
const CHILD_COUNT = 5; // number of children
const STRIDE = 6;

/** Children counts up to this are scanned linearly; above it, binary search. */
const LINEAR_SCAN_MAX = 8;

/** 1 for bytes of the alias alphabet `[A-Za-z0-9._:/-]`, 0 otherwise (256 entries: any byte indexes it). */
const ALIAS_BYTE: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  for (const ch of '._:/-') t[ch.charCodeAt(0)] = 1;
  return t;
})();

/** True when every character of `s` is in the alias alphabet. */
function isAliasText(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f || ALIAS_BYTE[c] === 0) return false;
  }
  return true;
}

/** Mutable builder state, used only while building (never on the lookup path). */
interface BuildState {
  keys: string[];
  exact: Int32Array; // per key: exact value or -1
  prefix: Int32Array; // per key: prefix value or -1
  nodes: Int32Array;
  firstBytes: Uint8Array;
  labels: Uint8Array;
  nodeCount: number;
  labelLen: number;
}

export class AliasTrie {
  /** Build from entries. Throws on a malformed pattern, a negative value or a duplicate pattern. */
  static build(entries: readonly AliasEntry[]): AliasTrie {
    // 1. Normalize: `crm.*` → key `crm.` (prefix); merge exact and prefix values of the same key.
    const byKey = new Map<string, { exact: number; prefix: number }>();
    for (const e of entries) {
      const { pattern, value } = e;
      if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
        throw new Error(`alias trie: value for "${pattern}" must be a non-negative int32, got ${value}`);
      }
      const isPrefix = pattern.endsWith('.*');
      const key = isPrefix ? pattern.slice(0, -1) : pattern;
      if ((isPrefix ? key.length < 2 : key.length < 1) || !isAliasText(key)) {
        throw new Error(`alias trie: invalid pattern "${pattern}" (expected [A-Za-z0-9._:/-]+ optionally ending in .*)`);
      }
      let slot = byKey.get(key);
      if (slot === undefined) {
        slot = { exact: -1, prefix: -1 };
        byKey.set(key, slot);
      }
      if (isPrefix) {
        if (slot.prefix !== -1) throw new Error(`alias trie: duplicate pattern "${pattern}"`);
        slot.prefix = value;
      } else {
        if (slot.exact !== -1) throw new Error(`alias trie: duplicate pattern "${pattern}"`);
        slot.exact = value;
      }
    }

    // 2. Sort keys (code-unit order equals byte order for ASCII) and build the radix tree from the ranges.
    const keys = [...byKey.keys()].sort();
    const n = keys.length;
    const exact = new Int32Array(n);
    const prefix = new Int32Array(n);
    let totalLen = 0;
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      const slot = byKey.get(k)!;
      exact[i] = slot.exact;
      prefix[i] = slot.prefix;
      totalLen += k.length;
    }
    // A radix tree over n keys has at most 2n nodes (+1 for the root).
    const maxNodes = 2 * n + 1;
    const st: BuildState = {
      keys,
      exact,
      prefix,
      nodes: new Int32Array(maxNodes * STRIDE),
      firstBytes: new Uint8Array(maxNodes),
      labels: new Uint8Array(Math.max(totalLen, 1)),
      nodeCount: 1,
      labelLen: 0,
    };
    initNode(st.nodes, 0, 0, 0);
    buildNode(st, 0, 0, n, 0);

    // Trim to the used size: the lookup tables are the only long-lived memory.
    return new AliasTrie(
      st.nodes.slice(0, st.nodeCount * STRIDE),
      st.firstBytes.slice(0, st.nodeCount),
      st.labels.slice(0, st.labelLen),
      entries.length,
    );
  }

  // All fields are typed arrays or smis assigned once in the constructor: one hidden class, monomorphic loads.
  private readonly nodes: Int32Array;
  private readonly firstBytes: Uint8Array;
  private readonly labels: Uint8Array;
  /** Number of entries the trie was built from. */
  readonly size: number;
  /** Number of radix-tree nodes (root included); for tests and memory estimates. */
  readonly nodeCount: number;

  private constructor(nodes: Int32Array, firstBytes: Uint8Array, labels: Uint8Array, size: number) {
    this.nodes = nodes;
    this.firstBytes = firstBytes;
    this.labels = labels;
    this.size = size;
    this.nodeCount = firstBytes.length;
  }

  /** Route index for `name`, or -1. */
  lookup(name: string): number {
    // Locals for the tables: V8 keeps them in registers instead of reloading `this.x` in the loop.
    const nodes = this.nodes;
    const labels = this.labels;
    const n = name.length;
    let node = 0;
    let i = 0;
    let best = -1;
    for (;;) {
      const base = node * STRIDE;
      if (i === n) {
        const ex = nodes[base + EXACT]!;
        return ex >= 0 ? ex : best;
      }
      const pv = nodes[base + PREFIX]!;
      if (pv >= 0) best = pv; // deeper prefixes overwrite shallower ones: longest wins
      // charCodeAt on a flat string is a single load; codes >= 256 can never equal a label byte.
      const c = name.charCodeAt(i);
      const child = this.findChild(nodes[base + FIRST_CHILD]!, nodes[base + CHILD_COUNT]!, c);
      if (child < 0) break;
      const cb = child * STRIDE;
      const ls = nodes[cb + LABEL_START]!;
      const ll = nodes[cb + LABEL_LEN]!;
      if (n - i < ll) break;
      // First label byte already matched in findChild; compare the rest.
      let j = 1;
      while (j < ll && name.charCodeAt(i + j) === labels[ls + j]) j++;
      if (j < ll) break;
      i += ll;
      node = child;
    }
    if (best < 0) return -1;
    // A prefix pattern matched; the rest of the name must still be alias text (non-ASCII misses).
    for (; i < n; i++) {
      const c = name.charCodeAt(i);
      if (c > 0x7f || ALIAS_BYTE[c] === 0) return -1;
    }
    return best;
  }

  /** Same as lookup, over `buf[start..end)` (ASCII bytes). */
  lookupBytes(buf: Uint8Array, start: number, end: number): number {
    const nodes = this.nodes;
    const labels = this.labels;
    let node = 0;
    let i = start;
    let best = -1;
    for (;;) {
      const base = node * STRIDE;
      if (i >= end) {
        const ex = nodes[base + EXACT]!;
        return ex >= 0 ? ex : best;
      }
      const pv = nodes[base + PREFIX]!;
      if (pv >= 0) best = pv;
      const child = this.findChild(nodes[base + FIRST_CHILD]!, nodes[base + CHILD_COUNT]!, buf[i]!);
      if (child < 0) break;
      const cb = child * STRIDE;
      const ls = nodes[cb + LABEL_START]!;
      const ll = nodes[cb + LABEL_LEN]!;
      if (end - i < ll) break;
      let j = 1;
      while (j < ll && buf[i + j] === labels[ls + j]) j++;
      if (j < ll) break;
      i += ll;
      node = child;
    }
    if (best < 0) return -1;
    // ALIAS_BYTE has 256 entries, so any byte indexes it; bytes >= 0x80 (UTF-8 sequences) are 0.
    for (; i < end; i++) if (ALIAS_BYTE[buf[i]!] === 0) return -1;
    return best;
  }

  /** Index of the child of a node whose label starts with `c`, or -1. Children are sorted by first byte. */
  private findChild(first: number, count: number, c: number): number {
    const fb = this.firstBytes;
    if (count <= LINEAR_SCAN_MAX) {
      // Short linear scan over contiguous bytes beats the branches of a binary search for small fan-out.
      for (let k = first, last = first + count; k < last; k++) {
        const b = fb[k]!;
        if (b === c) return k;
        if (b > c) return -1;
      }
      return -1;
    }
    let lo = first;
    let hi = first + count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const b = fb[mid]!;
      if (b === c) return mid;
      if (b < c) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }
}

function initNode(nodes: Int32Array, idx: number, labelStart: number, labelLen: number): void {
  const b = idx * STRIDE;
  nodes[b + EXACT] = -1;
  nodes[b + PREFIX] = -1;
  nodes[b + LABEL_START] = labelStart;
  nodes[b + LABEL_LEN] = labelLen;
  nodes[b + FIRST_CHILD] = 0;
  nodes[b + CHILD_COUNT] = 0;
}

/**
 * Fill node `idx`, whose path is the first `depth` characters shared by keys[lo..hi).
 * Children are allocated as one contiguous block before recursing, so siblings stay adjacent.
 */
function buildNode(st: BuildState, idx: number, lo: number, hi: number, depth: number): void {
  const { keys, nodes } = st;
  const b = idx * STRIDE;
  // In sorted order, a key equal to the node's path comes first.
  if (lo < hi && keys[lo]!.length === depth) {
    nodes[b + EXACT] = st.exact[lo]!;
    nodes[b + PREFIX] = st.prefix[lo]!;
    lo++;
  }
  if (lo >= hi) return;

  // Count the groups (runs of keys sharing the byte at `depth`).
  let groups = 0;
  for (let k = lo; k < hi; ) {
    const c = keys[k]!.charCodeAt(depth);
    let e = k + 1;
    while (e < hi && keys[e]!.charCodeAt(depth) === c) e++;
    groups++;
    k = e;
  }
  const first = st.nodeCount;
  st.nodeCount += groups;
  nodes[b + FIRST_CHILD] = first;
  nodes[b + CHILD_COUNT] = groups;

  let child = first;
  for (let k = lo; k < hi; ) {
    const head = keys[k]!;
    const c = head.charCodeAt(depth);
    let e = k + 1;
    while (e < hi && keys[e]!.charCodeAt(depth) === c) e++;
    // Label = longest common prefix of the run beyond `depth`: in sorted order, that of its first and last key.
    const tail = keys[e - 1]!;
    const max = Math.min(head.length, tail.length);
    let d = depth + 1;
    while (d < max && head.charCodeAt(d) === tail.charCodeAt(d)) d++;
    const labelStart = st.labelLen;
    for (let p = depth; p < d; p++) st.labels[st.labelLen++] = head.charCodeAt(p);
    initNode(nodes, child, labelStart, d - depth);
    st.firstBytes[child] = c;
    buildNode(st, child, k, e, d);
    child++;
    k = e;
  }
}
