// keepalived as a child of `fulcrum serve`: its files in the state directory, the process
// started in this director's network namespace (it inherits serve's), restarted with back-off
// when it dies, stopped with serve, and its state changes read from its notify FIFO. It never
// outlives serve: it runs under setpriv --pdeathsig, so the kernel sends it SIGTERM when
// serve dies, kill -9 included (its own VRRP child follows its parent the same way), and a
// keepalived of an earlier serve still named in the pid file is killed before a new one
// starts. This file knows processes and files; what a state means is vrrp.ts's.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export type KeepalivedState = 'BACKUP' | 'MASTER' | 'FAULT' | 'STOP';
const STATES = new Set<string>(['BACKUP', 'MASTER', 'FAULT', 'STOP']);

export interface KeepalivedLogger {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

export interface KeepalivedOptions {
  /** A directory of its own (the state directory's keepalived/). */
  dir: string;
  /** keepalived.conf's text (vrrp_config.ts), with `fifo` and `trackFile` as paths() names them. */
  config: string;
  /** The instance whose lines count (keepalived.conf's vrrp_instance). */
  instance: string;
  log: KeepalivedLogger;
  /** A state keepalived reported for the instance, with its priority then. */
  onState(state: KeepalivedState, priority: number): void;
  /** keepalived is not running (it died; a restart is due): no state holds. */
  onDown(reason: string): void;
  /** The executable (default: keepalived on PATH). */
  binary?: string;
}

/** Restarts wait 1 s, doubling to 30 s; a run of a minute resets the wait. */
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;
const STABLE_MS = 60_000;
const STOP_GRACE_MS = 5000;

/** Why keepalived cannot be run here (not installed), or undefined. */
export function keepalivedMissing(binary = 'keepalived'): string | undefined {
  const onPath = (name: string) => name.includes('/') ? fs.existsSync(name)
    : (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => d && fs.existsSync(path.join(d, name)));
  if (!onPath(binary)) return `ha.vrrp: ${binary} is not installed (apt-get install keepalived; scripts/setup installs it)`;
  if (!onPath('setpriv')) return 'ha.vrrp: setpriv (util-linux) is not installed; it ties keepalived\'s life to fulcrum serve\'s';
  return undefined;
}

/** The files keepalived and serve share in `dir`. */
export function keepalivedPaths(dir: string) {
  return {
    config: path.join(dir, 'keepalived.conf'),
    fifo: path.join(dir, 'notify.fifo'),
    trackFile: path.join(dir, 'health'),
    pid: path.join(dir, 'keepalived.pid'),
    vrrpPid: path.join(dir, 'vrrp.pid'),
  };
}

/** One line of keepalived's notify FIFO ("INSTANCE "name" STATE priority"), or undefined for
 * other lines (groups, other instances, MASTER_RX_LOWER_PRI). */
export function parseNotifyLine(line: string, instance: string): { state: KeepalivedState; priority: number } | undefined {
  const m = /^INSTANCE "([^"]*)" ([A-Z_]+) (\d+)\s*$/.exec(line);
  if (!m || m[1] !== instance || !STATES.has(m[2])) return undefined;
  return { state: m[2] as KeepalivedState, priority: Number(m[3]) };
}

export class Keepalived {
  private readonly files: ReturnType<typeof keepalivedPaths>;
  private child?: ChildProcess;
  private fifo?: net.Socket;
  private fifoFd?: number;
  private stopping = false;
  private restartTimer?: NodeJS.Timeout;
  private wait = RESTART_MIN_MS;
  private startedAt = 0;
  /** How many times it was started again after dying. */
  restarts = 0;

  constructor(private readonly o: KeepalivedOptions) {
    this.files = keepalivedPaths(o.dir);
  }

  get pid(): number | undefined { return this.child?.pid; }
  get paths() { return this.files; }

  /** Writes its files, kills a keepalived an earlier serve left, opens the FIFO, starts it. */
  start(): void {
    fs.mkdirSync(this.o.dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(this.files.config, this.o.config, { mode: 0o600 });
    this.killLeftover();
    this.openFifo();
    this.spawn();
  }

  /** Stops it (SIGTERM: it sends priority 0, so the peer takes over at once) and waits. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const c = this.child;
    if (c && c.exitCode === null && c.signalCode === null) {
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => c.kill('SIGKILL'), STOP_GRACE_MS);
        c.once('exit', () => { clearTimeout(kill); resolve(); });
        c.kill('SIGTERM');
      });
    }
    this.closeFifo();
  }

  /** Kills what pid files of an earlier run name, when it is a keepalived on our config. */
  private killLeftover(): void {
    for (const f of [this.files.pid, this.files.vrrpPid]) {
      let pid: number;
      try {
        pid = Number(fs.readFileSync(f, 'utf8').trim());
      } catch {
        continue;
      }
      if (!Number.isInteger(pid) || pid <= 1) continue;
      let cmd = '';
      try {
        cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;  // gone
      }
      if (!cmd.includes('keepalived') || !cmd.includes(this.files.config)) continue;
      this.o.log.warn({ pid, pidFile: f }, 'a keepalived of an earlier run still runs on this state directory: killed');
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    // Whatever they named is gone or killed now; keepalived would refuse to start ("daemon is
    // already running") while a killed one is not yet reaped.
    for (const f of [this.files.pid, this.files.vrrpPid]) fs.rmSync(f, { force: true });
  }

  /** The FIFO opened read-write and non-blocking: the open never waits for a writer and the
   * stream never ends when keepalived closes its side (it reopens it after a restart). */
  private openFifo(): void {
    try {
      if (!fs.statSync(this.files.fifo).isFIFO()) fs.rmSync(this.files.fifo);
    } catch { /* absent */ }
    if (!fs.existsSync(this.files.fifo)) execFileSync('mkfifo', ['-m', '600', this.files.fifo]);
    this.fifoFd = fs.openSync(this.files.fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    const sock = new net.Socket({ fd: this.fifoFd, readable: true, writable: false });
    let pending = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const s = parseNotifyLine(line, this.o.instance);
        if (s) this.o.onState(s.state, s.priority);
      }
    });
    sock.on('error', (e) => this.o.log.error({ err: e.message }, 'reading keepalived\'s notify FIFO failed'));
    this.fifo = sock;
  }

  private closeFifo(): void {
    this.fifo?.destroy();
    this.fifo = undefined;
  }

  private spawn(): void {
    const bin = this.o.binary ?? 'keepalived';
    // -n: stay in the foreground (our child); -l -G: log to stdout/stderr, not syslog; -D:
    // detail; -P: VRRP only (Fulcrum checks real servers itself); pid files of our own, so
    // several directors (or namespaces) on one host never meet in /run.
    const args = ['--pdeathsig', 'TERM', '--', bin, '-n', '-l', '-G', '-D', '-P', '-f', this.files.config,
      '-p', this.files.pid, '-r', this.files.vrrpPid];
    const child = spawn('setpriv', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.startedAt = Date.now();
    const relay = (stream: NodeJS.ReadableStream | null) => {
      let rest = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (c: string) => {
        rest += c;
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          // keepalived's own timestamp prefix ("Thu Dec  3 04:30:43 2026: ") is ours to give.
          const line = rest.slice(0, nl).replace(/^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}: /, '');
          rest = rest.slice(nl + 1);
          if (line.trim()) this.o.log.info({ keepalived: line }, 'keepalived');
        }
      });
    };
    relay(child.stdout);
    relay(child.stderr);
    child.once('error', (e) => this.o.log.error({ err: e.message }, 'keepalived could not be started (is it installed? scripts/setup installs it)'));
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopping) return;
      const reason = signal ? `killed by ${signal}` : `exited with status ${code}`;
      if (Date.now() - this.startedAt >= STABLE_MS) this.wait = RESTART_MIN_MS;
      this.o.log.error({ reason, restartInMs: this.wait }, 'keepalived stopped; this director gives up its VIPs until it runs again');
      this.o.onDown(reason);
      this.restartTimer = setTimeout(() => {
        this.restarts++;
        this.killLeftover();  // its VRRP child, should it have outlived it
        this.spawn();
      }, this.wait);
      this.wait = Math.min(this.wait * 2, RESTART_MAX_MS);
    });
    this.o.log.info({ pid: child.pid, config: this.files.config }, 'keepalived started');
  }
}
