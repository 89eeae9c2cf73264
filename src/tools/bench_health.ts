// The health monitor at scale: 10,000 services × 10 real servers (100,000 TCP checks) every
// 5 s against real listeners on loopback, for issue 10. It prints what the monitor achieved —
// checks per second, how late checks started against their schedule (p50/p99/max, as a share
// of the interval), the most checks in flight, the longest event loop stall and the cost of
// starting the whole table — and asserts nothing: timings are figures, not tests.
// The listeners are the demo module's (an epoll thread that accepts and closes), so what is
// measured is the monitor, not simulated servers written in Node.
// First it measures this machine's ceiling: bare connect-and-reset through the addon's TCP
// prober, as the checks connect, at the same concurrency, with no monitor, so the monitor's
// rate can be read against what the host allows (on loopback the kernel work of both ends is
// charged to this process).
// Everything is on 127.0.0.1: the services' and real servers' addresses are names only and are
// never contacted (the check's address sends every probe to the listeners).
// Run: fulcrum bench health [--seconds 25] [--services 10000]
//   [--per-service 10] [--interval 5] [--listeners 250] [--max-in-flight 1000] [--ceiling-seconds 5]
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { ServiceConfig } from '../control/config_schema';
import { HealthMonitor } from '../control/health/monitor';
import { demoAddon, nativeAddon } from '../native';

export interface HealthBenchOptions {
  services?: number;
  perService?: number;
  /** Check interval, seconds. */
  interval?: number;
  /** How long to measure, seconds. */
  seconds?: number;
  /** TCP listeners on 127.0.0.1 that the real servers share. */
  listeners?: number;
  maxInFlight?: number;
  /** How long to measure bare connects first, seconds; 0 skips it. */
  ceilingSeconds?: number;
}

export interface HealthBenchResult {
  realServers: number;
  services: number;
  intervalSeconds: number;
  seconds: number;
  checks: number;
  failures: number;
  transitions: number;
  checksPerSecond: number;
  /** What 100% of the table at this interval asks for. */
  checksPerSecondWanted: number;
  /** Bare connect-and-reset per second through the TCP prober at the same concurrency, without the monitor. */
  bareConnectsPerSecond: number | null;
  driftPercentOfInterval: { p50: number; p99: number; max: number };
  maxInFlight: number;
  maxInFlightLimit: number;
  eventLoopMaxStallMs: number;
  eventLoopP99Ms: number;
  startupMs: number;
  /** By the listeners while the monitor ran (startup and stop included). */
  connectionsAccepted: number;
  onChangeCalls: number;
}

/** Connects and resets as fast as `concurrency` probes at a time allow, for `seconds`; the
 * connections made per second. */
function bareConnects(ports: number[], concurrency: number, seconds: number): Promise<number> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let done = 0;
    let open = 0;
    let next = 0;
    const prober = new (nativeAddon().TcpProber)((outcomes) => {
      const n = outcomes.length / 2;
      for (let i = 1; i < outcomes.length; i += 2) if (outcomes[i] === 0) done++;
      open -= n;
      if (performance.now() - t0 < seconds * 1000) return start(n);
      if (open > 0) return;
      prober.close();
      resolve(done / ((performance.now() - t0) / 1000));
    });
    prober.ref();
    const start = (n: number) => {
      const probes = new Uint32Array(4 * n);
      for (let k = 0; k < n; k++, next++) probes.set([next + 1, 0x7f000001, ports[next % ports.length], 3000], 4 * k);
      open += n;
      prober.start(probes);
    };
    start(concurrency);
  });
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

export async function runHealthBench(opts: HealthBenchOptions = {}): Promise<HealthBenchResult> {
  const nServices = opts.services ?? 10_000;
  const perService = opts.perService ?? 10;
  const interval = opts.interval ?? 5;
  const seconds = opts.seconds ?? 25;
  const nListeners = Math.max(perService, opts.listeners ?? 250);
  const maxInFlight = opts.maxInFlight ?? 1000;

  const listeners = new (demoAddon().LoopbackListeners)(nListeners);
  const ports = listeners.ports;
  const ceilingSeconds = opts.ceilingSeconds ?? 5;
  const bare = ceilingSeconds > 0 ? Math.round(await bareConnects(ports, maxInFlight, ceilingSeconds)) : null;

  // Every real server is its own backend (10.x.y.z by its number), so each is probed on its
  // own: the monitor probes a target once for all services listing it with the same checks.
  // Real server n is checked on listener port n mod the listeners, at 127.0.0.1.
  const services: ServiceConfig[] = [];
  for (let i = 0; i < nServices; i++) {
    services.push({
      protocol: 'tcp', address: `127.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, port: 80,
      healthChecks: [{ type: 'tcp', address: '127.0.0.1', interval, timeout: 3, fall: 3, rise: 2 }],
      realServers: Array.from({ length: perService }, (_, j) => {
        const n = i * perService + j;
        return { address: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, port: ports[n % nListeners], method: 'nat' as const };
      }),
    });
  }

  const acceptedBefore = listeners.accepted();
  let onChangeCalls = 0;
  const monitor = new HealthMonitor({ onChange: () => void onChangeCalls++, maxInFlight });
  const t0 = performance.now();
  monitor.updateServices(services, []);
  const startupMs = performance.now() - t0;

  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  monitor.scheduling(true);
  const before = monitor.counters();
  const started = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = (performance.now() - started) / 1000;
  loop.disable();
  const after = monitor.counters();
  const sched = monitor.scheduling();
  monitor.stop();
  const accepted = listeners.accepted();
  listeners.close();

  const pct = (ms: number) => round((ms / (interval * 1000)) * 100, 3);
  const checks = after.checks - before.checks;
  return {
    realServers: nServices * perService,
    services: nServices,
    intervalSeconds: interval,
    seconds: round(elapsed, 1),
    checks,
    failures: after.failures - before.failures,
    transitions: after.transitions - before.transitions,
    checksPerSecond: Math.round(checks / elapsed),
    checksPerSecondWanted: Math.round((nServices * perService) / interval),
    bareConnectsPerSecond: bare,
    driftPercentOfInterval: { p50: pct(sched.lateMs.p50), p99: pct(sched.lateMs.p99), max: pct(sched.lateMs.max) },
    maxInFlight: sched.peakInFlight,
    maxInFlightLimit: sched.maxInFlight,
    eventLoopMaxStallMs: round(loop.max / 1e6, 1),
    eventLoopP99Ms: round(loop.percentile(99) / 1e6, 1),
    startupMs: Math.round(startupMs),
    connectionsAccepted: accepted - acceptedBefore,
    onChangeCalls,
  };
}

function option(args: string[], name: string): number | undefined {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} needs a number >= 0`);
  return v;
}

/** `fulcrum bench health [options]`: runs the bench and prints its figures as JSON. */
export async function runHealthBenchCli(args: string[]): Promise<number> {
  try {
    const r = await runHealthBench({
      seconds: option(args, 'seconds'), services: option(args, 'services'), perService: option(args, 'per-service'),
      interval: option(args, 'interval'), listeners: option(args, 'listeners'), maxInFlight: option(args, 'max-in-flight'),
      ceilingSeconds: option(args, 'ceiling-seconds'),
    });
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`fulcrum bench health: ${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) void runHealthBenchCli(process.argv.slice(2)).then((code) => { process.exitCode = code; });
