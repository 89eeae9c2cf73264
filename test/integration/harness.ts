// What the integration tests stand on: a namespace topology of their own (scripts/
// netns-topology with a test prefix), the director running in its namespace (director_child),
// and commands run inside a namespace. Everything is torn down by the test that made it.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import YAML from 'yaml';
import type { DataplaneStats, PortInfo, StartInfo } from '../../src/native';
import type { FulcrumConfig } from '../../src/control/config_schema';
import type { ServiceView } from '../../src/control/director';

export const root = path.resolve(__dirname, '../../..');
const topology = path.join(root, 'scripts/netns-topology');

/** Why these tests cannot run here, or undefined when they can. */
export function cannotRun(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root for network namespaces';
  if (spawnSync('ip', ['netns', 'list']).status !== 0) return 'ip netns is not available';
  return undefined;
}

export function run(cmd: string, args: string[], opts: { input?: string; timeout?: number } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 30000, input: opts.input });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export class Topology {
  constructor(readonly prefix: string, readonly servers = 3) {}
  up(): void {
    const r = run(topology, ['up', this.prefix, String(this.servers)], { timeout: 60000 });
    if (r.status !== 0) throw new Error(`topology up failed: ${r.stderr}`);
  }
  down(): void { run(topology, ['down', this.prefix]); }
  ns(node: string): string { return `${this.prefix}-${node}`; }
  /** Runs a command in a namespace (client, dir, sw, srv1...). */
  exec(node: string, cmd: string[], opts: { input?: string; timeout?: number } = {}) {
    return run('ip', ['netns', 'exec', this.ns(node), ...cmd], opts);
  }
  /** Starts a long-running command in a namespace; the topology's down ends it. */
  background(node: string, cmd: string[]) {
    const c = spawn('ip', ['netns', 'exec', this.ns(node), ...cmd], { stdio: 'ignore', detached: false });
    return c;
  }
  serverAddress(i: number): string { return `198.19.0.${10 + i}`; }
}

export function tmpFile(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-it-'));
  return path.join(dir, name);
}

/** A config for the topology: two af_packet ports, the director's addresses, given services. */
export function configFor(t: Topology, extra: Partial<FulcrumConfig> & { workers?: number[]; qpairs?: number } = {}): FulcrumConfig {
  const q = extra.qpairs ? `,qpairs=${extra.qpairs}` : '';
  const { workers, qpairs: _q, ...rest } = extra;
  void _q;
  return {
    dataplane: {
      eal: ['--log-level=error'],
      workers: workers ?? [1],
      connTableSize: 65536,
      maxServices: 512,
      maxRealServers: 1024,
      idleBackoff: { pauseAfterPolls: 64, maxSleepMicroseconds: 100 },
      ports: [
        { name: 'clients', device: `net_af_packet0,iface=${t.prefix}-dc${q}`, address: '198.18.0.1/24', tap: `${t.prefix}-kc` },
        { name: 'servers', device: `net_af_packet1,iface=${t.prefix}-ds${q}`, address: '198.19.0.1/24', tap: `${t.prefix}-ks` },
      ],
    },
    services: [],
    ...rest,
  };
}

export class DirectorProcess {
  private child!: ChildProcessWithoutNullStreams;
  private next = 1;
  private readonly waiting = new Map<number, (r: { ok: boolean; result?: unknown; error?: string }) => void>();
  startInfo!: StartInfo;
  ports!: PortInfo[];
  stderr = '';

  async start(t: Topology, cfg: FulcrumConfig): Promise<void> {
    const file = tmpFile('fulcrum.yaml');
    fs.writeFileSync(file, YAML.stringify(cfg));
    this.child = spawn('ip', ['netns', 'exec', t.ns('dir'), process.execPath,
      path.join(root, 'dist/test/integration/director_child.js'), file]);
    this.child.stderr.on('data', (d: Buffer) => { this.stderr += d; });
    const lines = readline.createInterface({ input: this.child.stdout });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`director did not start: ${this.stderr}`)), 20000);
      this.child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`director exited ${code}: ${this.stderr}`)); });
      lines.on('line', (line) => {
        const m = JSON.parse(line);
        if (m.ready) {
          clearTimeout(timer);
          this.startInfo = m.startInfo;
          this.ports = m.ports;
          resolve();
          return;
        }
        this.waiting.get(m.id)?.(m);
        this.waiting.delete(m.id);
      });
    });
  }

  request<T = unknown>(op: string, arg?: unknown): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, (r) => (r.ok ? resolve(r.result as T) : reject(new Error(r.error))));
      this.child.stdin.write(JSON.stringify({ id, op, arg }) + '\n');
    });
  }
  apply(cfg: FulcrumConfig) { return this.request('apply', cfg); }
  stats() { return this.request<DataplaneStats>('stats'); }
  services() { return this.request<ServiceView[]>('services'); }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.removeAllListeners('exit');
    this.child.stdin.end();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** HTTP bodies of n requests to url from the client, each on a new connection. */
export function curlMany(t: Topology, url: string, n: number): string[] {
  const r = t.exec('client', ['curl', '-sS', '-m', '5', '-H', 'Connection: close', `${url}/[1-${n}]`], { timeout: 60000 });
  return r.stdout.split('\n').filter(Boolean);
}

export function sha256(file: string): string {
  return run('sha256sum', [file]).stdout.split(' ')[0];
}

/** The topology's IPv6 plan (2001:db8::/32 only): the clients' link 2001:db8:18::/64 with the
 * director at ::1 and the client at ::2, the servers' link 2001:db8:19::/64 with the director at
 * ::1 and srvN at ::1N. */
export const V6 = {
  portClients: '2001:db8:18::1',
  portServers: '2001:db8:19::1',
  client: '2001:db8:18::2',
  server: (i: number) => `2001:db8:19::${10 + i}`,
};

/** Gives the client and the first `servers` real servers their IPv6 addresses (no DAD wait)
 * and default routes through the director, and returns the ports' `address6` for its config. */
export function addIpv6(t: Topology, servers: number): { clients: string[]; servers: string[] } {
  const must = (node: string, cmd: string[]) => {
    const r = t.exec(node, cmd);
    if (r.status !== 0) throw new Error(`${node}: ${cmd.join(' ')}: ${r.stderr}`);
  };
  // The director's kernel forwards what the dataplane hands it (DR replies through the
  // director as the servers' gateway), as it does IPv4.
  must('dir', ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
  must('client', ['ip', '-6', 'addr', 'add', `${V6.client}/64`, 'dev', `${t.prefix}-c0`, 'nodad']);
  must('client', ['ip', '-6', 'route', 'add', 'default', 'via', V6.portClients]);
  for (let i = 1; i <= servers; i++) {
    must(`srv${i}`, ['ip', '-6', 'addr', 'add', `${V6.server(i)}/64`, 'dev', `${t.prefix}-s${i}`, 'nodad']);
    must(`srv${i}`, ['ip', '-6', 'route', 'add', 'default', 'via', V6.portServers]);
  }
  return { clients: [`${V6.portClients}/64`], servers: [`${V6.portServers}/64`] };
}
