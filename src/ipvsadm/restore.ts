// `ipvsadm -R`'s input, read once for both of its readers: fvsadm -R, which sends the lines
// to the director, and PUT /v1/config with ipvsadm text, which builds the services from them.
// Both split the input as ipvsadm's config_stream_read does and parse every line with the
// command-line parser (args.ts) before anything is applied, so a bad line changes nothing and
// is reported as ipvsadm reports it, with its line number.
import type { RealServerConfig, ServiceConfig } from '../control/config_schema';
import { NeedsLookup, parseArgsNow, type IpvsadmCommand, type KnownHosts, type ParseEnv, type ParseFailure, type ServiceRef } from './args';
import { systemServices } from './addr';
import { ERRNO, ipvsStrerror, operationOf } from './kernel_errors';
import { knownScheduler, serverBody, serverId, serviceBody, serviceId } from './model';

/** -R's input as word lists with the line each starts on, split as ipvsadm's
 * config_stream_read does: words separated by blanks, tabs, CR or LF, every word "ipvsadm"
 * dropped, lines without words skipped, no quoting and no comments. Its quirk is kept too:
 * blanks after the last word of input that has no final newline end the input, dropping
 * that last line. */
export function restoreLines(text: string): Array<{ line: number; words: string[] }> {
  return [...restoreLineIter(text)];
}

/** restoreLines one line at a time (a director reads 110,000 of them between other work), of
 * one string or of its pieces in order (a director keeps a large input as it arrived). */
export function* restoreLineIter(input: string | readonly string[]): Generator<{ line: number; words: string[] }> {
  if (typeof input === 'string') {
    yield* linesOf(input, 1);
    return;
  }
  // Whole lines at a time: the lines a piece completes, and what follows them with the next.
  let carry = '';
  let lineNo = 1;
  for (let k = 0; k < input.length; k++) {
    const text = carry + input[k];
    const cut = k === input.length - 1 ? text.length : text.lastIndexOf('\n') + 1;
    carry = text.slice(cut);
    if (cut === 0) continue;
    const lines = text.slice(0, cut);
    yield* linesOf(lines, lineNo);
    for (let at = lines.indexOf('\n'); at >= 0; at = lines.indexOf('\n', at + 1)) lineNo++;
  }
}

/** The lines of text, the first numbered `first`: text ends at a line's end or the input's. */
function* linesOf(text: string, first: number): Generator<{ line: number; words: string[] }> {
  const n = text.length;
  const isBlank = (c: number) => c === 32 || c === 9 || c === 13;  // ' ', '\t', '\r'
  let i = 0;
  let lineNo = first;
  while (i < n) {
    const words: string[] = [];
    const at = lineNo;
    let ended = false;
    while (!ended) {
      if (i >= n) { if (words.length) yield { line: at, words }; return; }
      const c = text.charCodeAt(i);
      if (isBlank(c) || c === 10) {
        // blanks up to the end of the line; EOF in the middle of them drops the line
        while (i < n && isBlank(text.charCodeAt(i))) i++;
        if (i >= n) return;
        if (text.charCodeAt(i) === 10) { i++; lineNo++; ended = true; }
        continue;
      }
      let j = i;
      for (let d = c; j < n && !isBlank(d) && d !== 10; d = text.charCodeAt(++j));
      const word = text.slice(i, j);
      if (word !== 'ipvsadm') words.push(word);
      i = j;
      if (i < n) {
        if (text.charCodeAt(i) === 10) { i++; lineNo++; ended = true; } else i++;  // the one separator after the word
      }
    }
    if (words.length) yield { line: at, words };
  }
}

/** The word lists alone (what ipvsadm runs, one invocation per line). */
export const splitRestoreInput = (text: string): string[][] => restoreLines(text).map((l) => l.words);

export interface RestoreLine { line: number; command: IpvsadmCommand }

export type RestoreParse =
  /** `end` is a -h or -v line: ipvsadm stops reading there (and prints its answer). */
  | { ok: true; lines: RestoreLine[]; end?: RestoreLine }
  | { ok: false; line: number; error: ParseFailure };

/** Lines parsed between two turns of the event loop: the director reads a site's save
 * (110,000 lines) while it keeps answering. */
const SLICE = 1000;

/** Parses every line of -R's input (a nested -R is refused, as ipvsadm refuses it). */
export async function parseRestore(text: string, env: ParseEnv): Promise<RestoreParse> {
  const lines: RestoreLine[] = [];
  const lineEnv: ParseEnv = { ...env, readingStdin: true };
  const known: KnownHosts = new Map();  // each name looked up once per input
  let n = 0;
  for (const { line, words } of restoreLines(text)) {
    if (++n % SLICE === 0) await new Promise((r) => setImmediate(r));
    let p = parseArgsNow(words, lineEnv, known);
    while (p instanceof NeedsLookup) {
      known.set(p.host, await env.lookupHost(p.host));
      p = parseArgsNow(words, lineEnv, known);
    }
    if (!p.ok) return { ok: false, line, error: p.error };
    if (p.command.cmd === 'help' || p.command.cmd === 'version') return { ok: true, lines, end: { line, command: p.command } };
    lines.push({ line, command: p.command });
  }
  return { ok: true, lines };
}

// ---- ipvsadm text as a config ---------------------------------------------------------------------

/** A line of ipvsadm text that cannot become part of the config, with ipvsadm's words. */
export class IpvsadmTextError extends Error {
  constructor(readonly line: number, readonly reason: string) {
    super(`line ${line}: ${reason}`);
  }
}

export interface IpvsadmTextConfig {
  services: ServiceConfig[];
  /** From --set lines; a 0 leaves that timeout at its default. */
  timeouts?: { tcp?: number; tcpfin?: number; udp?: number };
}

/** How the director reads ipvsadm text: addresses numeric (a request never waits on DNS; a
 * name is refused as ipvsadm refuses a name it cannot resolve), port names from
 * /etc/services, read once when a name first needs it. */
let serverEnv: ParseEnv | undefined;
function directorParseEnv(): ParseEnv {
  return serverEnv ??= { program: 'ipvsadm', lookupHost: async () => undefined, services: systemServices() };
}

/** Builds the services that ipvsadm text makes from an empty table (what `ipvsadm -C; ipvsadm
 * -R < text` leaves in the kernel): every line parsed as fvsadm -R parses it, then applied
 * in order with the kernel's checks. The first bad line refuses the whole text, with
 * ipvsadm's message: the parser's, or the kernel error ipvsadm would print. Listings and
 * -h/-v have no place in a config and are refused too. */
export async function configFromIpvsadm(text: string, env: ParseEnv = directorParseEnv()): Promise<IpvsadmTextConfig> {
  const parsed = await parseRestore(text, env);
  if (!parsed.ok) throw new IpvsadmTextError(parsed.line, parsed.error.stderr.trim().split('\n').join('; '));
  if (parsed.end) throw new IpvsadmTextError(parsed.end.line, `${parsed.end.command.cmd === 'help' ? '-h' : '-v'} cannot be restored`);
  // Keyed as identity.ts keys them, in the order they were made: a line costs what it
  // touches, not the table's size (a site's save is 10,000 services of 10 real servers).
  const services = new Map<string, { service: ServiceConfig; servers: Map<string, RealServerConfig> }>();
  let timeouts: IpvsadmTextConfig['timeouts'];

  for (const { line, command: c } of parsed.lines) {
    const op = operationOf(c);
    const refuse: (errno: number, detail?: string) => never = (errno, detail) => {
      throw new IpvsadmTextError(line, ipvsStrerror(op, errno) + (detail ? ` (${detail})` : ''));
    };
    const idOf = (ref: ServiceRef) => serviceId(ref);
    switch (c.cmd) {
      case 'add-service': {
        const id = idOf(c.service);
        // the kernel finds the service first, then the scheduler and persistence engine
        if (!knownScheduler(c.scheduler) || c.pe !== undefined) refuse(services.has(id) ? ERRNO.EEXIST : ERRNO.ENOENT);
        if (services.has(id)) refuse(ERRNO.EEXIST);
        services.set(id, { service: serviceBody(c), servers: new Map() });
        break;
      }
      case 'edit-service': {
        const entry = services.get(idOf(c.service)) ?? refuse(ERRNO.ESRCH);
        if (!knownScheduler(c.scheduler) || c.pe !== undefined) refuse(ERRNO.ENOENT);
        entry.service = serviceBody(c);  // the real servers stay, as the kernel keeps them
        break;
      }
      case 'delete-service':
        if (!services.delete(idOf(c.service))) refuse(ERRNO.ESRCH);
        break;
      case 'add-server': case 'edit-server': case 'delete-server': {
        const { servers } = services.get(idOf(c.service)) ?? refuse(ERRNO.ESRCH);
        const key = serverId(c.server);
        if (c.cmd === 'delete-server') {
          if (!servers.delete(key)) refuse(ERRNO.ENOENT);
          break;
        }
        if (c.lThreshold > c.uThreshold) refuse(ERRNO.ERANGE);
        if (c.tunnel && c.tunnel.type !== 'ipip') refuse(ERRNO.EINVAL, `the director tunnels with IPIP only, not ${c.tunnel.type}`);
        if (c.cmd === 'add-server' ? servers.has(key) : !servers.has(key)) refuse(c.cmd === 'add-server' ? ERRNO.EEXIST : ERRNO.ENOENT);
        servers.set(key, serverBody(c));
        break;
      }
      case 'flush':
        services.clear();
        break;
      case 'zero':
        if (c.service && !services.has(idOf(c.service))) refuse(ERRNO.ESRCH);
        break;  // a new table has no counters to zero
      case 'set': {
        const t = Object.fromEntries(Object.entries(c.timeouts).filter(([, v]) => v));
        if (Object.keys(t).length) timeouts = { ...timeouts, ...t };
        break;
      }
      case 'start-daemon':
        refuse(ERRNO.EINVAL, 'a sync daemon is not part of a table: start it with fvsadm --start-daemon, /v1/sync or ha.sync');
        break;
      case 'stop-daemon':
        refuse(ERRNO.ESRCH);
        break;
      default:
        throw new IpvsadmTextError(line, 'a listing cannot be restored (only -A -E -D -a -e -d -C -Z and --set)');
    }
  }
  const out = [...services.values()].map(({ service, servers }) => ({ ...service, realServers: [...servers.values()] }));
  return { services: out, ...(timeouts ? { timeouts } : {}) };
}
