// ipvsadm 1.31's command line, parsed as the real binary parses it (popt, then its own checks),
// so fvsadm accepts exactly what ipvsadm accepts and refuses the rest with ipvsadm's message,
// stream and exit code. The order of the checks is ipvsadm's, because the first failing check
// decides the message: popt's errors and each option's own check as the options come, then
// `--set`'s values, stray arguments, the scheduler flags, the command × option table, and last
// the per-command rules. Behaviour was read from ipvsadm's source and confirmed against the real
// binary (test/golden/ipvsadm/). Name lookups are injected, so tests need no DNS.
import { inetAton, inetPton4, isIPv6, parseService, stringToNumber } from './addr';

// ---- what a parse produces --------------------------------------------------------------------

export type Protocol = 'tcp' | 'udp' | 'sctp';
export type Family = 4 | 6;

/** A virtual service as ipvsadm names it: protocol, address and port, or a firewall mark
 * (fwmark > 0; protocol tcp, address 0.0.0.0 and port 0 then, as ipvsadm sets them). */
export interface ServiceRef {
  fwmark: number;
  af: Family;
  protocol: Protocol;
  address: string;
  port: number;
}

export interface Endpoint {
  af: Family;
  address: string;
  port: number;
}

/** ipvsadm's forwarding methods; `fullnat` is Fulcrum's (`--fullnat`, which ipvsadm lacks). */
export type Method = 'masq' | 'route' | 'tunnel' | 'fullnat';

export interface TunnelOptions {
  type: 'ipip' | 'gue' | 'gre';
  port: number;
  csum: 'nocsum' | 'csum' | 'remcsum';
}

/** Scheduler flag bits as the kernel keeps them (IP_VS_SVC_F_SCHED1..3 shifted down). */
export const SCHED_FLAG_1 = 1, SCHED_FLAG_2 = 2, SCHED_FLAG_3 = 4;

export interface ListFormat {
  numeric: boolean;
  stats: boolean;
  rate: boolean;
  thresholds: boolean;
  persistentConn: boolean;
  nosort: boolean;
  exact: boolean;
  tunInfo: boolean;
}

export interface DaemonOptions {
  state: 'master' | 'backup';
  mcastInterface: string;
  syncId: number;
  group?: string;
  port?: number;
  ttl?: number;
  maxlen?: number;
}

export type IpvsadmCommand =
  | { cmd: 'help' }
  | { cmd: 'version' }
  | {
    cmd: 'add-service' | 'edit-service';
    service: ServiceRef;
    scheduler: string;
    /** Present with -p; the netmask (dotted, or an IPv6 prefix length) only matters then. */
    persistence?: { timeout: number; netmask: string };
    pe?: string;
    schedFlags: number;
    onePacket: boolean;
    /** Fulcrum's and DPVS's `-j enable|disable` (ipvsadm has no SYN proxy). */
    synproxy: boolean;
  }
  | { cmd: 'delete-service'; service: ServiceRef }
  | { cmd: 'flush' }
  | { cmd: 'restore' }
  | { cmd: 'save'; format: ListFormat }
  | { cmd: 'zero'; service?: ServiceRef }
  | {
    cmd: 'add-server' | 'edit-server';
    service: ServiceRef;
    server: Endpoint;
    method: Method;
    weight: number;
    uThreshold: number;
    lThreshold: number;
    /** Only with -i. */
    tunnel?: TunnelOptions;
  }
  | { cmd: 'delete-server'; service: ServiceRef; server: Endpoint }
  | { cmd: 'set'; timeouts: { tcp: number; tcpfin: number; udp: number } }
  | { cmd: 'start-daemon'; daemon: DaemonOptions }
  | { cmd: 'stop-daemon'; daemon: { state: 'master' | 'backup'; syncId: number } }
  | { cmd: 'list'; what: 'all' | 'service' | 'connections' | 'timeout' | 'daemon'; service?: ServiceRef; format: ListFormat };

/** A refusal: the exact bytes ipvsadm writes to stderr, and its exit status. */
export interface ParseFailure {
  stderr: string;
  exit: number;
}

export type ParseResult = { ok: true; command: IpvsadmCommand } | { ok: false; error: ParseFailure };

// ---- injected lookups -------------------------------------------------------------------------

/** gethostbyname for IPv4: a host name to its first dotted address, or undefined. */
export type HostLookup = (name: string) => Promise<string | undefined>;

/** /etc/services as getservbyname/getservbyport read it: first matching line wins. */
export interface ServicesDb {
  portOf(name: string, protocol: Protocol): number | undefined;
  nameOf(port: number, protocol: Protocol): string | undefined;
}

export interface ParseEnv {
  /** argv[0] as ipvsadm prints it in its usage and "Try" lines. */
  program: string;
  lookupHost: HostLookup;
  services: ServicesDb;
  /** Set while reading -R's input: a nested -R is refused. */
  readingStdin?: boolean;
}

// ---- ipvsadm's tables -------------------------------------------------------------------------

const COMMANDS = ['add-service', 'edit-service', 'delete-service', 'flush', 'list', 'add-server',
  'delete-server', 'edit-server', 'set', 'start-daemon', 'stop-daemon', 'restore', 'save', 'zero'] as const;
type CommandName = (typeof COMMANDS)[number];

/** ipvsadm's option names, in the order of its legality table (the order checks run in). */
export const OPTION_NAMES = ['numeric', 'connection', 'service-address', 'scheduler', 'persistent', 'netmask',
  'real-server', 'forwarding-method', 'weight', 'u-threshold', 'l-threshold', 'mcast-interface', 'timeout',
  'daemon', 'stats', 'rate', 'thresholds', 'persistent-conn', 'nosort', 'syncid', 'exact', 'ops', 'pe',
  'sched-flags', 'mcast-group', 'mcast-port', 'mcast-ttl', 'sync-maxlen', 'tun-info', 'tun-type', 'tun-port',
  'tun-nocsum', 'tun-csum', 'tun-remcsum', 'synproxy'] as const;
export type OptionName = (typeof OPTION_NAMES)[number];

// Command × option legality, one string per command over OPTION_NAMES:
// '+' required, 'x' illegal, '1' at most one of the '1's, ' ' optional.
// The last column (-j, synproxy) is Fulcrum's and DPVS's, not ipvsadm's.
//                          -n -c svc -s -p -M -r fwd -w -x -y mc tot dmn st rt thr pc srt sid ex ops pe -b grp prt ttl len tinf type tprt nocs csum remc -j
const LEGALITY: Record<CommandName, string> = {
  'add-service':    'xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx ',
  'edit-service':   'xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx ',
  'delete-service': 'xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'flush':          'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'list':           ' 11xxxxxxxxx11       xxxxxxx xxxxxx',
  'add-server':     'xx+xxx+    xxxxxxxxxxxxxxxxxx     x',
  'delete-server':  'xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'edit-server':    'xx+xxx+    xxxxxxxxxxxxxxxxxx     x',
  'set':            'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'start-daemon':   'xxxxxxxxxxx xxxxxxx xxxx    xxxxxxx',
  'stop-daemon':    'xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxxx',
  'restore':        'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'save':           ' xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'zero':           'xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
};

// Tunnel type × option, over tun-port, tun-nocsum, tun-csum, tun-remcsum.
const TUNNEL_OPTIONS: OptionName[] = ['tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum'];
const TUNNEL_LEGALITY: Record<TunnelOptions['type'], string> = { ipip: 'xxxx', gue: '+111', gre: 'x11x' };

export const DEFAULT_SCHEDULER = 'wlc';
export const DEFAULT_PERSISTENCE_TIMEOUT = 360;  // IPVS_SVC_PERSISTENT_TIMEOUT (the man page's 300 is wrong)
const MAX_TIMEOUT = 86400 * 31;
const INT_MAX = 2147483647;
const UINT_MAX = 4294967295;

// ---- popt, as far as ipvsadm uses it ------------------------------------------------------------

type ArgKind = 'none' | 'required' | 'optional';
interface PoptOption { long?: string; short?: string; arg: ArgKind; tag: string }

const o = (long: string | undefined, short: string | undefined, arg: ArgKind, tag?: string): PoptOption =>
  ({ long, short, arg, tag: tag ?? long ?? short! });

// ipvsadm's popt table; "list" is listed twice (-L and -l), the first wins for --list.
const POPT_TABLE: PoptOption[] = [
  o('add-service', 'A', 'none'), o('edit-service', 'E', 'none'), o('delete-service', 'D', 'none'),
  o('clear', 'C', 'none'), o('list', 'L', 'none'), o('list', 'l', 'none'), o('zero', 'Z', 'none'),
  o('add-server', 'a', 'none'), o('edit-server', 'e', 'none'), o('delete-server', 'd', 'none'),
  o('set', undefined, 'none'), o('help', 'h', 'none'), o('version', 'v', 'none'), o('restore', 'R', 'none'),
  o('save', 'S', 'none'), o('start-daemon', undefined, 'required'), o('stop-daemon', undefined, 'required'),
  o('tcp-service', 't', 'required'), o('udp-service', 'u', 'required'), o('sctp-service', undefined, 'required'),
  o('fwmark-service', 'f', 'required'), o('scheduler', 's', 'required'), o('persistent', 'p', 'optional'),
  o('netmask', 'M', 'required'), o('real-server', 'r', 'required'), o('masquerading', 'm', 'none'),
  o('ipip', 'i', 'none'), o('gatewaying', 'g', 'none'), o('weight', 'w', 'required'),
  o('u-threshold', 'x', 'required'), o('l-threshold', 'y', 'required'), o('numeric', 'n', 'none'),
  o('connection', 'c', 'none'), o('mcast-interface', undefined, 'required'), o('syncid', undefined, 'required'),
  o('timeout', undefined, 'none'), o('daemon', undefined, 'none'), o('stats', undefined, 'none'),
  o('rate', undefined, 'none'), o('thresholds', undefined, 'none'), o('persistent-conn', undefined, 'none'),
  o('nosort', undefined, 'none'), o('sort', undefined, 'none'), o('exact', 'X', 'none'), o('ipv6', '6', 'none'),
  o('ops', 'o', 'none'), o('pe', undefined, 'required'), o('sched-flags', 'b', 'required'),
  o('mcast-group', undefined, 'required'), o('mcast-port', undefined, 'required'),
  o('mcast-ttl', undefined, 'required'), o('sync-maxlen', undefined, 'required'), o('tun-info', undefined, 'none'),
  o('tun-type', undefined, 'required'), o('tun-port', undefined, 'required'), o('tun-nocsum', undefined, 'none'),
  o('tun-csum', undefined, 'none'), o('tun-remcsum', undefined, 'none'),
  // Fulcrum's: FullNAT as a forwarding method (DPVS's ipvsadm spells it the same way).
  o('fullnat', undefined, 'none'),
  // Fulcrum's and DPVS's: the SYN proxy per service, `-j enable|disable`.
  o('synproxy', 'j', 'required'),
];

type PoptEvent = { opt: PoptOption; arg?: string } | { error: 'unknown option' | 'missing argument' | 'option does not take an argument' };

/** popt's option walk: bundled short options (`-Lnc`), `-sARG`, `-s=ARG`, `--long=ARG`, an
 * optional argument taken only when the next word does not start with '-', `--` ending the
 * options, and every other word kept as a leftover argument in order. */
class Popt {
  private next = 0;
  private bundle: string | null = null;
  private restAreArgs = false;
  readonly leftovers: string[] = [];

  constructor(private readonly argv: string[]) {}

  /** poptBadOption: the word popt consumed last. */
  get badOption(): string { return this.argv[this.next - 1] ?? ''; }

  private takeNext(kind: ArgKind): { arg?: string } | 'missing' {
    if (this.next >= this.argv.length) return kind === 'optional' ? {} : 'missing';
    if (kind === 'optional' && this.argv[this.next].startsWith('-')) return {};
    return { arg: this.argv[this.next++] };
  }

  read(): PoptEvent | undefined {
    for (;;) {
      if (this.bundle !== null) {
        const opt = POPT_TABLE.find((x) => x.short === this.bundle![0]);
        const rest = this.bundle.slice(1);
        this.bundle = null;
        if (!opt) return { error: 'unknown option' };
        if (opt.arg === 'none') {
          if (rest.startsWith('=')) return { error: 'option does not take an argument' };
          if (rest) this.bundle = rest;
          return { opt };
        }
        if (rest) return { opt, arg: rest.startsWith('=') ? rest.slice(1) : rest };
        const t = this.takeNext(opt.arg);
        return t === 'missing' ? { error: 'missing argument' } : { opt, ...t };
      }
      if (this.next >= this.argv.length) return undefined;
      const word = this.argv[this.next++];
      if (this.restAreArgs || !word.startsWith('-') || word === '-') { this.leftovers.push(word); continue; }
      if (word === '--') { this.restAreArgs = true; continue; }
      if (!word.startsWith('--')) { this.bundle = word.slice(1); continue; }
      const body = word.slice(2);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      const opt = POPT_TABLE.find((x) => x.long === name);
      if (!opt) return { error: 'unknown option' };
      if (opt.arg === 'none') return eq < 0 ? { opt } : { error: 'option does not take an argument' };
      if (eq >= 0) return { opt, arg: body.slice(eq + 1) };
      const t = this.takeNext(opt.arg);
      return t === 'missing' ? { error: 'missing argument' } : { opt, ...t };
    }
  }

  /** poptGetArg: the next leftover argument. */
  arg(): string | undefined { return this.leftovers.shift(); }
}

// ---- the parse ----------------------------------------------------------------------------------

class Fail extends Error {
  constructor(readonly failure: ParseFailure) { super(failure.stderr); }
}
const fail = (message: string, exit = 2): never => { throw new Fail({ stderr: message + '\n', exit }); };

export function tryHelp(program: string): ParseFailure {
  return { stderr: `Try \`${program} -h' or '${program} --help' for more information.\n`, exit: 255 };
}

/** What ipvsadm's command entry holds while parsing (its `ce`, options and format). */
interface Entry {
  cmd?: CommandName | 'help' | 'version';
  options: Set<OptionName>;
  svc: ServiceRef & { protocolSet: boolean };
  scheduler: string;
  persistent: boolean;
  timeout: number;
  netmask: string;
  pe?: string;
  schedFlagsArg?: string;
  schedFlags: number;
  onePacket: boolean;
  synproxy: boolean;
  dest: Endpoint & { portGiven: boolean };
  method: Method;
  weight: number;
  uThreshold: number;
  lThreshold: number;
  tunnel: TunnelOptions;
  timeouts: { tcp: number; tcpfin: number; udp: number };
  daemon: DaemonOptions;
  format: ListFormat;
}

// The options that may come first, by popt tag (the long name), and the command each starts.
const FIRST_COMMANDS: Record<string, CommandName | 'help' | 'version'> = {
  'add-service': 'add-service', 'edit-service': 'edit-service', 'delete-service': 'delete-service',
  clear: 'flush', list: 'list', zero: 'zero', 'add-server': 'add-server', 'edit-server': 'edit-server',
  'delete-server': 'delete-server', set: 'set', restore: 'restore', save: 'save',
  'start-daemon': 'start-daemon', 'stop-daemon': 'stop-daemon', help: 'help', version: 'version',
};

function setOption(e: Entry, name: OptionName) {
  if (e.options.has(name)) fail(`multiple '${name}' options specified`);
  e.options.add(name);
}

function parseTimeout(s: string | undefined, min: number, max: number): number {
  if (s === undefined) return DEFAULT_PERSISTENCE_TIMEOUT;
  const v = stringToNumber(s, min, max);
  return v ?? fail(`invalid timeout value \`${s}' specified`);
}

function parseFwmark(s: string): number {
  const v = stringToNumber(s, 1, UINT_MAX);
  return v ?? fail(`invalid fwmark value \`${s}' specified`);
}

/** ipvsadm's parse_sched_flags: comma-separated names, the sh-/mh- ones only for their scheduler. */
export function parseSchedFlags(scheduler: string, arg: string): number {
  let flags = 0;
  for (const f of arg.split(',').filter((x) => x)) {
    const bit = ({ 'flag-1': SCHED_FLAG_1, 'flag-2': SCHED_FLAG_2, 'flag-3': SCHED_FLAG_3,
      'sh-fallback': SCHED_FLAG_1, 'sh-port': SCHED_FLAG_2, 'mh-fallback': SCHED_FLAG_1, 'mh-port': SCHED_FLAG_2 } as Record<string, number>)[f];
    if (bit === undefined) fail(`invalid scheduler flag \`${f}'`);
    if ((f.startsWith('sh-') && scheduler !== 'sh') || (f.startsWith('mh-') && scheduler !== 'mh'))
      fail(`incompatible scheduler flag \`${f}'`);
    flags |= bit;
  }
  return flags;
}

const isIpv4Multicast = (a: string) => { const first = Number(a.split('.')[0]); return first >= 224 && first <= 239; };
const isIpv6Multicast = (a: string) => /^ff/i.test(a);

/** A host name the parse needs resolved before it can go on: parsing is synchronous (a -R of
 * 110,000 lines costs no promise per option), names are looked up between attempts. */
export class NeedsLookup {
  constructor(readonly host: string) {}
}

/** Host names already looked up during one parse (or one -R input): name -> address or none. */
export type KnownHosts = Map<string, string | undefined>;

function resolver(known: KnownHosts): (host: string) => string | undefined {
  return (host) => {
    const a = inetAton(host);
    if (a !== undefined) return a;
    if (!known.has(host)) throw new NeedsLookup(host);
    return known.get(host);
  };
}

function handleOption(e: Entry, opt: PoptOption, arg: string | undefined, popt: Popt, env: ParseEnv,
  resolve: (host: string) => string | undefined): void {
  const a = arg ?? '';
  switch (opt.tag) {
    case 'tcp-service': case 'udp-service': case 'sctp-service': {
      setOption(e, 'service-address');
      const protocol: Protocol = opt.tag === 'tcp-service' ? 'tcp' : opt.tag === 'udp-service' ? 'udp' : 'sctp';
      e.svc.protocol = protocol;
      e.svc.protocolSet = true;
      const p = parseService(a, protocol, env.services, resolve);
      if (!p) fail('illegal virtual server address[:port] specified');
      e.svc.af = p!.af;
      e.svc.address = p!.address;
      if (p!.port !== undefined) e.svc.port = p!.port;
      if (p!.af === 6) e.netmask = '128';
      return;
    }
    case 'fwmark-service':
      setOption(e, 'service-address');
      e.svc.af = 4;
      e.svc.protocol = 'tcp';  // a sane value, unused for fwmark services
      e.svc.protocolSet = true;
      e.svc.fwmark = parseFwmark(a);
      return;
    case 'scheduler':
      setOption(e, 'scheduler');
      e.scheduler = a;
      return;
    case 'persistent':
      setOption(e, 'persistent');
      e.persistent = true;
      e.timeout = parseTimeout(arg, 1, MAX_TIMEOUT);
      return;
    case 'netmask':
      setOption(e, 'netmask');
      if (e.svc.af !== 6) {
        const m = resolve(a);
        if (m === undefined) fail('illegal virtual server persistent mask specified');
        e.netmask = m!;
      } else {
        const len = Number(/^[ \t\n\v\f\r]*([+-]?\d+)/.exec(a)?.[1] ?? 0);  // atoi
        if (len < 1 || len > 128) fail('illegal ipv6 netmask specified');
        e.netmask = String(len);
      }
      return;
    case 'real-server': {
      setOption(e, 'real-server');
      const p = parseService(a, e.svc.protocolSet ? e.svc.protocol : undefined, env.services, resolve);
      if (!p) fail('illegal real server address[:port] specified');
      e.dest.af = p!.af;
      e.dest.address = p!.address;
      // without a port, the service's port as known at this point
      e.dest.port = p!.port ?? e.svc.port;
      e.dest.portGiven = p!.port !== undefined;
      return;
    }
    case 'ipip': setOption(e, 'forwarding-method'); e.method = 'tunnel'; return;
    case 'gatewaying': setOption(e, 'forwarding-method'); e.method = 'route'; return;
    case 'masquerading': setOption(e, 'forwarding-method'); e.method = 'masq'; return;
    case 'fullnat': setOption(e, 'forwarding-method'); e.method = 'fullnat'; return;
    case 'weight': {
      setOption(e, 'weight');
      const w = stringToNumber(a, 0, INT_MAX);  // Debian's ipvsadm allows INT_MAX, upstream 65535
      if (w === undefined) fail('illegal weight specified');
      e.weight = w!;
      return;
    }
    case 'u-threshold': {
      setOption(e, 'u-threshold');
      const v = stringToNumber(a, 0, INT_MAX);
      if (v === undefined) fail('illegal u_threshold specified');
      e.uThreshold = v!;
      return;
    }
    case 'l-threshold': {
      setOption(e, 'l-threshold');
      const v = stringToNumber(a, 0, INT_MAX);
      if (v === undefined) fail('illegal l_threshold specified');
      e.lThreshold = v!;
      return;
    }
    case 'connection': setOption(e, 'connection'); return;
    case 'numeric': setOption(e, 'numeric'); e.format.numeric = true; return;
    case 'mcast-interface': setOption(e, 'mcast-interface'); e.daemon.mcastInterface = a; return;
    case 'syncid': {
      setOption(e, 'syncid');
      const v = stringToNumber(a, 0, 255);
      if (v === undefined) fail('illegal syncid specified');
      e.daemon.syncId = v!;
      return;
    }
    case 'timeout': setOption(e, 'timeout'); return;
    case 'daemon': setOption(e, 'daemon'); return;
    case 'stats': setOption(e, 'stats'); e.format.stats = true; return;
    case 'rate': setOption(e, 'rate'); e.format.rate = true; return;
    case 'thresholds': setOption(e, 'thresholds'); e.format.thresholds = true; return;
    case 'persistent-conn': setOption(e, 'persistent-conn'); e.format.persistentConn = true; return;
    case 'nosort': setOption(e, 'nosort'); e.format.nosort = true; return;
    case 'sort': return;  // the default; kept for compatibility, may repeat
    case 'exact': setOption(e, 'exact'); e.format.exact = true; return;
    case 'ipv6':
      if (!e.svc.fwmark) fail('-6 used before -f\n');
      e.svc.af = 6;
      e.netmask = '128';
      return;
    case 'ops': setOption(e, 'ops'); e.onePacket = true; return;
    case 'synproxy':
      setOption(e, 'synproxy');
      if (a !== 'enable' && a !== 'disable') fail(`invalid synproxy value \`${a}' specified (enable or disable)`);
      e.synproxy = a === 'enable';
      return;
    case 'pe': setOption(e, 'pe'); e.pe = a; return;
    case 'sched-flags': setOption(e, 'sched-flags'); e.schedFlagsArg = a; return;
    case 'mcast-group':
      setOption(e, 'mcast-group');
      if (a.includes(':')) {
        if (!isIPv6(a) || !isIpv6Multicast(a)) fail(`invalid IPv6 mcast-group \`${a}'`);
      } else if (!inetPton4(a) || !isIpv4Multicast(a)) fail(`invalid IPv4 mcast-group \`${a}'`);
      e.daemon.group = a;
      return;
    case 'mcast-port': {
      setOption(e, 'mcast-port');
      const v = stringToNumber(a, 1, 65535);
      if (v === undefined) fail('illegal mcast-port specified');
      e.daemon.port = v!;
      return;
    }
    case 'mcast-ttl': {
      setOption(e, 'mcast-ttl');
      const v = stringToNumber(a, 1, 255);
      if (v === undefined) fail('illegal mcast-ttl specified');
      e.daemon.ttl = v!;
      return;
    }
    case 'sync-maxlen': {
      setOption(e, 'sync-maxlen');
      const v = stringToNumber(a, 1, 65535 - 28);
      if (v === undefined) fail('illegal sync-maxlen specified');
      e.daemon.maxlen = v!;
      return;
    }
    case 'tun-info': setOption(e, 'tun-info'); e.format.tunInfo = true; return;
    case 'tun-type':
      setOption(e, 'tun-type');
      if (a !== 'ipip' && a !== 'gue' && a !== 'gre') fail('illegal tunnel type specified');
      e.tunnel.type = a as TunnelOptions['type'];
      return;
    case 'tun-port': {
      setOption(e, 'tun-port');
      const v = stringToNumber(a, 1, 65535);
      if (v === undefined) fail('illegal tunnel port specified');
      e.tunnel.port = v!;
      return;
    }
    case 'tun-nocsum': setOption(e, 'tun-nocsum'); e.tunnel.csum = 'nocsum'; return;
    case 'tun-csum': setOption(e, 'tun-csum'); e.tunnel.csum = 'csum'; return;
    case 'tun-remcsum': setOption(e, 'tun-remcsum'); e.tunnel.csum = 'remcsum'; return;
    default:
      // a command after the first, -h or -v: popt knows it, ipvsadm does not take it here
      fail(`invalid option \`${popt.badOption}'`);
  }
}

function checkLegality(cmd: CommandName, options: Set<OptionName>) {
  const row = LEGALITY[cmd];
  let first: OptionName | undefined;
  OPTION_NAMES.forEach((name, j) => {
    const rule = row[j];
    if (!options.has(name)) {
      if (rule === '+') fail(`You need to supply the '${name}' option for the '${cmd}' command`);
      return;
    }
    if (rule === 'x') fail(`Illegal '${name}' option with the '${cmd}' command`);
    if (rule === '1') {
      if (first === undefined) first = name;
      else fail(`The option '${name}' conflicts with the '${first}' option in the '${cmd}' command`);
    }
  });
}

function checkTunnel(type: TunnelOptions['type'], options: Set<OptionName>) {
  const row = TUNNEL_LEGALITY[type];
  let first: OptionName | undefined;
  TUNNEL_OPTIONS.forEach((name, j) => {
    const rule = row[j];
    if (!options.has(name)) {
      if (rule === '+') fail(`You need to supply the '${name}' option for the '${type}' tunnel type`);
      return;
    }
    if (rule === 'x') fail(`Illegal '${name}' option with the '${type}' tunnel type`);
    if (rule === '1') {
      if (first === undefined) first = name;
      else fail(`The option '${name}' conflicts with the '${first}' option in the '${type}' tunnel type`);
    }
  });
}

function blankEntry(): Entry {
  return {
    options: new Set(),
    svc: { fwmark: 0, af: 4, protocol: 'tcp', address: '0.0.0.0', port: 0, protocolSet: false },
    scheduler: '',
    schedFlags: 0,
    persistent: false,
    timeout: 0,
    netmask: '255.255.255.255',  // /32 persistence granularity
    onePacket: false,
    synproxy: false,
    dest: { af: 4, address: '0.0.0.0', port: 0, portGiven: false },
    method: 'route',  // -g is the default
    weight: 1,
    uThreshold: 0,
    lThreshold: 0,
    tunnel: { type: 'ipip', port: 0, csum: 'nocsum' },
    timeouts: { tcp: 0, tcpfin: 0, udp: 0 },
    daemon: { state: 'master', mcastInterface: '', syncId: 0 },
    format: { numeric: false, stats: false, rate: false, thresholds: false, persistentConn: false, nosort: false, exact: false, tunInfo: false },
  };
}

const serviceOf = (e: Entry): ServiceRef =>
  ({ fwmark: e.svc.fwmark, af: e.svc.af, protocol: e.svc.protocol, address: e.svc.address, port: e.svc.port });
const endpointOf = (e: Entry): Endpoint => ({ af: e.dest.af, address: e.dest.address, port: e.dest.port });

function commandOf(e: Entry): IpvsadmCommand {
  const cmd = e.cmd!;
  switch (cmd) {
    case 'help': case 'version': case 'flush': case 'restore':
      return { cmd };
    // Optional fields assigned, not spread into the literal: a spread there costs microseconds
    // per command, and a -R of 110,000 lines makes one command per line.
    case 'add-service': case 'edit-service': {
      const c: IpvsadmCommand & { cmd: typeof cmd } = {
        cmd, service: serviceOf(e), scheduler: e.scheduler || DEFAULT_SCHEDULER, schedFlags: e.schedFlags, onePacket: e.onePacket,
        synproxy: e.synproxy,
      };
      if (e.persistent) c.persistence = { timeout: e.timeout, netmask: e.netmask };
      if (e.pe !== undefined) c.pe = e.pe;
      return c;
    }
    case 'delete-service':
      return { cmd, service: serviceOf(e) };
    case 'save':
      return { cmd, format: e.format };
    case 'zero':
      return e.options.has('service-address') ? { cmd, service: serviceOf(e) } : { cmd };
    case 'add-server': case 'edit-server': {
      const c: IpvsadmCommand & { cmd: typeof cmd } = {
        cmd, service: serviceOf(e), server: endpointOf(e), method: e.method, weight: e.weight,
        uThreshold: e.uThreshold, lThreshold: e.lThreshold,
      };
      if (e.method === 'tunnel') c.tunnel = e.tunnel;
      return c;
    }
    case 'delete-server':
      return { cmd, service: serviceOf(e), server: endpointOf(e) };
    case 'set':
      return { cmd, timeouts: e.timeouts };
    case 'start-daemon':
      return { cmd, daemon: { ...e.daemon, mcastInterface: e.daemon.mcastInterface || 'eth0' } };
    case 'stop-daemon':
      return { cmd, daemon: { state: e.daemon.state, syncId: e.daemon.syncId } };
    case 'list': {
      const what = e.options.has('connection') ? 'connections' : e.options.has('service-address') ? 'service'
        : e.options.has('timeout') ? 'timeout' : e.options.has('daemon') ? 'daemon' : 'all';
      return { cmd, what, ...(what === 'service' ? { service: serviceOf(e) } : {}), format: e.format };
    }
  }
}

/** Parses one ipvsadm invocation's arguments (without argv[0]). No arguments lists the table,
 * as ipvsadm does. */
export async function parseArgs(argv: string[], env: ParseEnv): Promise<ParseResult> {
  const known: KnownHosts = new Map();
  for (;;) {
    const r = parseArgsNow(argv, env, known);
    if (!(r instanceof NeedsLookup)) return r;
    known.set(r.host, await env.lookupHost(r.host));
  }
}

/** parseArgs without waiting: the result, or the host name to look up (into `known`) before
 * trying again. The same arguments and names always give the same result. */
export function parseArgsNow(argv: string[], env: ParseEnv, known: KnownHosts): ParseResult | NeedsLookup {
  try {
    return parseArgsSync(argv, env, resolver(known));
  } catch (err) {
    if (err instanceof NeedsLookup) return err;
    throw err;
  }
}

function parseArgsSync(argv: string[], env: ParseEnv, resolve: (host: string) => string | undefined): ParseResult {
  if (argv.length === 0) return { ok: true, command: { cmd: 'list', what: 'all', format: blankEntry().format } };
  const e = blankEntry();
  const popt = new Popt(argv);
  try {
    // The first option must be a command.
    const first = popt.read();
    if (!first || 'error' in first) return { ok: false, error: tryHelp(env.program) };
    const cmd = FIRST_COMMANDS[first.opt.tag];
    if (!cmd) return { ok: false, error: tryHelp(env.program) };
    if (cmd === 'help' || cmd === 'version') return { ok: true, command: { cmd } };
    if (cmd === 'start-daemon' || cmd === 'stop-daemon') {
      if (first.arg === 'master' || first.arg === 'backup') e.daemon.state = first.arg;
      else fail(cmd === 'start-daemon' ? 'illegal start-daemon parameter specified' : 'illegal start_daemon specified');
    }
    e.cmd = cmd;

    for (let ev = popt.read(); ev; ev = popt.read()) {
      if ('error' in ev) return { ok: false, error: { stderr: `${popt.badOption}: ${ev.error}\n`, exit: 255 } };
      handleOption(e, ev.opt, ev.arg, popt, env, resolve);
    }

    if (cmd === 'set') {
      const [tcp, tcpfin, udp] = [popt.arg(), popt.arg(), popt.arg()];
      if (tcp === undefined || tcpfin === undefined || udp === undefined) fail('--set option requires 3 timeout values');
      e.timeouts = { tcp: parseTimeout(tcp, 0, MAX_TIMEOUT), tcpfin: parseTimeout(tcpfin, 0, MAX_TIMEOUT), udp: parseTimeout(udp, 0, MAX_TIMEOUT) };
    }
    const stray = popt.arg();
    if (stray !== undefined) fail(`unexpected argument ${stray}`);
    if (e.schedFlagsArg !== undefined) e.schedFlags = parseSchedFlags(e.scheduler || DEFAULT_SCHEDULER, e.schedFlagsArg);

    checkLegality(cmd, e.options);

    if (cmd === 'add-service' || cmd === 'edit-service') {
      if (!e.svc.fwmark && !e.svc.port && !e.persistent) fail('Zero port specified for non-persistent service');
      if (e.onePacket && !e.svc.fwmark && e.svc.protocol !== 'udp') fail('One-Packet Scheduling is only for UDP virtual services');
    }
    if (cmd === 'add-server' || cmd === 'edit-server') {
      // DR and TUN cannot change the port: the real server gets the service's.
      if (!e.svc.fwmark && (e.method === 'tunnel' || e.method === 'route')) e.dest.port = e.svc.port;
      // Fulcrum's FullNAT also takes IPv6 clients to IPv4 servers (NAT64, as DPVS).
      if (e.dest.af !== e.svc.af && e.method !== 'tunnel' && !(e.method === 'fullnat' && e.svc.af === 6 && e.dest.af === 4))
        fail('Different address family is allowed only for tunneling servers');
      if (['tun-type', 'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum'].some((x) => e.options.has(x as OptionName)) && e.method !== 'tunnel')
        fail('Tunnel options conflict with forward method');
      checkTunnel(e.tunnel.type, e.options);
    }
    if (cmd === 'list') {
      const o = e.options;
      if (((o.has('connection') || o.has('timeout') || o.has('daemon')) && (o.has('stats') || o.has('rate') || o.has('thresholds')))
        || ((o.has('timeout') || o.has('daemon')) && o.has('persistent-conn')))
        fail('options conflicts in the list command');
    }
    if (cmd === 'restore' && env.readingStdin) return { ok: false, error: tryHelp(env.program) };
    return { ok: true, command: commandOf(e) };
  } catch (err) {
    if (err instanceof Fail) return { ok: false, error: err.failure };
    throw err;
  }
}
