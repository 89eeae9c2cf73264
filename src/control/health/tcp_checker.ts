// TCP_CHECK (keepalived's): a connection within the timeout is up. Every TCP check runs through
// the addon's prober (native/health/tcp_prober.h), whose thread owns the sockets and resets a
// connection once made: the checks of a turn of the event loop go to it as one array and what
// has finished comes back as one, so 20,000 checks a second cost this thread a few
// microseconds each (Node's own sockets cost tens each, more than a 2-core host has to give).
// Results read as they did with Node's sockets: "connected to a:p", "connect to a:p: connect
// ECONNREFUSED a:p", "no connection to a:p within 3s". Runs on the thread that owns the monitor,
// never on a check thread (pool.ts), which would load the addon into a worker.
import { getSystemErrorName } from 'node:util';
import { nativeAddon, type NativeTcpProber } from '../../native';
import { parseIpv4 } from '../ipv4';
import { parseIpv6 } from '../ipv6';
import { DEFAULT_TIMEOUT_S, endpoint, hostPort, type CheckOptions, type CheckResult, type CheckTarget, type TcpCheck } from './checkers';

/** A check in flight: what its result needs and who hears it. */
interface Pending {
  /** host:port, [IPv6]:port */
  where: string;
  timeoutS: number;
  done: (r: CheckResult) => void;
}

/** Outcome statuses from the prober besides an errno. */
const CONNECTED = 0;
const TIMED_OUT = -1;
/** Words per probe in the prober's start array (NativeTcpProber.start). */
const PROBE_WORDS = 8;
/** Ids stay positive int32s: outcomes come back in an Int32Array. */
const MAX_ID = 0x7fffffff;

const aborted = (): CheckResult => ({ ok: false, detail: 'aborted' });

export class TcpChecker {
  /** holdProcess: checks in flight keep the process alive, as Node's sockets do (a monitor's do
   * not: it never keeps a process alive by itself). */
  constructor(private readonly opts: { holdProcess?: boolean } = {}) {}

  private prober?: NativeTcpProber;
  private held = false;
  private readonly pending = new Map<number, Pending>();
  /** This turn's starts, PROBE_WORDS each as the prober takes them (grown as needed, reused). */
  private starts = new Uint32Array(PROBE_WORDS * 1024);
  private startWords = 0;
  private aborts: number[] = [];
  private nextId = 1;
  private flushQueued = false;

  /** Starts one check; `done` gets its result once, later (never before run() returns). The
   * function returned cancels it: `done` gets { ok: false, 'aborted' } at once and the socket
   * closes. */
  run(check: TcpCheck, target: CheckTarget, done: (r: CheckResult) => void): () => void {
    const timeoutS = check.timeout ?? DEFAULT_TIMEOUT_S;
    const ep = endpoint(check, target);
    const refuse = (detail: string) => {
      let live = true;
      queueMicrotask(() => {
        if (!live) return;
        live = false;
        done({ ok: false, detail });
      });
      return () => {
        if (!live) return;
        live = false;
        done(aborted());
      };
    };
    if (typeof ep === 'string') return refuse(ep);
    const v4 = parseIpv4(ep.host);
    const v6 = v4 === undefined ? parseIpv6(ep.host) : undefined;
    if (v4 === undefined && v6 === undefined) return refuse(`connect to ${ep.host}:${ep.port}: '${ep.host}' is not an IP address`);
    const id = this.nextId;
    this.nextId = id === MAX_ID ? 1 : id + 1;
    this.pending.set(id, { where: hostPort(ep), timeoutS, done });
    if (this.startWords === this.starts.length) {
      const bigger = new Uint32Array(this.starts.length * 2);
      bigger.set(this.starts);
      this.starts = bigger;
    }
    const w = this.startWords;
    this.starts[w] = id;
    this.starts[w + 1] = ep.port;
    this.starts[w + 2] = Math.max(1, Math.round(timeoutS * 1000));
    if (v6) {
      this.starts[w + 3] = 6;
      const words = new DataView(v6.buffer);
      for (let k = 0; k < 4; k++) this.starts[w + 4 + k] = words.getUint32(4 * k);
    } else {
      this.starts[w + 3] = 4;
      this.starts[w + 4] = v4!;
    }
    this.startWords = w + PROBE_WORDS;
    this.flushSoon();
    return () => {
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      this.aborts.push(id);
      this.flushSoon();
      this.holdWhileBusy();
      p.done(aborted());
    };
  }

  /** Cancels every check in flight (each hears 'aborted') and stops the prober's thread; the
   * next run() starts another. */
  close(): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    this.startWords = 0;
    this.aborts = [];
    this.prober?.close();
    this.prober = undefined;
    this.held = false;
    for (const p of all) p.done(aborted());
  }

  /** The checks and cancels of this turn go to the prober together. */
  private flushSoon() {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  private flush() {
    this.flushQueued = false;
    const words = this.startWords;
    const aborts = this.aborts;
    this.startWords = 0;
    this.aborts = [];
    try {
      // Starts first: a check started and cancelled in the same turn is aborted after it starts.
      if (words) {
        this.prober ??= new (nativeAddon().TcpProber)((outcomes) => this.outcomes(outcomes));
        this.prober.start(this.starts.subarray(0, words));  // copied before it returns
      }
      if (aborts.length) this.prober?.abort(Uint32Array.from(aborts));
    } catch (e) {
      // No addon, or its thread cannot start: the checks fail saying why (run() checked what it sends).
      const detail = `cannot run TCP checks: ${(e as Error).message}`;
      const ids = this.starts.slice(0, words);
      for (let i = 0; i < words; i += PROBE_WORDS) this.settle(ids[i], { ok: false, detail });
    }
    this.holdWhileBusy();
  }

  /** With holdProcess, the prober keeps the event loop alive exactly while checks are in flight. */
  private holdWhileBusy() {
    if (!this.opts.holdProcess || !this.prober) return;
    const busy = this.pending.size > 0;
    if (busy === this.held) return;
    this.held = busy;
    if (busy) this.prober.ref();
    else this.prober.unref();
  }

  private outcomes(o: Int32Array) {
    // One caller's exception must not lose the other checks of the batch: it is thrown after.
    let failure: unknown;
    for (let i = 0; i < o.length; i += 2) {
      const p = this.pending.get(o[i]);
      if (!p) continue;
      try {
        this.settle(o[i], result(p, o[i + 1]));
      } catch (e) {
        failure ??= e;
      }
    }
    this.holdWhileBusy();
    if (failure !== undefined) throw failure;
  }

  private settle(id: number, r: CheckResult) {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.done(r);
  }
}

/** A status as a result, worded as a Node socket's error would be. */
function result(p: Pending, status: number): CheckResult {
  const where = p.where;
  if (status === CONNECTED) return { ok: true, detail: `connected to ${where}` };
  if (status === TIMED_OUT) return { ok: false, detail: `no connection to ${where} within ${p.timeoutS}s` };
  return { ok: false, detail: `connect to ${where}: connect ${getSystemErrorName(-status)} ${where}` };
}

let shared: TcpChecker | undefined;

/** One TCP check as a promise, on a checker shared by the process (it never keeps it alive);
 * the monitor runs its own TcpChecker. */
export function checkTcp(check: TcpCheck, target: CheckTarget, opts: CheckOptions = {}): Promise<CheckResult> {
  if (opts.signal?.aborted) return Promise.resolve(aborted());
  shared ??= new TcpChecker({ holdProcess: true });
  const checker = shared;
  return new Promise((resolve) => {
    const onAbort = () => cancel();
    const cancel = checker.run(check, target, (r) => {
      opts.signal?.removeEventListener('abort', onAbort);
      resolve(r);
    });
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
