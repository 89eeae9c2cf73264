// A daemon Fulcrum runs as serve's child (keepalived, BIRD): started under setpriv --pdeathsig
// (the kernel sends it SIGTERM when serve dies, kill -9 included), its output relayed into
// serve's log a line at a time, restarted with back-off when it dies (1 s, doubling to 30 s; a
// run of a minute resets the wait), stopped with SIGTERM then SIGKILL after a grace, and a copy
// an earlier serve left on the same files (named in its pid files) killed before it starts.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface SupervisorLogger {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

export interface SupervisedOptions {
  /** How logs name it ('keepalived', 'BIRD'); relayed lines go under `logKey`. */
  name: string;
  logKey: string;
  /** Its command line (run as setpriv's). */
  argv: string[];
  /** Its own timestamp at the start of a line, which serve's log gives instead. */
  timestamp: RegExp;
  /** Pid files an earlier run wrote; what they name is killed when its command line holds
   * `marker` and `config`. They and `stale` files are removed before a start. */
  pidFiles: string[];
  marker: string;
  config: string;
  stale?: string[];
  log: SupervisorLogger;
  /** Logged when it dies: what the director goes without meanwhile. */
  whileDown: string;
  /** Logged when it cannot be executed. */
  notInstalled: string;
  onUp?(): void;
  onDown?(reason: string): void;
}

const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;
const STABLE_MS = 60_000;
const STOP_GRACE_MS = 5000;

/** Whether `name` (a path, or a command looked up on PATH and the sbin directories) exists. */
export function onPath(name: string): boolean {
  if (name.includes('/')) return fs.existsSync(name);
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin'])
    .some((d) => d && fs.existsSync(path.join(d, name)));
}

export class Supervised {
  private child?: ChildProcess;
  private stopping = false;
  private restartTimer?: NodeJS.Timeout;
  private wait = RESTART_MIN_MS;
  private startedAt = 0;
  /** How many times it was started again after dying. */
  restarts = 0;

  constructor(private readonly o: SupervisedOptions) {}

  get pid(): number | undefined { return this.child?.pid; }

  running(): boolean {
    const c = this.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  start(): void {
    this.killLeftover();
    this.spawn();
  }

  /** SIGTERM (keepalived sends priority 0, BIRD closes its sessions), SIGKILL after a grace. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const c = this.child;
    if (c && this.running()) {
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => c.kill('SIGKILL'), STOP_GRACE_MS);
        c.once('exit', () => { clearTimeout(kill); resolve(); });
        c.kill('SIGTERM');
      });
    }
  }

  /** Kills what the pid files of an earlier run name, when it is ours on our config. */
  killLeftover(): void {
    for (const f of this.o.pidFiles) {
      let pid = NaN;
      try { pid = Number(fs.readFileSync(f, 'utf8').trim()); } catch { /* none */ }
      if (!Number.isInteger(pid) || pid <= 1) continue;
      let cmd = '';
      try { cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { /* gone */ }
      if (!cmd.includes(this.o.marker) || !cmd.includes(this.o.config)) continue;
      this.o.log.warn({ pid, pidFile: f }, `a ${this.o.name} of an earlier run still runs on this state directory: killed`);
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    // Whatever they named is gone or killed now; a daemon refuses to start ("already running")
    // while a killed one's pid file is there and it is not yet reaped.
    for (const f of [...this.o.pidFiles, ...(this.o.stale ?? [])]) fs.rmSync(f, { force: true });
  }

  private spawn(): void {
    const child = spawn('setpriv', ['--pdeathsig', 'TERM', '--', ...this.o.argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.startedAt = Date.now();
    const relay = (stream: NodeJS.ReadableStream | null) => {
      let rest = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (c: string) => {
        rest += c;
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, nl).replace(this.o.timestamp, '');
          rest = rest.slice(nl + 1);
          if (line.trim()) this.o.log.info({ [this.o.logKey]: line }, this.o.logKey);
        }
      });
    };
    relay(child.stdout);
    relay(child.stderr);
    child.once('error', (e) => this.o.log.error({ err: e.message }, this.o.notInstalled));
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopping) return;
      const reason = signal ? `killed by ${signal}` : `exited with status ${code}`;
      if (Date.now() - this.startedAt >= STABLE_MS) this.wait = RESTART_MIN_MS;
      this.o.log.error({ reason, restartInMs: this.wait }, `${this.o.name} stopped; ${this.o.whileDown}`);
      this.o.onDown?.(reason);
      this.restartTimer = setTimeout(() => {
        this.restarts++;
        this.killLeftover();  // a child of it (keepalived's VRRP process), should it have outlived it
        this.spawn();
      }, this.wait);
      this.wait = Math.min(this.wait * 2, RESTART_MAX_MS);
    });
    this.o.log.info({ pid: child.pid, config: this.o.config }, `${this.o.name} started`);
    this.o.onUp?.();
  }
}
