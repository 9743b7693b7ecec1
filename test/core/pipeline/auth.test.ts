import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compilePlan, validateConfig, type Config, type KeyRecord, type Plan, type RouteContext } from '../../../core/config/index.js';
import { authenticate, keyMayUse, presentedKey, sha256 } from '../../../core/pipeline/auth.js';

const hex = (key: string): string => createHash('sha256').update(key).digest('hex');

function route(alias: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    alias,
    use_case: 'test',
    owner: 'team-test',
    route_policy: { lane: 'auto', slo: { ttft_ms: 500, latency_ms: 5000 }, budget: { max_cost_usd: null }, fallback: [] },
    canary_share: 0,
    canary_target: null,
    fallback_condition: ['timeout'],
    pool_id: 'p1',
    queue_priority: 1,
    latency_class: 'interactive',
    allowed_providers: ['prov'],
    quota: { requests_per_minute: 60, tokens_per_minute: 10000 },
    token_budget: { max_input_tokens: 1000, max_output_tokens: 100 },
    safety_policy: null,
    trace_fields: [],
    prompt: null,
    ...extra,
  };
}

function buildPlan(): Plan {
  const data = {
    tenants: [
      { id: 'acme', name: 'Acme' },
      { id: 'globex', name: 'Globex' },
    ],
    keys: [
      { id: 'k-all', tenant: 'acme', owner: 'team-a', key_sha256: hex('sk-acme-all') },
      // Upper-case hex in config must still match.
      { id: 'k-limited', tenant: 'acme', owner: 'team-b', key_sha256: hex('sk-acme-limited').toUpperCase(), aliases: ['crm.summary.fast', 'support.*'] },
      { id: 'k-revoked', tenant: 'acme', owner: 'team-a', key_sha256: hex('sk-acme-revoked'), revoked: true },
      { id: 'k-globex', tenant: 'globex', owner: 'team-g', key_sha256: hex('sk-globex') },
    ],
    providers: [{ name: 'prov', kind: 'openai', base_url: 'http://127.0.0.1:9/v1', models: [{ name: 'm', input_usd_per_mtok: 1, output_usd_per_mtok: 2 }] }],
    pools: [{ id: 'p1', kind: 'maas', members: [{ provider: 'prov', model: 'm' }] }],
    routes: [
      route('crm.summary.fast', { tenants: ['acme'] }),
      route('crm.summary.slow', { tenants: ['acme'] }),
      route('support.*'),
      route('globex.chat', { tenants: ['globex'] }),
    ],
  };
  const r = validateConfig(data);
  if (!r.ok) throw new Error(r.problems.join('\n'));
  return compilePlan(r.config as Config, { env: {} });
}

const plan = buildPlan();
const routeOf = (alias: string): RouteContext => plan.routesByAlias.get(alias)!;
const keyOf = (key: string): KeyRecord => {
  const k = authenticate(plan, key);
  if (k === null) throw new Error(`test setup: ${key} should authenticate`);
  return k;
};

describe('presentedKey', () => {
  it('reads a Bearer token, the scheme in any case', () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      expect(presentedKey(`${scheme} sk-abc`, ''), scheme).toBe('sk-abc');
    }
  });

  it('prefers Authorization over x-api-key', () => {
    expect(presentedKey('Bearer sk-auth', 'sk-header')).toBe('sk-auth');
  });

  it('trims whitespace around the token', () => {
    expect(presentedKey('Bearer   sk-abc  ', '')).toBe('sk-abc');
    expect(presentedKey('Bearer sk-abc\t', '')).toBe('sk-abc');
  });

  it('a one-character token is read', () => {
    expect(presentedKey('Bearer k', '')).toBe('k');
  });

  it('falls back to x-api-key (trimmed) when Authorization is absent, empty or not Bearer', () => {
    expect(presentedKey('', 'sk-header')).toBe('sk-header');
    expect(presentedKey('', '  sk-header \t')).toBe('sk-header');
    expect(presentedKey('Basic dXNlcjpwYXNz', 'sk-header')).toBe('sk-header');
    expect(presentedKey('Bearer', 'sk-header')).toBe('sk-header');
    expect(presentedKey('Bearer ', 'sk-header')).toBe('sk-header');
    expect(presentedKey('Bearersk-abc', 'sk-header')).toBe('sk-header');
    expect(presentedKey('Beaver sk-abc', 'sk-header')).toBe('sk-header');
    expect(presentedKey('Token sk-abc', 'sk-header')).toBe('sk-header');
  });

  it('returns the empty string when nothing is presented', () => {
    expect(presentedKey('', '')).toBe('');
    expect(presentedKey('', '   ')).toBe('');
    expect(presentedKey('Basic abc', '')).toBe('');
  });
});

describe('sha256', () => {
  it('is the raw 32-byte digest', () => {
    const d = sha256('sk-acme-all');
    expect(d.length).toBe(32);
    expect(d.toString('hex')).toBe(hex('sk-acme-all'));
  });
});

describe('authenticate', () => {
  it('returns the record of a valid key', () => {
    const k = authenticate(plan, 'sk-acme-all');
    expect(k).not.toBeNull();
    expect(k!.id).toBe('k-all');
    expect(k!.tenant).toBe('acme');
    expect(k!.owner).toBe('team-a');
    expect(k!.aliases).toBeNull();
    expect(k!.revoked).toBe(false);
    expect(k).toBe(plan.keysByHash.get(hex('sk-acme-all')));
  });

  it('matches a key whose configured hash was upper-case hex', () => {
    expect(authenticate(plan, 'sk-acme-limited')?.id).toBe('k-limited');
  });

  it('returns null for an unknown key', () => {
    expect(authenticate(plan, 'sk-nope')).toBeNull();
    expect(authenticate(plan, 'sk-acme-all ')).toBeNull(); // presentedKey trims; authenticate compares exactly
    expect(authenticate(plan, 'SK-ACME-ALL')).toBeNull();
  });

  it('returns null for a revoked key', () => {
    expect(plan.keysByHash.get(hex('sk-acme-revoked'))?.revoked).toBe(true);
    expect(authenticate(plan, 'sk-acme-revoked')).toBeNull();
  });

  it('returns null for an empty key and for a key over 512 characters', () => {
    expect(authenticate(plan, '')).toBeNull();
    expect(authenticate(plan, 'x'.repeat(513))).toBeNull();
  });

  it('accepts a known key of exactly 512 characters', () => {
    const long = 'k'.repeat(512);
    const data = {
      tenants: [{ id: 't', name: 'T' }],
      keys: [{ id: 'k-long', tenant: 't', owner: 'o', key_sha256: hex(long) }],
      providers: [{ name: 'prov', kind: 'openai', base_url: 'http://127.0.0.1:9/v1', models: [{ name: 'm', input_usd_per_mtok: 1, output_usd_per_mtok: 2 }] }],
      pools: [{ id: 'p1', kind: 'maas', members: [{ provider: 'prov', model: 'm' }] }],
      routes: [route('a.b')],
    };
    const r = validateConfig(data);
    if (!r.ok) throw new Error(r.problems.join('\n'));
    const p = compilePlan(r.config, { env: {} });
    expect(authenticate(p, long)?.id).toBe('k-long');
  });

  it('works end to end with presentedKey', () => {
    expect(authenticate(plan, presentedKey('bearer  sk-globex ', ''))?.id).toBe('k-globex');
    expect(authenticate(plan, presentedKey('', 'sk-acme-all'))?.id).toBe('k-all');
    expect(authenticate(plan, presentedKey('', ''))).toBeNull();
  });
});

describe('keyMayUse', () => {
  it('a key without an alias list may use every route its tenant sees', () => {
    const k = keyOf('sk-acme-all');
    expect(keyMayUse(k, routeOf('crm.summary.fast'), 'crm.summary.fast')).toBe(true);
    expect(keyMayUse(k, routeOf('crm.summary.slow'), 'crm.summary.slow')).toBe(true);
    expect(keyMayUse(k, routeOf('support.*'), 'support.chat')).toBe(true);
  });

  it('a route limited to other tenants is refused, whatever the key allows', () => {
    expect(keyMayUse(keyOf('sk-acme-all'), routeOf('globex.chat'), 'globex.chat')).toBe(false);
    expect(keyMayUse(keyOf('sk-globex'), routeOf('crm.summary.fast'), 'crm.summary.fast')).toBe(false);
    expect(keyMayUse(keyOf('sk-globex'), routeOf('globex.chat'), 'globex.chat')).toBe(true);
    // A route open to every tenant.
    expect(routeOf('support.*').tenants).toBeNull();
    expect(keyMayUse(keyOf('sk-globex'), routeOf('support.*'), 'support.billing')).toBe(true);
  });

  it('exact key patterns match only that alias', () => {
    const k = keyOf('sk-acme-limited');
    expect(keyMayUse(k, routeOf('crm.summary.fast'), 'crm.summary.fast')).toBe(true);
    expect(keyMayUse(k, routeOf('crm.summary.slow'), 'crm.summary.slow')).toBe(false);
    expect(keyMayUse(k, routeOf('crm.summary.fast'), 'crm.summary.fast.x')).toBe(false);
    expect(keyMayUse(k, routeOf('crm.summary.fast'), 'crm.summary')).toBe(false);
  });

  it('prefix.* key patterns match aliases under the prefix, not the bare prefix nor look-alikes', () => {
    const k = keyOf('sk-acme-limited');
    const r = routeOf('support.*');
    expect(keyMayUse(k, r, 'support.chat')).toBe(true);
    expect(keyMayUse(k, r, 'support.a.b.c')).toBe(true);
    expect(keyMayUse(k, r, 'support')).toBe(false);
    expect(keyMayUse(k, r, 'supportx.chat')).toBe(false);
    expect(keyMayUse(k, r, 'supports.chat')).toBe(false);
    expect(keyMayUse(k, r, 'xsupport.chat')).toBe(false);
  });

  it('regression: a prefix.* key pattern does not match the bare prefix with its dot (crm.* vs "crm.")', () => {
    const k = keyOf('sk-acme-limited');
    expect(keyMayUse(k, routeOf('support.*'), 'support.')).toBe(false);
  });

  it('checks tenant visibility before the key alias list', () => {
    // k-limited lists crm.summary.fast, but a route copy limited to globex refuses it.
    const globexOnly = { ...routeOf('crm.summary.fast'), tenants: new Set(['globex']) } as RouteContext;
    expect(keyMayUse(keyOf('sk-acme-limited'), globexOnly, 'crm.summary.fast')).toBe(false);
  });

  it('an empty alias list allows nothing', () => {
    const k: KeyRecord = { ...keyOf('sk-acme-all'), aliases: [] };
    expect(keyMayUse(k, routeOf('support.*'), 'support.chat')).toBe(false);
  });
});
