// Keys made with `switchyard keys create` live in a keys file beside the data (`$SWITCHYARD_DATA_DIR/keys.yaml`),
// not in the config: the file holds only hashes. At boot (and on reload) its keys are merged into the
// config's, checked like config keys: known tenant, unique id and hash.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import * as z from 'zod';
import { KeySchema, type Config, type KeyConfig } from './schema.js';
import { loadConfigFileSync } from './load.js';

const KeysFileSchema = z.strictObject({ keys: z.array(KeySchema).default([]) });

export type KeysFileResult = { ok: true; keys: KeyConfig[] } | { ok: false; problems: string[] };

/** The keys of a keys file (none when it does not exist), or its problems as `FILE: keys.N.field: message`. */
export function readKeysFile(path: string): KeysFileResult {
  if (!existsSync(path)) return { ok: true, keys: [] };
  let data: unknown;
  try {
    data = parseYaml(readFileSync(path, 'utf8')) ?? {};
  } catch (err) {
    return { ok: false, problems: [`${path}: ${(err as Error).message.split('\n')[0]}`] };
  }
  const parsed = KeysFileSchema.safeParse(data);
  if (!parsed.success) return { ok: false, problems: parsed.error.issues.map((i) => `${path}: ${i.path.join('.') || '(root)'}: ${i.message}`) };
  return { ok: true, keys: parsed.data.keys };
}

/** The config with the keys file's keys added; problems when a key names an unknown tenant or repeats an id or hash. */
export function mergeKeys(config: Config, fileKeys: readonly KeyConfig[], source: string): { ok: true; config: Config } | { ok: false; problems: string[] } {
  if (fileKeys.length === 0) return { ok: true, config };
  const problems: string[] = [];
  const tenants = new Set(config.tenants.map((t) => t.id));
  const ids = new Set(config.keys.map((k) => k.id));
  const hashes = new Set(config.keys.map((k) => k.key_sha256.toLowerCase()));
  fileKeys.forEach((k, i) => {
    if (!tenants.has(k.tenant)) problems.push(`${source}: keys.${i}.tenant: unknown tenant "${k.tenant}"`);
    if (ids.has(k.id)) problems.push(`${source}: keys.${i}.id: duplicate key id "${k.id}"`);
    if (hashes.has(k.key_sha256.toLowerCase())) problems.push(`${source}: keys.${i}.key_sha256: duplicate key hash`);
    ids.add(k.id);
    hashes.add(k.key_sha256.toLowerCase());
  });
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, config: { ...config, keys: [...config.keys, ...fileKeys] } };
}

/** Replace the keys file's content (written to a temporary file, then renamed: never half-written). */
export function writeKeysFile(path: string, keys: readonly KeyConfig[]): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const header = '# Keys made with `switchyard keys create`: hashes only (the keys were printed once).\n';
  writeFileSync(tmp, header + stringifyYaml({ keys: keys.map((k) => ({ ...k })) }), { mode: 0o600 });
  renameSync(tmp, path);
}

/** The config file with the keys file merged in: what `serve` runs on. */
export function loadConfigWithKeys(configPath: string, keysPath: string): { ok: true; config: Config } | { ok: false; problems: string[] } {
  const loaded = loadConfigFileSync(configPath);
  if (!loaded.ok) return loaded;
  const file = readKeysFile(keysPath);
  if (!file.ok) return file;
  return mergeKeys(loaded.config, file.keys, keysPath);
}
