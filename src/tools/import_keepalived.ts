// `fulcrum import-keepalived FILE [-o OUT]`: the LVS part of a keepalived.conf as a Fulcrum
// config. It reads keepalived's syntax (blocks, quoted words, # and ! comments, include) and
// translates virtual servers (by address, fwmark or group), their real servers and checkers
// (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, UDP_CHECK, DNS_CHECK) with keepalived's defaults
// and precedence (checker over real server over virtual server), local address groups and
// lvs_timeouts. The config is checked with the loader's validateConfig before it is written.
// Everything it cannot translate is listed on stderr by file and line, and so is what works
// differently on a DPDK director (fwmark services need match rules, not iptables marks). The
// dataplane (ports, workers) is not in a keepalived.conf: the output carries a stand-in marked
// `placeholder`, which the loader refuses, so nothing starts until the operator replaces it.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ConfigError, parseIpv4, validateConfig } from '../control/config_load';
import { canonicalAddress, familyOf } from '../control/address';
import { serviceKey } from '../control/identity';
import {
  SCHEDULERS, SCHED_FLAGS, type FulcrumConfig, type HealthCheckConfig, type RealServerConfig, type ServiceConfig,
} from '../control/config_schema';
import { UsageError } from '../cli/args';

// ---- keepalived's syntax ------------------------------------------------------------------------

/** One keyword line with its words, where it was, and the block it opens, if any. */
export interface Statement {
  words: string[];
  file: string;
  line: number;
  block?: Statement[];
}

export interface Note { file: string; line: number; message: string }
const noteText = (n: Note) => `${n.file}:${n.line}: ${n.message}`;

/** Splits a line into words: blanks separate, "..." keeps blanks, # or ! starts a comment,
 * { and } are words of their own. */
function lineWords(text: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\r') { i++; continue; }
    if (c === '#' || c === '!') break;
    if (c === '{' || c === '}') { words.push(c); i++; continue; }
    if (c === '"') {
      const end = text.indexOf('"', i + 1);
      words.push(text.slice(i + 1, end < 0 ? text.length : end));
      i = end < 0 ? text.length : end + 1;
      continue;
    }
    let j = i;
    while (j < text.length && !' \t\r{}"'.includes(text[j])) j++;
    words.push(text.slice(i, j));
    i = j;
  }
  return words;
}

/** Expands an include pattern (wildcards * and ? in the last component), relative to the
 * including file's directory; names stay relative when the including file's is. */
function includeFiles(pattern: string, from: string): string[] {
  const full = path.isAbsolute(pattern) ? pattern : path.join(path.dirname(from), pattern);
  const dir = path.dirname(full), base = path.basename(full);
  if (!/[*?]/.test(base)) return fs.existsSync(full) ? [full] : [];
  const re = new RegExp('^' + base.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  try {
    return fs.readdirSync(dir).filter((f) => re.test(f)).sort().map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

/** Parses keepalived.conf text into statements, following `include` lines (not more than 8
 * deep, as keepalived allows). */
export function parseKeepalived(text: string, file: string, notes: Note[], depth = 0): Statement[] {
  const top: Statement[] = [];
  const stack: Statement[][] = [top];
  let last: Statement | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    let words: string[] = [];
    const flush = () => {
      if (!words.length) return;
      if (words[0] === 'include' && stack.length === 1) {
        const files = words.slice(1).flatMap((p) => includeFiles(p, file));
        if (!files.length) notes.push({ file, line, message: `include ${words.slice(1).join(' ')}: no such file, skipped` });
        for (const f of files) {
          if (depth >= 8) { notes.push({ file, line, message: `include ${f}: nested too deep, skipped` }); continue; }
          top.push(...parseKeepalived(fs.readFileSync(f, 'utf8'), f, notes, depth + 1));
        }
      } else {
        last = { words, file, line };
        stack[stack.length - 1].push(last);
      }
      words = [];
    };
    for (const w of lineWords(raw)) {
      if (w === '{') {
        flush();
        if (!last || last.block) { notes.push({ file, line, message: 'a block without a keyword, skipped' }); last = { words: ['?'], file, line }; }
        last.block = [];
        stack.push(last.block);
        last = undefined;
      } else if (w === '}') {
        flush();
        if (stack.length > 1) stack.pop();
        else notes.push({ file, line, message: 'an unmatched }, ignored' });
        last = undefined;
      } else words.push(w);
    }
    flush();
  });
  if (stack.length > 1) notes.push({ file, line: text.split('\n').length, message: 'the file ends inside a block' });
  return top;
}

// ---- translation --------------------------------------------------------------------------------

/** What a level (virtual server, real server, checker) may set for the checkers under it. */
interface Timing {
  delayLoop?: number;
  connectTimeout?: number;
  retry?: number;
  delayBeforeRetry?: number;
  warmup?: number;
  virtualhost?: string;
}

type Method = NonNullable<RealServerConfig['method']>;
const METHODS: Record<string, Method> = { NAT: 'nat', DR: 'dr', TUN: 'tun', FNAT: 'fullnat' };

class Translator {
  readonly notes: Note[] = [];
  readonly localGroups = new Map<string, string[]>();
  readonly vsGroups = new Map<string, Statement[]>();
  readonly usedLocalGroups = new Set<string>();
  /** A match rule to fill in per fwmark service, written commented into the output. */
  readonly markExamples: Array<{ example: string; name: string }> = [];
  timeouts?: FulcrumConfig['timeouts'];

  note(s: Statement, message: string) { this.notes.push({ file: s.file, line: s.line, message }); }

  num(s: Statement, word: string | undefined, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const v = Number(word);
    if (word === undefined || word === '' || !Number.isFinite(v) || v < min || v > max) {
      this.note(s, `${what} needs a number${max < Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : ''}, got '${word ?? ''}', ignored`);
      return undefined;
    }
    return v;
  }

  /** The timing keywords any level may carry; true when the statement was one. */
  timing(s: Statement, t: Timing): boolean {
    const [k, v] = s.words;
    switch (k) {
      case 'delay_loop': t.delayLoop = this.num(s, v, k, 0.1, 86400) ?? t.delayLoop; return true;
      case 'connect_timeout': t.connectTimeout = this.num(s, v, k, 0.05, 86400) ?? t.connectTimeout; return true;
      case 'retry': case 'nb_get_retry': t.retry = this.num(s, v, k, 0, 99) ?? t.retry; return true;
      case 'delay_before_retry': t.delayBeforeRetry = this.num(s, v, k, 0, 86400) ?? t.delayBeforeRetry; return true;
      case 'warmup': t.warmup = this.num(s, v, k, 0, 86400) ?? t.warmup; return true;
      case 'virtualhost': if (v !== undefined) t.virtualhost = v; return true;
      default: return false;
    }
  }

  // -- top level --

  collect(stmts: Statement[]) {
    for (const s of stmts) {
      const [k, name] = s.words;
      if (k === 'local_address_group' && name && s.block) this.localGroups.set(name, this.addressList(s.block, 'local address'));
      else if (k === 'virtual_server_group' && name && s.block) this.vsGroups.set(name, s.block);
    }
  }

  /** `10.0.0.1`, `10.0.0.1-10` (a range of the last byte), each with an optional word after
   * it (an interface or a port), as local_address_group lines are. */
  addressList(block: Statement[], what: string): string[] {
    const out: string[] = [];
    for (const s of block) {
      const r = this.range(s, s.words[0], what);
      if (r) out.push(...r);
    }
    return out;
  }

  range(s: Statement, word: string | undefined, what: string, ipv6 = false): string[] | undefined {
    // an IPv6 member is one address (keepalived's IPv6 ranges are not read)
    if (ipv6 && word?.includes(':') && familyOf(word) === 6) return [canonicalAddress(word)!];
    const m = /^(\d+\.\d+\.\d+\.)(\d+)(?:-(\d+))?$/.exec(word ?? '');
    if (!m || parseIpv4(m[1] + m[2]) === undefined || (m[3] !== undefined && (Number(m[3]) > 255 || Number(m[3]) < Number(m[2])))) {
      this.note(s, word?.includes(':') ? `${what} ${word}: ${ipv6 ? 'IPv6 ranges are' : 'IPv6 is'} not supported, skipped` : `${what} '${word ?? ''}' is not an IPv4 address or range, skipped`);
      return undefined;
    }
    const out: string[] = [];
    for (let b = Number(m[2]); b <= Number(m[3] ?? m[2]); b++) out.push(m[1] + b);
    return out;
  }

  translate(stmts: Statement[]): ServiceConfig[] {
    this.collect(stmts);
    const services: ServiceConfig[] = [];
    for (const s of stmts) {
      const [k] = s.words;
      switch (k) {
        case 'virtual_server': services.push(...this.virtualServer(s)); break;
        case 'virtual_server_group': case 'local_address_group': break;  // read by collect()
        case 'global_defs': this.globalDefs(s); break;
        default:
          this.note(s, `${k}${s.words[1] ? ' ' + s.words[1] : ''} not translated (not part of keepalived's LVS configuration), skipped`);
      }
    }
    // A service keepalived would configure twice is kept once.
    const seen = new Set<string>();
    return services.filter((svc, i) => {
      const key = serviceKey(svc);
      if (!seen.has(key)) { seen.add(key); return true; }
      this.notes.push({ ...this.origin[i], message: `virtual server ${key} is defined twice, the later one skipped` });
      return false;
    });
  }
  private readonly origin: Array<{ file: string; line: number }> = [];

  globalDefs(s: Statement) {
    for (const g of s.block ?? []) {
      if (g.words[0] === 'lvs_timeouts') {
        const t: NonNullable<FulcrumConfig['timeouts']> = {};
        for (let i = 1; i + 1 < g.words.length; i += 2) {
          const key = g.words[i] as 'tcp' | 'tcpfin' | 'udp';
          if (!['tcp', 'tcpfin', 'udp'].includes(key)) { this.note(g, `lvs_timeouts ${key} not supported, ignored`); continue; }
          const v = this.num(g, g.words[i + 1], `lvs_timeouts ${key}`, 1, 2147483);
          if (v !== undefined) t[key] = Math.round(v);
        }
        if (Object.keys(t).length) this.timeouts = t;
      } else if (g.words[0] === 'lvs_sync_daemon') {
        this.note(g, 'lvs_sync_daemon not supported (Fulcrum has no connection sync daemon), skipped');
      } else if (g.words[0].startsWith('lvs_')) {
        this.note(g, `${g.words[0]} not supported, skipped`);
      }
      // the rest of global_defs (router_id, notification mail, scripts …) is not LVS
    }
  }

  // -- virtual_server --

  virtualServer(s: Statement): ServiceConfig[] {
    const [, a, b] = s.words;
    const base: ServiceConfig = {};
    const keys: Array<Pick<ServiceConfig, 'address' | 'port' | 'fwmark'>> = [];
    /** Where each fwmark came from and what to call it, for the note on its MARK rule. */
    const marks: Array<{ at: Statement; name: string; mark: number }> = [];
    if (a === 'fwmark') {
      const m = this.num(s, b, 'virtual_server fwmark', 1, 4294967295);
      if (m === undefined) return [];
      keys.push({ fwmark: m });
      marks.push({ at: s, name: `virtual_server fwmark ${m}`, mark: m });
    } else if (a === 'group') {
      const g = b !== undefined ? this.vsGroups.get(b) : undefined;
      if (!g) { this.note(s, `virtual_server group ${b ?? ''}: no virtual_server_group of that name, skipped`); return []; }
      for (const m of g) {
        if (m.words[0] === 'fwmark') {
          const f = this.num(m, m.words[1], 'fwmark', 1, 4294967295);
          if (f !== undefined) {
            keys.push({ fwmark: f });
            marks.push({ at: m, name: `virtual_server group ${b}, fwmark ${f}`, mark: f });
          }
          continue;
        }
        const port = this.num(m, m.words[1] ?? '0', 'virtual_server_group port', 0, 65535);
        for (const address of this.range(m, m.words[0], 'virtual_server_group member', true) ?? []) if (port !== undefined) keys.push({ address, port });
      }
    } else {
      const address = a === undefined ? undefined : canonicalAddress(a);
      if (address === undefined) { this.note(s, `virtual_server '${a ?? ''}' is not an IPv4 or IPv6 address, skipped`); return []; }
      const port = this.num(s, b ?? '0', 'virtual_server port', 0, 65535);
      if (port === undefined) return [];
      keys.push({ address, port });
    }

    const vt: Timing = {};
    let method: Method | undefined;
    let protocol: ServiceConfig['protocol'] = 'tcp';
    let granularity: string | undefined;
    let ipFamily: ServiceConfig['family'];
    const flags: string[] = [];
    const servers: Statement[] = [];
    for (const c of s.block ?? []) {
      const [k, v, ...rest] = c.words;
      if (this.timing(c, vt)) continue;
      switch (k) {
        case 'lb_algo': case 'lvs_sched':
          if (v && (SCHEDULERS as readonly string[]).includes(v)) base.scheduler = v as ServiceConfig['scheduler'];
          else this.note(c, `${k} ${v ?? ''}: not a scheduler Fulcrum has, wlc used`);
          break;
        case 'lb_kind': case 'lvs_method': method = this.method(c, v, rest) ?? method; break;
        case 'protocol':
          if (v === 'TCP' || v === 'UDP' || v === 'SCTP') protocol = v.toLowerCase() as ServiceConfig['protocol'];
          else this.note(c, `protocol ${v ?? ''} not supported, TCP used`);
          break;
        case 'persistence_timeout': {
          const t = v === undefined ? 360 : this.num(c, v, k, 1, 2678400);
          if (t !== undefined) base.persistence = { ...base.persistence, timeout: Math.round(t) };
          break;
        }
        case 'persistence_granularity':
          // a netmask for IPv4 services, a prefix length for IPv6 ones (checked below, by family)
          if (v && (parseIpv4(v) !== undefined || /^\d{1,3}$/.test(v))) granularity = v;
          else this.note(c, `persistence_granularity ${v ?? ''}: not a netmask or prefix length, ignored`);
          break;
        case 'ip_family':
          if (v === 'inet' || v === 'inet6') ipFamily = v === 'inet6' ? 'ipv6' : 'ipv4';
          else this.note(c, `ip_family ${v ?? ''}: not inet or inet6, ignored`);
          break;
        case 'ops': base.onePacket = true; break;
        case 'flag-1': case 'flag-2': case 'flag-3': case 'sh-port': case 'sh-fallback': case 'mh-port': case 'mh-fallback':
          flags.push(k);
          break;
        case 'sorry_server': {
          const address = v === undefined ? undefined : canonicalAddress(v);
          if (address === undefined) { this.note(c, `sorry_server ${v ?? ''}: not an IPv4 or IPv6 address, skipped`); break; }
          const port = rest[0] !== undefined ? this.num(c, rest[0], 'sorry_server port', 0, 65535) : undefined;
          base.sorryServer = { ...base.sorryServer, address, ...(port !== undefined ? { port } : {}) };
          break;
        }
        case 'sorry_server_lvs_method': {
          const m = this.method(c, v, rest);
          if (m) base.sorryServer = { address: '', ...base.sorryServer, method: m };
          break;
        }
        case 'quorum': { const q = this.num(c, v, k, 1, 2147483647); if (q !== undefined) base.quorum = Math.round(q); break; }
        case 'hysteresis': { const h = this.num(c, v, k, 0, 2147483647); if (h !== undefined) base.hysteresis = Math.round(h); break; }
        case 'inhibit_on_failure': base.inhibitOnFailure = true; break;
        case 'laddr_group_name':
          if (v && this.localGroups.has(v)) this.usedLocalGroups.add(v);
          else this.note(c, `laddr_group_name ${v ?? ''}: no local_address_group of that name, skipped`);
          break;
        case 'real_server': servers.push(c); break;
        default: this.note(c, `${k} not supported, ignored`);
      }
    }
    if (base.sorryServer && !base.sorryServer.address) { this.note(s, 'sorry_server_lvs_method without a sorry_server, ignored'); delete base.sorryServer; }
    // A fwmark service's family: ip_family, else its real servers' (keepalived's rule).
    if (keys.some((k) => k.fwmark !== undefined)) {
      const rsFamily = servers.map((r) => familyOf(r.words[1] ?? '')).find((f) => f !== undefined);
      const family = ipFamily ?? (rsFamily === 6 ? 'ipv6' : undefined);
      if (family === 'ipv6') base.family = 'ipv6';
    } else if (ipFamily) this.note(s, 'ip_family is for fwmark virtual servers (the address says the family), ignored');
    if (granularity) {
      const v6 = base.family === 'ipv6' || keys.some((k) => k.address?.includes(':'));
      const mask = /^\d{1,3}$/.test(granularity) ? Number(granularity) : granularity;
      if (!base.persistence) this.note(s, 'persistence_granularity without persistence_timeout has no effect, ignored');
      else if (v6 !== (typeof mask === 'number') || (typeof mask === 'number' && (mask < 1 || mask > 128)))
        this.note(s, `persistence_granularity ${granularity}: ${v6 ? 'an IPv6 service takes a prefix length 1..128' : 'an IPv4 service takes a netmask'}, ignored`);
      else base.persistence.netmask = mask;
    }
    const sched = base.scheduler ?? 'wlc';
    const okFlags = flags.filter((f) => {
      const bad = (f.startsWith('sh-') && sched !== 'sh') || (f.startsWith('mh-') && sched !== 'mh');
      if (bad) this.note(s, `${f} is only for the ${f.slice(0, 2)} scheduler, ignored`);
      return !bad && (SCHED_FLAGS as readonly string[]).includes(f);
    });
    if (okFlags.length) base.schedFlags = [...new Set(okFlags)] as ServiceConfig['schedFlags'];
    if (!method) method = 'nat';  // keepalived's default when lb_kind is not given

    if (base.sorryServer && !base.sorryServer.method) base.sorryServer.method = method;  // keepalived uses the service's
    const realServers: RealServerConfig[] = [];
    const checks: Array<HealthCheckConfig[]> = [];
    const inhibits: boolean[] = [];
    for (const r of servers) {
      const rs = this.realServer(r, method, vt);
      if (!rs) continue;
      const id = `${rs.server.address}:${rs.server.port ?? ''}`;
      if (realServers.some((x) => `${x.address}:${x.port ?? ''}` === id)) { this.note(r, `real_server ${rs.server.address} ${rs.server.port ?? ''} is defined twice in this virtual server, the later one skipped`); continue; }
      realServers.push(rs.server);
      checks.push(rs.checks);
      // keepalived: a real server's own inhibit_on_failure, else its virtual server's.
      inhibits.push(rs.inhibit ?? base.inhibitOnFailure ?? false);
    }
    this.inhibit(s, base, realServers, inhibits);
    // The same checks on every real server are the service's; otherwise each keeps its own.
    const same = checks.length > 0 && checks[0].length > 0 && checks.every((c) => JSON.stringify(c) === JSON.stringify(checks[0]));
    if (same) base.healthChecks = checks[0];
    else realServers.forEach((rs, i) => { if (checks[i].length) rs.healthChecks = checks[i]; });
    if (realServers.some((r) => r.method === 'fullnat') && !this.usedLocalGroups.size && !this.localGroups.size)
      this.note(s, 'FNAT needs local addresses: add a local_address_group (or localAddresses in the output)');

    for (const { at, name, mark } of marks) this.markRule(at, name, mark, protocol);

    return keys.map((key) => {
      const svc: ServiceConfig = key.fwmark !== undefined ? { fwmark: key.fwmark } : { protocol, address: key.address, port: key.port };
      if (key.fwmark === undefined && key.port === 0 && !base.persistence) {
        this.note(s, 'a virtual server on port 0 must be persistent: persistence_timeout 360 added, as keepalived does');
        svc.persistence = { timeout: 360 };
      }
      // A group's services get the same checks, so the director probes each real server once
      // for all of them, with one state (the health monitor shares equal checks on one target).
      Object.assign(svc, structuredClone(base), { realServers: structuredClone(realServers) });
      this.origin.push({ file: s.file, line: s.line });
      return svc;
    });
  }

  /** Fulcrum keeps a failed real server at weight 0 per service (inhibitOnFailure), keepalived
   * per real server: when all of them agree it is the service's; otherwise the virtual
   * server's own setting stays and the note names the servers it misses. */
  inhibit(s: Statement, base: ServiceConfig, realServers: RealServerConfig[], inhibits: boolean[]) {
    const vsLevel = base.inhibitOnFailure ?? false;
    if (inhibits.length && inhibits.every((x) => x)) base.inhibitOnFailure = true;
    else if (inhibits.length && !inhibits.some((x) => x)) delete base.inhibitOnFailure;
    else if (inhibits.length) {
      const name = (r: RealServerConfig) => `${r.address}${r.port !== undefined ? ' ' + r.port : ''}`;
      const on = realServers.filter((_, i) => inhibits[i]).map(name);
      const off = realServers.filter((_, i) => !inhibits[i]).map(name);
      this.note(s, `inhibit_on_failure applies to real_server ${on.join(', ')} but not ${off.join(', ')}: ` +
        `Fulcrum applies it per virtual server (inhibitOnFailure), so ` + (vsLevel
        ? `the virtual server's is kept and a failed ${off.join(', ')} is kept at weight 0 too, not removed`
        : `it is left off and a failed ${on.join(', ')} is removed, not kept at weight 0`));
    }
  }

  /** keepalived's fwmark services take what an iptables/nft MARK rule marked in the kernel;
   * a DPDK dataplane never sees those marks, so Fulcrum marks with its own matchRules. */
  markRule(at: Statement, name: string, mark: number, protocol: ServiceConfig['protocol']) {
    const example = `{ prefix: <VIP>/32, protocol: ${protocol}, ports: "<port or low-high>", mark: ${mark} }`;
    this.markExamples.push({ example, name });
    this.note(at, `${name}: the iptables/nft MARK rule that fed it has no effect on a Fulcrum director ` +
      `(DPDK owns its NICs, so the kernel's marks never reach the dataplane); write what the rule matched ` +
      `as match rules instead, e.g. matchRules: [${example}]`);
  }

  method(s: Statement, v: string | undefined, rest: string[]): Method | undefined {
    const m = v ? METHODS[v.toUpperCase()] : undefined;
    if (!m) { this.note(s, `${s.words[0]} ${v ?? ''}: not a forwarding method (NAT, DR, TUN, FNAT), ignored`); return undefined; }
    if (m === 'tun' && rest.length && rest.join(' ') !== 'type ipip')
      this.note(s, `${s.words[0]} TUN ${rest.join(' ')}: Fulcrum tunnels with IPIP only, IPIP used`);
    return m;
  }

  // -- real_server and its checkers --

  realServer(r: Statement, method: Method, vt: Timing): { server: RealServerConfig; checks: HealthCheckConfig[]; inhibit?: boolean } | undefined {
    const [, address, port] = r.words;
    const canonical = address === undefined ? undefined : canonicalAddress(address);
    if (canonical === undefined) { this.note(r, `real_server '${address ?? ''}' is not an IPv4 or IPv6 address, skipped`); return undefined; }
    const server: RealServerConfig = { address: canonical };
    if (port !== undefined) {
      const p = this.num(r, port, 'real_server port', 0, 65535);
      if (p !== undefined) server.port = p;
    }
    server.method = method;
    const rt: Timing = { ...vt };
    const checkers: Statement[] = [];
    let inhibit: boolean | undefined;
    for (const c of r.block ?? []) {
      const [k, v, ...rest] = c.words;
      if (this.timing(c, rt)) continue;
      switch (k) {
        case 'weight': { const w = this.num(c, v, k, 0, 2147483647); if (w !== undefined) server.weight = Math.round(w); break; }
        case 'lvs_method': case 'lb_kind': server.method = this.method(c, v, rest) ?? server.method; break;
        case 'uthreshold': { const u = this.num(c, v, k, 0, 2147483647); if (u !== undefined) server.upperThreshold = Math.round(u); break; }
        case 'lthreshold': { const l = this.num(c, v, k, 0, 2147483647); if (l !== undefined) server.lowerThreshold = Math.round(l); break; }
        case 'TCP_CHECK': case 'HTTP_GET': case 'SSL_GET': case 'MISC_CHECK': case 'UDP_CHECK': case 'DNS_CHECK':
          checkers.push(c);
          break;
        case 'SMTP_CHECK': case 'PING_CHECK': case 'BFD_CHECK': case 'FILE_CHECK':
          this.note(c, `${k} not supported, skipped`);
          break;
        case 'inhibit_on_failure':
          // keepalived takes an optional true/false (on/off, yes/no); alone it means true.
          if (v === undefined || ['true', 'on', 'yes'].includes(v)) inhibit = true;
          else if (['false', 'off', 'no'].includes(v)) inhibit = false;
          else this.note(c, `inhibit_on_failure ${v}: not true or false (on/off, yes/no), ignored`);
          break;
        default: this.note(c, `${k} not supported, ignored`);
      }
    }
    return { server, checks: checkers.flatMap((c) => this.checker(c, rt)), ...(inhibit !== undefined ? { inhibit } : {}) };
  }

  checker(c: Statement, rt: Timing): HealthCheckConfig[] {
    const kind = c.words[0];
    const t: Timing = { ...rt };
    const where: { address?: string; port?: number } = {};
    const urls: Statement[] = [];
    const extra: Record<string, unknown> = {};
    for (const s of c.block ?? []) {
      const [k, v, ...rest] = s.words;
      if (this.timing(s, t)) continue;
      switch (k) {
        case 'connect_ip':
          if (v && parseIpv4(v) !== undefined) where.address = v; else this.note(s, `connect_ip ${v ?? ''}: not an IPv4 address, ignored`);
          break;
        case 'connect_port': { const p = this.num(s, v, k, 1, 65535); if (p !== undefined) where.port = p; break; }
        case 'url': if (kind === 'HTTP_GET' || kind === 'SSL_GET') urls.push(s); else this.note(s, `url in ${kind} ignored`); break;
        case 'misc_path': if (kind === 'MISC_CHECK') extra.command = splitCommand([v, ...rest].filter((x) => x !== undefined).join(' ')); else this.note(s, `${k} ignored`); break;
        case 'misc_timeout': if (kind === 'MISC_CHECK') extra.timeout = this.num(s, v, k, 0.05, 86400); else this.note(s, `${k} ignored`); break;
        case 'misc_dynamic': if (kind === 'MISC_CHECK') extra.dynamic = true; else this.note(s, `${k} ignored`); break;
        case 'payload': if (kind === 'UDP_CHECK') extra.payload = this.hex(s, v); else this.note(s, `${k} ignored`); break;
        case 'require_reply': if (kind === 'UDP_CHECK') extra.requireReply = v === undefined ? '' : this.hex(s, v); else this.note(s, `${k} ignored`); break;
        case 'min_reply_length': case 'max_reply_length':
          if (kind === 'UDP_CHECK') extra[k === 'min_reply_length' ? 'minReplyLength' : 'maxReplyLength'] = this.num(s, v, k, 0, 65507);
          else this.note(s, `${k} ignored`);
          break;
        case 'type':
          if (kind === 'DNS_CHECK' && v && ['A', 'NS', 'CNAME', 'SOA', 'MX', 'TXT', 'AAAA'].includes(v.toUpperCase())) extra.queryType = v.toUpperCase();
          else this.note(s, `type ${v ?? ''} not supported${kind === 'DNS_CHECK' ? ' (A, NS, CNAME, SOA, MX, TXT or AAAA)' : ''}, ignored`);
          break;
        case 'name': if (kind === 'DNS_CHECK' && v) extra.name = v; else this.note(s, `${k} ignored`); break;
        case 'user': this.note(s, 'user not supported (the command runs as the director), ignored'); break;
        default: this.note(s, `${k} not supported, ignored`);
      }
    }
    for (const [k, v] of Object.entries(extra)) if (v === undefined) delete extra[k];

    // keepalived's defaults where Fulcrum's differ: delay_loop 60 s, connect_timeout 5 s, retry 1
    // (DNS 3, MISC 0), delay_before_retry 1 s (HTTP and SSL 3 s, DNS delay_loop), warmup delay_loop.
    const interval = t.delayLoop ?? 60;
    const retry = t.retry ?? (kind === 'DNS_CHECK' ? 3 : kind === 'MISC_CHECK' ? 0 : 1);
    const timing = {
      interval,
      timeout: t.connectTimeout ?? 5,
      fall: retry + 1,
      rise: 1,
      delayBeforeRetry: t.delayBeforeRetry ?? (kind === 'HTTP_GET' || kind === 'SSL_GET' ? 3 : kind === 'DNS_CHECK' ? interval : 1),
      warmup: t.warmup ?? interval,
      ...where,
    };
    switch (kind) {
      case 'TCP_CHECK': return [{ type: 'tcp', ...timing }];
      case 'UDP_CHECK': return [{ type: 'udp', ...timing, ...extra }];
      case 'DNS_CHECK': return [{ type: 'dns', ...timing, ...extra }];
      case 'MISC_CHECK': {
        const command = extra.command as string[] | undefined;
        if (!command?.length) { this.note(c, 'MISC_CHECK without misc_path, skipped'); return []; }
        // misc_timeout bounds the script; keepalived's default is delay_loop
        return [{ type: 'command', ...timing, timeout: (extra.timeout as number | undefined) ?? interval, command, ...(extra.dynamic ? { dynamic: true } : {}) }];
      }
      default: {  // HTTP_GET, SSL_GET: one check per url, all of which must pass
        const type = kind === 'SSL_GET' ? 'https' : 'http';
        if (!urls.length) return [{ type, ...timing, ...(t.virtualhost ? { host: t.virtualhost } : {}) }];
        return urls.map((u) => ({ type, ...timing, ...this.url(u, t.virtualhost) }));
      }
    }
  }

  url(u: Statement, host: string | undefined): { path?: string; host?: string; statusCodes?: string[]; digest?: string } {
    const out: { path?: string; host?: string; statusCodes?: string[]; digest?: string } = {};
    const codes: string[] = [];
    for (const s of u.block ?? []) {
      const [k, v, ...rest] = s.words;
      switch (k) {
        case 'path': if (v) out.path = v; break;
        case 'digest':
          if (v && /^[0-9a-fA-F]{32}$/.test(v)) out.digest = v.toLowerCase();
          else this.note(s, `digest ${v ?? ''}: not an MD5 digest (32 hex digits), ignored`);
          break;
        case 'status_code':
          for (const code of [v, ...rest]) {
            if (code && /^[1-5]\d\d(-[1-5]\d\d)?$/.test(code)) codes.push(code);
            else this.note(s, `status_code ${code ?? ''}: not a status or range (100-599), ignored`);
          }
          break;
        case 'virtualhost': if (v) host = v; break;
        default: this.note(s, `${k} in url not supported, ignored`);
      }
    }
    if (codes.length) out.statusCodes = codes;
    if (host) out.host = host;
    return out;
  }

  hex(s: Statement, v: string | undefined): string | undefined {
    if (v !== undefined && /^([0-9a-fA-F]{2})*$/.test(v)) return v.toLowerCase();
    this.note(s, `${s.words[0]} ${v ?? ''}: not hex bytes, ignored`);
    return undefined;
  }
}

/** misc_path's command line as argv: words split at blanks, '…' and "…" keeping theirs. */
export function splitCommand(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

// ---- the output ---------------------------------------------------------------------------------

const PLACEHOLDER = 'keepalived.conf does not say which NICs, addresses and CPUs the director uses';
const PLACEHOLDER_DATAPLANE = `# PLACEHOLDER: keepalived.conf does not say which NICs, addresses and CPUs the director
# uses, so this dataplane section is a stand-in, and fulcrum serve and fulcrum check refuse the
# config while its placeholder line is there. Replace the ports (PCI addresses or vdevs), their
# addresses and routes, and the worker lcores with the director's own (see
# examples/bare-metal.yaml), then delete the placeholder line.
dataplane:
  placeholder: ${PLACEHOLDER}
  eal: ["--no-pci"]
  workers: [1]
  ports:
    - name: outside
      device: net_null0
      tap: false
    - name: inside
      device: net_null1
      tap: false
`;

export interface ImportResult {
  config: FulcrumConfig;
  yaml: string;
  /** What was not translated, as `file:line: message`. */
  notes: string[];
}

/** Translates a keepalived.conf (and what it includes) into a validated Fulcrum config. */
export function importKeepalived(file: string, text = fs.readFileSync(file, 'utf8')): ImportResult {
  const notes: Note[] = [];
  const stmts = parseKeepalived(text, file, notes);
  const tr = new Translator();
  const services = tr.translate(stmts);
  const localAddresses = [...new Set([...(tr.usedLocalGroups.size ? tr.usedLocalGroups : tr.localGroups.keys())]
    .flatMap((g) => tr.localGroups.get(g) ?? []))];
  const dynamic: Record<string, unknown> = {};
  if (localAddresses.length) dynamic.localAddresses = localAddresses;
  if (tr.timeouts) dynamic.timeouts = tr.timeouts;
  dynamic.services = services;
  const files = [...new Set([file, ...notes.map((n) => n.file), ...tr.notes.map((n) => n.file)])];
  const all = [...notes, ...tr.notes].sort((a, b) => files.indexOf(a.file) - files.indexOf(b.file) || a.line - b.line).map(noteText);

  const header = `# Fulcrum config imported from ${file} by \`fulcrum import-keepalived\`.\n` +
    `# Its services, real servers and health checks translate keepalived's LVS configuration, with\n` +
    `# keepalived's defaults written out (delay_loop 60 s, connect_timeout 5 s, fall = retry + 1, rise 1).\n` +
    (all.length ? `# The importer listed ${all.length} thing(s) it could not translate, or that work differently on a\n` +
      `# Fulcrum director, by line on stderr.\n` : '') + '\n';
  const marks = tr.markExamples.length ? '\n# The fwmark services above were fed by iptables/nft MARK rules, which have no effect on a\n' +
    '# Fulcrum director: write what each rule matched as match rules and uncomment them.\n# matchRules:\n' +
    tr.markExamples.map((m) => `#   - ${m.example}  # ${m.name}\n`).join('') : '';
  const yaml = header + PLACEHOLDER_DATAPLANE + '\n' + YAML.stringify(dynamic, { lineWidth: 0 }) + marks;
  // Everything but the placeholder is checked: the director's own ports make it a config that starts.
  const doc = YAML.parse(yaml) as FulcrumConfig;
  const { placeholder: _, ...standIn } = doc.dataplane;
  const config = validateConfig({ ...doc, dataplane: standIn }, 'the imported config');
  return { config, yaml, notes: all };
}

export const IMPORT_USAGE = `Usage: fulcrum import-keepalived FILE [-o OUT]

Translates the LVS part of a keepalived.conf (virtual servers, real servers, their checkers,
local address groups, lvs_timeouts) into a Fulcrum config, written to stdout or to OUT. What
cannot be translated, or works differently on a Fulcrum director, is listed on stderr as
FILE:LINE: message. The dataplane section is a placeholder: fulcrum serve and fulcrum check
refuse the config until it is replaced with the director's ports and its placeholder line
deleted.
`;

export async function runImportKeepalived(args: string[]): Promise<number> {
  try {
    if (args.includes('-h') || args.includes('--help')) { process.stdout.write(IMPORT_USAGE); return 0; }
    let out: string | undefined;
    const files: string[] = [];
    for (let i = 0; i < args.length; i++) {
      if (args[i] === '-o' || args[i] === '--output') {
        out = args[++i];
        if (!out) throw new UsageError(`${args[i - 1]} needs a file name`);
      } else if (args[i].startsWith('-') && args[i] !== '-') throw new UsageError(`unknown option '${args[i]}'`);
      else files.push(args[i]);
    }
    if (files.length !== 1) throw new UsageError('one keepalived.conf is needed');
    const file = files[0];
    let text: string;
    try {
      text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
    } catch (e) {
      process.stderr.write(`fulcrum import-keepalived: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
      return 2;
    }
    let r: ImportResult;
    try {
      r = importKeepalived(file === '-' ? 'stdin' : file, text);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      process.stderr.write(`fulcrum import-keepalived: the translated config is not valid:\n  ${e.problems.join('\n  ')}\n`);
      return 1;
    }
    for (const n of r.notes) process.stderr.write(n + '\n');
    if (out) fs.writeFileSync(out, r.yaml);
    else process.stdout.write(r.yaml);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`fulcrum import-keepalived: ${e.message}\n${IMPORT_USAGE}`); return 2; }
    throw e;
  }
}
