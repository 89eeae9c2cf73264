// keepalived as a child of `fulcrum serve`: its files in the state directory, the process
// started in this director's network namespace (it inherits serve's), restarted with back-off
// when it dies, stopped with serve, and its state changes read from its notify FIFO. It never
// outlives serve: it runs under setpriv --pdeathsig, so the kernel sends it SIGTERM when
// serve dies, kill -9 included (its own VRRP child follows its parent the same way), and a
// keepalived of an earlier serve still named in the pid file is killed before a new one
// starts. This file knows processes and files; what a state means is vrrp.ts's.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { onPath, Supervised, type SupervisorLogger } from './supervised';

export type KeepalivedState = 'BACKUP' | 'MASTER' | 'FAULT' | 'STOP';
const STATES = new Set<string>(['BACKUP', 'MASTER', 'FAULT', 'STOP']);

export type KeepalivedLogger = SupervisorLogger;

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

/** Why keepalived cannot be run here (not installed), or undefined. */
export function keepalivedMissing(binary = 'keepalived'): string | undefined {
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
  private readonly proc: Supervised;
  private fifo?: net.Socket;
  private fifoFd?: number;

  constructor(private readonly o: KeepalivedOptions) {
    const files = keepalivedPaths(o.dir);
    this.files = files;
    // -n: stay in the foreground (our child); -l -G: log to stdout/stderr, not syslog; -D:
    // detail; -P: VRRP only (Fulcrum checks real servers itself); pid files of our own, so
    // several directors (or namespaces) on one host never meet in /run.
    this.proc = new Supervised({
      name: 'keepalived', logKey: 'keepalived',
      argv: [o.binary ?? 'keepalived', '-n', '-l', '-G', '-D', '-P', '-f', files.config, '-p', files.pid, '-r', files.vrrpPid],
      // keepalived's own timestamp prefix ("Thu Dec  3 04:30:43 2026: ") is ours to give.
      timestamp: /^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}: /,
      pidFiles: [files.pid, files.vrrpPid], marker: 'keepalived', config: files.config,
      log: o.log, whileDown: 'this director gives up its VIPs until it runs again',
      notInstalled: 'keepalived could not be started (is it installed? scripts/setup installs it)',
      onDown: (reason) => o.onDown(reason),
    });
  }

  get pid(): number | undefined { return this.proc.pid; }
  /** How many times it was started again after dying. */
  get restarts(): number { return this.proc.restarts; }
  get paths() { return this.files; }

  /** Writes its files, opens the FIFO, kills a keepalived an earlier serve left, starts it. */
  start(): void {
    fs.mkdirSync(this.o.dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(this.files.config, this.o.config, { mode: 0o600 });
    this.openFifo();
    this.proc.start();
  }

  /** Stops it (SIGTERM: it sends priority 0, so the peer takes over at once) and waits. */
  async stop(): Promise<void> {
    await this.proc.stop();
    this.closeFifo();
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
}
