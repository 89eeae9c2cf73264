// BIRD 2 as a child of `fulcrum serve`, as keepalived.ts runs keepalived: its files in the
// state directory's bird/, the process started in this director's network namespace (it
// inherits serve's) under setpriv --pdeathsig (the kernel sends it SIGTERM when serve dies,
// kill -9 included, and it closes its sessions with a Cease), restarted with back-off when it
// dies, a BIRD of an earlier serve still named in the pid file killed before a new one starts.
// Fulcrum talks to it through its control socket with birdc: `configure` after vips.conf or
// vips6.conf changes, `show protocols` for the sessions. This file knows processes and files; what is
// announced and why is bgp.ts's.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { onPath, Supervised, type SupervisorLogger as Logger } from './supervised';
import type { VipsFiles } from './bgp_config';

export interface BirdOptions {
  /** A directory of its own (the state directory's bird/). */
  dir: string;
  /** bird.conf's text (bgp_config.ts), including paths().vips and paths().vips6. */
  config: string;
  /** vips.conf's and vips6.conf's texts at start. */
  vips: VipsFiles;
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

const BIRDC_TIMEOUT_MS = 5000;

/** Why BIRD cannot be run here (not installed), or undefined. */
export function birdMissing(binary = 'bird'): string | undefined {
  if (!onPath(binary) || !onPath('birdc')) return `ha.bgp: ${binary} is not installed (apt-get install bird2; scripts/setup installs it)`;
  if (!onPath('setpriv')) return 'ha.bgp: setpriv (util-linux) is not installed; it ties BIRD\'s life to fulcrum serve\'s';
  return undefined;
}

export function birdPaths(dir: string) {
  return {
    config: path.join(dir, 'bird.conf'),
    vips: path.join(dir, 'vips.conf'),
    vips6: path.join(dir, 'vips6.conf'),
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
  private readonly proc: Supervised;

  constructor(private readonly o: BirdOptions) {
    const files = birdPaths(o.dir);
    this.files = files;
    // -f: stay in the foreground (our child); -c/-s/-P: files of our own, so several directors
    // (or namespaces) on one host never meet in /run.
    this.proc = new Supervised({
      name: 'BIRD', logKey: 'bird',
      argv: [o.binary ?? 'bird', '-f', '-c', files.config, '-s', files.ctl, '-P', files.pid],
      // BIRD's own timestamp ("2026-12-03 05:40:00.123 <INFO> ") is ours to give.
      timestamp: /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? /,
      pidFiles: [files.pid], marker: 'bird', config: files.config, stale: [files.ctl],
      log: o.log, whileDown: 'this director announces nothing until it runs again',
      notInstalled: 'BIRD could not be started (is bird2 installed? scripts/setup installs it)',
      onUp: () => o.onUp?.(), onDown: (reason) => o.onDown?.(reason),
    });
  }

  get pid(): number | undefined { return this.proc.pid; }
  /** How many times it was started again after dying. */
  get restarts(): number { return this.proc.restarts; }
  get paths() { return this.files; }

  start(): void {
    fs.mkdirSync(this.o.dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(this.files.config, this.o.config, { mode: 0o600 });  // it may hold passwords
    fs.writeFileSync(this.files.vips, this.o.vips.v4);
    fs.writeFileSync(this.files.vips6, this.o.vips.v6);
    this.proc.start();
  }

  /** Replaces vips.conf and vips6.conf and has BIRD read its config again: the static
   * protocols' routes change, the sessions stay. Resolves once BIRD has taken it (rejects when
   * it has not). */
  async announce(vips: VipsFiles): Promise<void> {
    for (const [file, text] of [[this.files.vips, vips.v4], [this.files.vips6, vips.v6]] as const) {
      const tmp = `${file}.tmp`;
      fs.writeFileSync(tmp, text);
      fs.renameSync(tmp, file);
    }
    if (!this.running()) return;  // a start reads the file
    const out = await this.birdc(['configure']);
    if (!/Reconfigured|Reconfiguration in progress|Reconfiguration already in progress/.test(out))
      throw new Error(`birdc configure: ${out.trim().split('\n').slice(-1)[0] ?? 'no answer'}`);
  }

  async protocols(): Promise<BirdProtocol[]> {
    if (!this.running()) return [];
    return parseProtocols(await this.birdc(['show', 'protocols']));
  }

  running(): boolean { return this.proc.running(); }

  /** Stops it (SIGTERM: it closes every session with a Cease, so the routers withdraw at once). */
  stop(): Promise<void> { return this.proc.stop(); }

  private birdc(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(this.o.birdc ?? 'birdc', ['-s', this.files.ctl, ...args], { timeout: BIRDC_TIMEOUT_MS }, (err, stdout, stderr) => {
        if (err) reject(new Error(`birdc ${args.join(' ')}: ${(stderr || stdout || err.message).trim()}`));
        else resolve(stdout);
      });
    });
  }
}
