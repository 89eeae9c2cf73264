// One attempt of each health check type in the config's HealthCheckSchema, with keepalived's
// meaning (reference §5.2): HTTP_GET/SSL_GET, UDP_CHECK, DNS_CHECK, MISC_CHECK, and a load
// agent; TCP_CHECK, the one checked by the hundred thousand, runs in the addon (tcp_checker.ts).
// A check runs against one target, settles with a result and never throws; when it settles (or
// its signal aborts it) it has released its socket, timers and child process. Scheduling,
// rise/fall and what a result means for the dataplane live in monitor.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { HealthCheckConfig } from '../config_schema';

export interface CheckResult {
  ok: boolean;
  detail: string;
  /** Absolute weight reported by a dynamic command check (exit 2..255). */
  weight?: number;
  /** Share of the configured weight, 0..1, reported by a load agent. */
  weightFactor?: number;
}

/** The real server a check belongs to; its port is absent (or 0) for fwmark services. */
export interface CheckTarget {
  address: string;
  port?: number;
}

export interface CheckOptions {
  /** Aborting settles the check at once with ok: false and releases everything it holds. */
  signal?: AbortSignal;
}

export type TcpCheck = Extract<HealthCheckConfig, { type: 'tcp' }>;
/** Every check type but TCP: what runCheck() and the check threads run. */
export type OtherCheck = Exclude<HealthCheckConfig, TcpCheck>;
export type HttpCheck = Extract<HealthCheckConfig, { type: 'http' | 'https' }>;
export type UdpCheck = Extract<HealthCheckConfig, { type: 'udp' }>;
export type DnsCheck = Extract<HealthCheckConfig, { type: 'dns' }>;
export type CommandCheck = Extract<HealthCheckConfig, { type: 'command' }>;
export type AgentCheck = Extract<HealthCheckConfig, { type: 'agent' }>;

/** The schema's default timeout; validateConfig does not fill defaults in. */
export const DEFAULT_TIMEOUT_S = 3;
/** How long a timed-out command has between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 1000;
/** Most of a body read for a digest or an agent's answer; beyond it the check fails. */
const MAX_BODY = 4 * 1024 * 1024;
const MAX_AGENT_REPLY = 1024;

const up = (detail: string, extra: Partial<CheckResult> = {}): CheckResult => ({ ok: true, detail, ...extra });
const down = (detail: string): CheckResult => ({ ok: false, detail });
const errText = (e: unknown) => {
  const err = e as NodeJS.ErrnoException;
  const message = String(err?.message ?? e);
  return err?.code && !message.includes(err.code) ? `${err.code}: ${message}` : message;
};
const seconds = (c: { timeout?: number }) => c.timeout ?? DEFAULT_TIMEOUT_S;

/** host:port as messages and the Host header write it: an IPv6 host in brackets. */
export const hostPort = (ep: { host: string; port: number }) => (net.isIPv6(ep.host) ? `[${ep.host}]:${ep.port}` : `${ep.host}:${ep.port}`);
/** The UDP socket type for a host: IPv6 literals need udp6 (names resolve as IPv4, as before). */
const udpType = (host: string) => (net.isIPv6(host) ? 'udp6' : 'udp4');

/** Where a check connects: its own address/port if set, else the real server's. */
export function endpoint(check: { address?: string; port?: number }, target: CheckTarget): { host: string; port: number } | string {
  const port = check.port ?? (target.port ? target.port : undefined);
  if (port === undefined) return 'no port to check: the real server has none (fwmark or zero-port service); set the check\'s port';
  return { host: check.address ?? target.address, port };
}

type Finish = (r: CheckResult) => void;
type Release = (fn: () => void) => void;

/** Runs `body` until it finishes, the deadline passes or the signal aborts; whichever comes
 * first settles the promise, and every resource `body` registered is released then. */
function attempt(timeoutS: number, opts: CheckOptions, onTimeout: () => CheckResult,
  body: (finish: Finish, release: Release) => void): Promise<CheckResult> {
  return new Promise((resolve) => {
    const releases: Array<() => void> = [];
    let settled = false;
    const run = (fn: () => void) => {
      try { fn(); } catch { /* already closed */ }
    };
    const finish: Finish = (r) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      releases.forEach(run);
      resolve(r);
    };
    const onAbort = () => finish(down('aborted'));
    const timer = setTimeout(() => finish(onTimeout()), timeoutS * 1000);
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      body(finish, (fn) => (settled ? run(fn) : releases.push(fn)));
    } catch (e) {
      finish(down(errText(e)));
    }
  });
}

/** Parses "200" and "200-299" into inclusive ranges. */
function statusRanges(codes: string[]): Array<[number, number]> {
  return codes.map((c) => {
    const [lo, hi = lo] = c.split('-').map(Number);
    return [lo, hi];
  });
}

/** Sends one GET and hands the response over; errors and the end of the request go to finish. */
function get(tls: boolean, ep: { host: string; port: number }, path: string, host: string | undefined,
  finish: Finish, release: Release, onResponse: (res: http.IncomingMessage) => void) {
  const options: https.RequestOptions = {
    host: ep.host, port: ep.port, method: 'GET', path,
    // A fresh connection per check, as keepalived: a pooled one would not test connecting.
    agent: false,
    headers: { 'User-Agent': 'KeepAliveClient', Host: host ?? hostPort(ep), Connection: 'close' },
  };
  // SSL_GET does not verify the real server's certificate unless told to.
  const req = tls ? https.request({ ...options, rejectUnauthorized: false }) : http.request(options);
  release(() => req.destroy());
  req.on('error', (e) => finish(down(`GET ${path} from ${hostPort(ep)}: ${errText(e)}`)));
  req.on('response', (res) => {
    res.on('error', (e) => finish(down(`reading the body: ${errText(e)}`)));
    onResponse(res);
  });
  req.end();
}

/** HTTP_GET / SSL_GET: the status must be in statusCodes (default 200-299) and, with a digest,
 * the body's MD5 must match. */
export function checkHttp(check: HttpCheck, target: CheckTarget, opts: CheckOptions = {}): Promise<CheckResult> {
  const ep = endpoint(check, target);
  if (typeof ep === 'string') return Promise.resolve(down(ep));
  const codes = check.statusCodes ?? ['200-299'];
  const ranges = statusRanges(codes);
  const path = check.path ?? '/';
  return attempt(seconds(check), opts, () => down(`no answer to GET ${path} from ${hostPort(ep)} within ${seconds(check)}s`),
    (finish, release) => get(check.type === 'https', ep, path, check.host, finish, release, (res) => {
      const status = res.statusCode ?? 0;
      if (!ranges.some(([lo, hi]) => status >= lo && status <= hi))
        return finish(down(`status ${status}, expected ${codes.join(', ')}`));
      if (check.digest === undefined) return finish(up(`status ${status}`));
      const md5 = crypto.createHash('md5');
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY) finish(down(`body larger than ${MAX_BODY} bytes`));
        else md5.update(chunk);
      });
      res.on('end', () => {
        const got = md5.digest('hex');
        finish(got === check.digest ? up(`status ${status}, digest matches`) : down(`status ${status}, body MD5 ${got}, expected ${check.digest}`));
      });
    }));
}

/** UDP_CHECK: with requireReply, a reply starting with it (and within the length bounds) is up;
 * without, a reply or the absence of an ICMP error (ECONNREFUSED) within the timeout is up. */
export function checkUdp(check: UdpCheck, target: CheckTarget, opts: CheckOptions = {}): Promise<CheckResult> {
  const ep = endpoint(check, target);
  if (typeof ep === 'string') return Promise.resolve(down(ep));
  const where = hostPort(ep);
  const payload = check.payload !== undefined ? Buffer.from(check.payload, 'hex') : crypto.randomBytes(16);
  const prefix = check.requireReply !== undefined ? Buffer.from(check.requireReply, 'hex') : undefined;
  const judge = (msg: Buffer): CheckResult => {
    if (prefix && !msg.subarray(0, prefix.length).equals(prefix))
      return down(`reply from ${where} does not start with ${check.requireReply}`);
    if (check.minReplyLength !== undefined && msg.length < check.minReplyLength)
      return down(`reply of ${msg.length} bytes, shorter than ${check.minReplyLength}`);
    if (check.maxReplyLength !== undefined && msg.length > check.maxReplyLength)
      return down(`reply of ${msg.length} bytes, longer than ${check.maxReplyLength}`);
    return up(`reply of ${msg.length} bytes from ${where}`);
  };
  const onTimeout = () => prefix
    ? down(`no reply from ${where} within ${seconds(check)}s`)
    : up(`no ICMP error from ${where} within ${seconds(check)}s`);
  return attempt(seconds(check), opts, onTimeout, (finish, release) => {
    const sock = dgram.createSocket(udpType(ep.host));
    release(() => sock.close());
    // A connected socket is told of the ICMP port unreachable the server's host sends back.
    sock.on('error', (e: NodeJS.ErrnoException) =>
      finish(down(e.code === 'ECONNREFUSED' ? `ICMP port unreachable from ${where}` : `${where}: ${errText(e)}`)));
    sock.on('message', (msg) => finish(judge(msg)));
    sock.connect(ep.port, ep.host, () => sock.send(payload, (e) => e && finish(down(`send to ${where}: ${errText(e)}`))));
  });
}

const DNS_TYPES: Record<string, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, MX: 15, TXT: 16, AAAA: 28 };
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

/** A standard query with RD set: header, one question, class IN. */
export function dnsQuery(id: number, name: string, type: string): Buffer {
  const labels = name.split('.').filter((l) => l.length > 0).map((l) => Buffer.from(l, 'latin1'));
  const bad = labels.find((l) => l.length > 63);
  if (bad) throw new Error(`label '${bad.toString('latin1')}' is longer than 63 bytes`);
  const qname = Buffer.concat([...labels.flatMap((l) => [Buffer.from([l.length]), l]), Buffer.from([0])]);
  if (qname.length > 255) throw new Error(`name '${name}' is longer than 255 bytes`);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2);  // RD
  header.writeUInt16BE(1, 4);       // QDCOUNT
  const question = Buffer.alloc(4);
  question.writeUInt16BE(DNS_TYPES[type], 0);
  question.writeUInt16BE(1, 2);     // IN
  return Buffer.concat([header, qname, question]);
}

/** DNS_CHECK: a response with the query's ID, QR set and RCODE 0 is up; other IDs are ignored. */
export function checkDns(check: DnsCheck, target: CheckTarget, opts: CheckOptions = {}): Promise<CheckResult> {
  const ep = endpoint(check, target);
  if (typeof ep === 'string') return Promise.resolve(down(ep));
  const where = hostPort(ep);
  const name = check.name ?? '.';
  const type = check.queryType ?? 'SOA';
  const id = crypto.randomInt(0, 0x10000);
  let ignored = 0;
  const onTimeout = () => down(`no answer for ${name} ${type} from ${where} within ${seconds(check)}s` +
    (ignored ? ` (ignored ${ignored} with another ID)` : ''));
  return attempt(seconds(check), opts, onTimeout, (finish, release) => {
    const query = dnsQuery(id, name, type);
    const sock = dgram.createSocket(udpType(ep.host));
    release(() => sock.close());
    sock.on('error', (e: NodeJS.ErrnoException) =>
      finish(down(e.code === 'ECONNREFUSED' ? `ICMP port unreachable from ${where}` : `${where}: ${errText(e)}`)));
    sock.on('message', (msg) => {
      if (msg.length < 12 || msg.readUInt16BE(0) !== id) return void ignored++;
      const flags = msg.readUInt16BE(2);
      if (!(flags & 0x8000)) return finish(down(`${where} sent a query, not a response`));
      const rcode = flags & 0xf;
      if (rcode !== 0) return finish(down(`${name} ${type}: rcode ${rcode} (${RCODES[rcode] ?? 'other'}) from ${where}`));
      finish(up(`${name} ${type}: NOERROR from ${where}`));
    });
    sock.connect(ep.port, ep.host, () => sock.send(query, (e) => e && finish(down(`send to ${where}: ${errText(e)}`))));
  });
}

/** MISC_CHECK: runs argv (in its own process group, so a timeout kills what it started too);
 * exit 0 is up; with `dynamic`, 1 is down and 2..255 is up with weight exit − 2 (0 keeps the
 * weight). On timeout the group gets SIGTERM, then SIGKILL after KILL_GRACE_MS. The command
 * learns its target from FULCRUM_CHECK_ADDRESS and FULCRUM_CHECK_PORT. */
export function checkCommand(check: CommandCheck, target: CheckTarget, opts: CheckOptions = {}): Promise<CheckResult> {
  const [file, ...args] = check.command;
  const timeoutS = seconds(check);
  return new Promise((resolve) => {
    let settled = false;
    let stoppedWith: NodeJS.Signals | undefined;
    let term: NodeJS.Timeout | undefined;
    let kill: NodeJS.Timeout | undefined;
    let child: ChildProcess;
    const signalGroup = (sig: NodeJS.Signals) => {
      if (child?.pid === undefined) return;
      try { process.kill(-child.pid, sig); } catch { /* the group is gone */ }
    };
    const settle = (r: CheckResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(term);
      clearTimeout(kill);
      opts.signal?.removeEventListener('abort', onAbort);
      // What the command left behind after a timeout does not outlive the check.
      if (stoppedWith) signalGroup('SIGKILL');
      resolve(r);
    };
    const onAbort = () => {
      signalGroup('SIGKILL');
      child?.unref();
      settle(down('aborted'));
    };
    if (opts.signal?.aborted) return resolve(down('aborted'));
    try {
      child = spawn(file, args, {
        stdio: 'ignore',
        detached: true,
        env: { ...process.env, FULCRUM_CHECK_ADDRESS: check.address ?? target.address, FULCRUM_CHECK_PORT: String(check.port ?? target.port ?? 0) },
      });
    } catch (e) {
      return resolve(down(`cannot run ${file}: ${errText(e)}`));
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => settle(down(`cannot run ${file}: ${errText(e)}`)));
    child.on('exit', (code, sig) => {
      if (stoppedWith) return settle(down(`timed out after ${timeoutS}s; stopped with ${stoppedWith}`));
      if (code === null) return settle(down(`killed by ${sig}`));
      if (code === 0) return settle(up('exit 0'));
      if (check.dynamic && code >= 2) return settle(up(`exit ${code}: weight ${code - 2}`, { weight: code - 2 }));
      settle(down(`exit ${code}`));
    });
    term = setTimeout(() => {
      stoppedWith = 'SIGTERM';
      signalGroup('SIGTERM');
      kill = setTimeout(() => {
        stoppedWith = 'SIGKILL';
        signalGroup('SIGKILL');
      }, KILL_GRACE_MS);
    }, timeoutS * 1000);
  });
}

/** An agent's answer: a load percentage ("75%" or "75": 75% busy, weight factor 0.25), or
 * "down"/"drain"; anything else is a failure. */
export function parseAgentReply(text: string): CheckResult {
  const line = text.split(/\r?\n/)[0].trim();
  if (/^(down|drain)\b/i.test(line)) return down(`agent says ${JSON.stringify(line)}`);
  const m = /^(\d+(?:\.\d+)?)\s*%?$/.exec(line);
  if (!m) return down(`agent reply ${JSON.stringify(line.slice(0, 64))} is not a load percentage`);
  const load = Number(m[1]);
  if (load > 100) return down(`agent reports load ${load}%, over 100`);
  return up(`load ${load}%`, { weightFactor: (100 - load) / 100 });
}

/** A load agent on the real server: a line read over TCP, or the body of a GET (2xx). */
export function checkAgent(check: AgentCheck, target: CheckTarget, opts: CheckOptions = {}): Promise<CheckResult> {
  const ep = endpoint(check, target);
  if (typeof ep === 'string') return Promise.resolve(down(ep));
  const where = hostPort(ep);
  return attempt(seconds(check), opts, () => down(`no answer from the agent at ${where} within ${seconds(check)}s`), (finish, release) => {
    let text = '';
    const read = (stream: NodeJS.ReadableStream) => {
      stream.setEncoding('latin1');
      stream.on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('\n') || text.length >= MAX_AGENT_REPLY) finish(parseAgentReply(text.slice(0, MAX_AGENT_REPLY)));
      });
      stream.on('end', () => finish(parseAgentReply(text)));
    };
    if (check.protocol === 'http') {
      const path = check.path ?? '/';
      get(false, ep, path, undefined, finish, release, (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) return finish(down(`agent GET ${path}: status ${status}`));
        read(res);
      });
    } else {
      const sock = net.connect({ host: ep.host, port: ep.port });
      release(() => sock.destroy());
      sock.on('error', (e) => finish(down(`agent at ${where}: ${errText(e)}`)));
      read(sock);
    }
  });
}

/** Runs one attempt of any check type but TCP (tcp_checker.ts). */
export function runCheck(check: OtherCheck, target: CheckTarget, opts: CheckOptions = {}): Promise<CheckResult> {
  switch (check.type) {
    case 'http':
    case 'https': return checkHttp(check, target, opts);
    case 'udp': return checkUdp(check, target, opts);
    case 'dns': return checkDns(check, target, opts);
    case 'command': return checkCommand(check, target, opts);
    case 'agent': return checkAgent(check, target, opts);
  }
}
