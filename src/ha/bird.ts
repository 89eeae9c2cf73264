// BIRD 2 as a child of `fulcrum serve`, as keepalived.ts runs keepalived: its files in the
// state directory's bird/, the process started in this director's network namespace (it
// inherits serve's) under setpriv --pdeathsig (the kernel sends it SIGTERM when serve dies,
// kill -9 included, and it closes its sessions with a Cease), restarted with back-off when it
// dies, a BIRD of an earlier serve still named in the pid file killed before a new one starts.
// Fulcrum talks to it through its control socket with birdc: `configure` after vips.conf
// changes, `show protocols` for the sessions. This file knows processes and files; what is
// announced and why is bgp.ts's.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { KeepalivedLogger as Logger } from './keepalived';

export interface BirdOptions {
  /** A directory of its own (the state directory's bird/). */
  dir: string;
  /** bird.conf's text (bgp_config.ts), including paths().vips. */
  config: string;
  /** vips.conf's text at start. */
  vips: string;
  log: Logger;
  /** BIRD started (again): what it announces is vips.conf's. */
  onUp?(): void;
  /** BIRD is not running (it died; a restart is due): nothing is announced. */
  onDown?(reason: string): void;
  /** The executables (default: bird and birdc on PATH). */
  binary?: string;
  birdc?: string;
}

/** One BGP session as `birdc show protocols` lists it. */
export interface BirdProtocol {
  name: string;
  proto: string;
  state: string;
  since: string;
  info: string;
}

const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;
const STABLE_MS = 60_000;
const STOP_GRACE_MS = 5000;
const BIRDC_TIMEOUT_MS = 5000;

/** Why BIRD cannot be run here (not installed), or undefined. */
export function birdMissing(binary = 'bird'): string | undefined {
  const onPath = (name: string) => name.includes('/') ? fs.existsSync(name)
    : (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin']).some((d) => d && fs.existsSync(path.join(d, name)));
  if (!onPath(binary) || !onPath('birdc')) return `ha.bgp: ${binary} is not installed (apt-get install bird2; scripts/setup installs it)`;
  if (!onPath('setpriv')) return 'ha.bgp: setpriv (util-linux) is not installed; it ties BIRD\'s life to fulcrum serve\'s';
  return undefined;
}

export function birdPaths(dir: string) {
  return {
    config: path.join(dir, 'bird.conf'),
    vips: path.join(dir, 'vips.conf'),
    ctl: path.join(dir, 'bird.ctl'),
    pid: path.join(dir, 'bird.pid'),
  };
}

/** `birdc show protocols` output: its table rows (the header and BIRD's greeting skipped). */
export function parseProtocols(text: string): BirdProtocol[] {
  const out: BirdProtocol[] = [];
  for (const line of text.split('\n')) {
    // name proto table state since(date? time) info...
    const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(up|down|start|stop|flush)\s+(\S+(?: \S+:\S+)?)\s*(.*)$/.exec(line.trimEnd());
    if (!m || m[1] === 'Name') continue;
    out.push({ name: m[1], proto: m[2], state: m[4], since: m[5], info: m[6].trim() });
  }
  return out;
}

export class Bird {
  private readonly files: ReturnType<typeof birdPaths>;
  private child?: ChildProcess;
  private stopping = false;
  private restartTimer?: NodeJS.Timeout;
  private wait = RESTART_MIN_MS;
  private startedAt = 0;
  restarts = 0;

  constructor(private readonly o: BirdOptions) {
    this.files = birdPaths(o.dir);
  }

  get pid(): number | undefined { return this.child?.pid; }
  get paths() { return this.files; }

  start(): void {
    fs.mkdirSync(this.o.dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(this.files.config, this.o.config, { mode: 0o600 });  // it may hold passwords
    fs.writeFileSync(this.files.vips, this.o.vips);
    this.killLeftover();
    this.spawn();
  }

  /** Replaces vips.conf and has BIRD read its config again: the static protocol's routes
   * change, the sessions stay. Resolves once BIRD has taken it (rejects when it has not). */
  async announce(vipsText: string): Promise<void> {
    const tmp = `${this.files.vips}.tmp`;
    fs.writeFileSync(tmp, vipsText);
    fs.renameSync(tmp, this.files.vips);
    if (!this.running()) return;  // a start reads the file
    const out = await this.birdc(['configure']);
    if (!/Reconfigured|Reconfiguration in progress|Reconfiguration already in progress/.test(out))
      throw new Error(`birdc configure: ${out.trim().split('\n').slice(-1)[0] ?? 'no answer'}`);
  }

  async protocols(): Promise<BirdProtocol[]> {
    if (!this.running()) return [];
    return parseProtocols(await this.birdc(['show', 'protocols']));
  }

  running(): boolean {
    const c = this.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** Stops it (SIGTERM: it closes every session with a Cease, so the routers withdraw at once). */
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

  private birdc(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(this.o.birdc ?? 'birdc', ['-s', this.files.ctl, ...args], { timeout: BIRDC_TIMEOUT_MS }, (err, stdout, stderr) => {
        if (err) reject(new Error(`birdc ${args.join(' ')}: ${(stderr || stdout || err.message).trim()}`));
        else resolve(stdout);
      });
    });
  }

  /** Kills what the pid file of an earlier run names, when it is a BIRD on our config. */
  private killLeftover(): void {
    let pid = NaN;
    try { pid = Number(fs.readFileSync(this.files.pid, 'utf8').trim()); } catch { /* none */ }
    if (Number.isInteger(pid) && pid > 1) {
      let cmd = '';
      try { cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { /* gone */ }
      if (cmd.includes('bird') && cmd.includes(this.files.config)) {
        this.o.log.warn({ pid }, 'a BIRD of an earlier run still runs on this state directory: killed');
        try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
      }
    }
    fs.rmSync(this.files.pid, { force: true });
    fs.rmSync(this.files.ctl, { force: true });
  }

  private spawn(): void {
    const bin = this.o.binary ?? 'bird';
    // -f: stay in the foreground (our child); -c/-s/-P: files of our own, so several directors
    // (or namespaces) on one host never meet in /run.
    const args = ['--pdeathsig', 'TERM', '--', bin, '-f', '-c', this.files.config, '-s', this.files.ctl, '-P', this.files.pid];
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
          // BIRD's own timestamp ("2026-12-03 05:40:00.123 <INFO> ") is ours to give.
          const line = rest.slice(0, nl).replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? /, '');
          rest = rest.slice(nl + 1);
          if (line.trim()) this.o.log.info({ bird: line }, 'bird');
        }
      });
    };
    relay(child.stdout);
    relay(child.stderr);
    child.once('error', (e) => this.o.log.error({ err: e.message }, 'BIRD could not be started (is bird2 installed? scripts/setup installs it)'));
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopping) return;
      const reason = signal ? `killed by ${signal}` : `exited with status ${code}`;
      if (Date.now() - this.startedAt >= STABLE_MS) this.wait = RESTART_MIN_MS;
      this.o.log.error({ reason, restartInMs: this.wait }, 'BIRD stopped; this director announces nothing until it runs again');
      this.o.onDown?.(reason);
      this.restartTimer = setTimeout(() => {
        this.restarts++;
        this.killLeftover();
        this.spawn();
      }, this.wait);
      this.wait = Math.min(this.wait * 2, RESTART_MAX_MS);
    });
    this.o.log.info({ pid: child.pid, config: this.files.config }, 'BIRD started');
    this.o.onUp?.();
  }
}
