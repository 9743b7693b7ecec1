// `switchyard keys create --tenant T [--owner O] [--id ID] [--aliases a,b.*]` — make a key: printed once,
// stored only as its SHA-256 in $SWITCHYARD_DATA_DIR/keys.yaml. `keys revoke ID`, `keys list`.
// A running gateway picks changes up on SIGHUP (or at its next start).
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfigFile, readKeysFile, writeKeysFile, type KeyConfig } from '../core/index.js';
import { parseArgs } from './args.js';
import { DEFAULT_CONFIG } from './serve.js';

const USAGE = `usage:
  switchyard keys create --tenant T [--owner O] [--id ID] [--aliases A,B] [--config FILE]
  switchyard keys revoke ID
  switchyard keys list [--json]`;

export async function runKeys(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [sub, ...rest] = argv;
  const dataDir = resolve(env.SWITCHYARD_DATA_DIR ?? './data');
  const keysPath = join(dataDir, 'keys.yaml');
  try {
    if (sub === 'create') return await create(rest, env, dataDir, keysPath);
    if (sub === 'revoke') return revoke(rest, keysPath);
    if (sub === 'list') return list(rest, keysPath);
  } catch (err) {
    process.stderr.write(`switchyard keys: ${(err as Error).message}\n`);
    return 2;
  }
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

function existing(keysPath: string): KeyConfig[] {
  const file = readKeysFile(keysPath);
  if (!file.ok) throw new Error(file.problems.join('\n'));
  return file.keys;
}

async function create(argv: string[], env: NodeJS.ProcessEnv, dataDir: string, keysPath: string): Promise<number> {
  const a = parseArgs(argv, ['tenant', 'owner', 'id', 'aliases', 'config']);
  const tenant = a.get('tenant');
  if (tenant === undefined) throw new Error('--tenant is required');
  const configPath = resolve(a.get('config') ?? env.SWITCHYARD_CONFIG ?? DEFAULT_CONFIG);
  const loaded = await loadConfigFile(configPath);
  if (!loaded.ok) throw new Error(`invalid config ${configPath}:\n${loaded.problems.join('\n')}`);
  if (!loaded.config.tenants.some((t) => t.id === tenant)) throw new Error(`unknown tenant "${tenant}" in ${configPath}`);
  const keys = existing(keysPath);
  const id = a.get('id') ?? `k-${tenant}-${randomBytes(4).toString('hex')}`;
  if (keys.some((k) => k.id === id) || loaded.config.keys.some((k) => k.id === id)) throw new Error(`a key with id "${id}" exists`);
  const secret = `sk-sy-${randomBytes(24).toString('base64url')}`;
  const entry: KeyConfig = {
    id,
    tenant,
    owner: a.get('owner') ?? `tenant-${tenant}`,
    key_sha256: createHash('sha256').update(secret).digest('hex'),
    revoked: false,
    ...(a.get('aliases') !== undefined ? { aliases: a.get('aliases')!.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
  };
  mkdirSync(dataDir, { recursive: true });
  writeKeysFile(keysPath, [...keys, entry]);
  process.stdout.write(`${secret}\n`);
  process.stderr.write(`key ${id} for tenant ${tenant} (owner ${entry.owner}) stored as a hash in ${keysPath}; this is the only time it is shown. Running gateways pick it up on SIGHUP.\n`);
  return 0;
}

function revoke(argv: string[], keysPath: string): number {
  const id = parseArgs(argv, []).positionals[0];
  if (id === undefined) throw new Error('revoke needs a key id');
  const keys = existing(keysPath);
  const k = keys.find((x) => x.id === id);
  if (k === undefined) throw new Error(`no key "${id}" in ${keysPath} (keys in the config file are revoked there: revoked: true)`);
  writeKeysFile(keysPath, keys.map((x) => (x.id === id ? { ...x, revoked: true } : x)));
  process.stderr.write(`key ${id} revoked; running gateways stop accepting it on SIGHUP.\n`);
  return 0;
}

function list(argv: string[], keysPath: string): number {
  const a = parseArgs(argv, [], ['json']);
  const rows = existing(keysPath).map((k) => ({ id: k.id, tenant: k.tenant, owner: k.owner, revoked: k.revoked }));
  if (a.has('json')) process.stdout.write(JSON.stringify(rows) + '\n');
  else for (const r of rows) process.stdout.write(`${r.id}\t${r.tenant}\t${r.owner}\t${r.revoked ? 'revoked' : 'active'}\n`);
  return 0;
}
