// What differs between two configs, in lines an operator reads in the log: one per service
// or real server added, removed or changed, naming what changed
// (`tcp 198.18.0.100:80 -> 198.18.1.11:80: weight 3 -> 5`), one per other run-time section
// that changed (timeouts, match rules, tunnel source), and apart, the names of the settings a
// running director cannot change (`dataplane.ports`, `api.listen`, `localAddresses`, ...),
// which need a restart. Pure: it reads two configs and touches nothing. Defaults are applied
// before comparing, so `weight: 1` and no weight are the same.
import { DEFAULT_TIMEOUTS, type FulcrumConfig, type ServiceConfig } from './config_schema';
import { serverId, serviceKey } from './identity';
import { DYNAMIC_KEYS } from './state';

export interface ConfigDiff {
  /** Services, real servers and the other run-time sections, one line each. */
  changes: string[];
  /** Settings that differ and take effect only on restart, by name. */
  restartOnly: string[];
}

type Json = unknown;


// What an absent field means (the schema's defaults), so both sides compare alike.
const SERVICE_DEFAULTS: Record<string, Json> = { scheduler: 'wlc', quorum: 1, hysteresis: 0, inhibitOnFailure: false, onePacket: false, synproxy: false };
const SERVER_DEFAULTS: Record<string, Json> = { method: 'dr', weight: 1, upperThreshold: 0, lowerThreshold: 0 };
const RUNTIME_DEFAULTS: Record<string, Json> = { timeouts: { ...DEFAULT_TIMEOUTS }, matchRules: [] };

const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
const same = (a: Json, b: Json) => JSON.stringify(a) === JSON.stringify(b);

/** A value as a line shows it: scalars as they are, lists of scalars comma-joined, small
 * objects as `key=value ...`, "-" for none; anything bigger is only said to have changed. */
function shown(v: Json): string | undefined {
  if (v === undefined || v === null) return '-';
  if (typeof v !== 'object') return String(v);
  if (Array.isArray(v)) return v.every((x) => typeof x !== 'object') ? (v.length ? v.join(',') : '-') : undefined;
  const entries = Object.entries(v);
  return entries.every(([, x]) => typeof x !== 'object') ? entries.map(([k, x]) => `${k}=${x}`).join(' ') : undefined;
}

/** `field a -> b` for each field that differs; an object on both sides one level down
 * (`persistence.timeout 300 -> 600`). */
function fieldChanges(a: Record<string, Json>, b: Record<string, Json>, defaults: Record<string, Json>, skip: string[] = []): string[] {
  const out: string[] = [];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !skip.includes(k)).sort();
  for (const k of keys) {
    // an object's default fills the fields it leaves out (timeouts: {tcp: 600} has udp 300)
    const dflt = defaults[k];
    const x = isObject(dflt) ? { ...dflt, ...(a[k] as object | undefined) } : a[k] ?? dflt;
    const y = isObject(dflt) ? { ...dflt, ...(b[k] as object | undefined) } : b[k] ?? dflt;
    if (same(x, y)) continue;
    if (isObject(x) && isObject(y)) {
      out.push(...fieldChanges(x, y, {}).map((c) => `${k}.${c}`));
      continue;
    }
    const sx = shown(x), sy = shown(y);
    out.push(sx !== undefined && sy !== undefined ? `${k} ${sx} -> ${sy}` : `${k} changed`);
  }
  return out;
}

function serviceChanges(before: ServiceConfig[], after: ServiceConfig[]): string[] {
  const out: string[] = [];
  const old = new Map(before.map((s) => [serviceKey(s), s]));
  const now = new Map(after.map((s) => [serviceKey(s), s]));
  const servers = (s: ServiceConfig) => { const n = s.realServers?.length ?? 0; return `${n} real server${n === 1 ? '' : 's'}`; };
  for (const [name, s] of old) if (!now.has(name)) out.push(`${name}: removed (${servers(s)})`);
  for (const [name, s] of now) {
    const o = old.get(name);
    if (!o) { out.push(`${name}: added (${s.scheduler ?? 'wlc'}, ${servers(s)})`); continue; }
    const fields = fieldChanges(o as Record<string, Json>, s as Record<string, Json>, SERVICE_DEFAULTS,
      ['protocol', 'address', 'port', 'fwmark', 'realServers']);
    if (fields.length) out.push(`${name}: ${fields.join(', ')}`);
    const oldServers = new Map((o.realServers ?? []).map((r) => [serverId(o, r), r]));
    const newServers = new Map((s.realServers ?? []).map((r) => [serverId(s, r), r]));
    for (const [rn, r] of oldServers) if (!newServers.has(rn)) out.push(`${name} -> ${rn}: removed (weight ${r.weight ?? 1})`);
    for (const [rn, r] of newServers) {
      const or = oldServers.get(rn);
      if (!or) { out.push(`${name} -> ${rn}: added (${r.method ?? 'dr'}, weight ${r.weight ?? 1})`); continue; }
      const rf = fieldChanges(or as Record<string, Json>, r as Record<string, Json>, SERVER_DEFAULTS, ['address', 'port']);
      if (rf.length) out.push(`${name} -> ${rn}: ${rf.join(', ')}`);
    }
  }
  return out;
}

/** The settings outside the run-time sections that differ: `dataplane.*` and `api.*` by their
 * field, the others (localAddresses, stateDir, ...) by their own name. */
/** Settings outside the dynamic sections that a reload applies all the same. */
const RELOADED = new Set(['ha.sync']);

function restartOnly(a: FulcrumConfig, b: FulcrumConfig): string[] {
  const dynamic = DYNAMIC_KEYS as readonly string[];
  const ra = a as Record<string, Json>, rb = b as Record<string, Json>;
  const out: string[] = [];
  for (const k of [...new Set([...Object.keys(ra), ...Object.keys(rb)])].filter((x) => !dynamic.includes(x)).sort()) {
    const x = ra[k], y = rb[k];
    if (same(x, y)) continue;
    if (isObject(x) || isObject(y)) {
      const xo = isObject(x) ? x : {}, yo = isObject(y) ? y : {};
      for (const f of [...new Set([...Object.keys(xo), ...Object.keys(yo)])].sort())
        if (!same(xo[f], yo[f]) && !RELOADED.has(`${k}.${f}`)) out.push(`${k}.${f}`);
    } else if (!RELOADED.has(k)) {
      out.push(k);
    }
  }
  return out;
}

/** What changes from `before` to `after`. */
export function diffConfig(before: FulcrumConfig, after: FulcrumConfig): ConfigDiff {
  const changes = serviceChanges(before.services ?? [], after.services ?? []);
  const others = (c: FulcrumConfig) => Object.fromEntries(DYNAMIC_KEYS.filter((k) => k !== 'services').map((k) => [k, c[k] as Json]));
  changes.push(...fieldChanges(others(before), others(after), RUNTIME_DEFAULTS));
  return { changes, restartOnly: restartOnly(before, after) };
}
