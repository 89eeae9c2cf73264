// The composition root of `fulcrum serve`: it reads the config file, starts the dataplane
// and the control plane around it (src/control's Daemon: desired state, health checks,
// rates), serves the REST API (src/api), logs (logger.ts), and answers signals: SIGHUP
// re-reads the file's services and logs what changed and what would need a restart,
// SIGINT/SIGTERM stop. The desired state lives in the state directory (state.json, every
// change persisted atomically), so a restart, even after kill -9, comes back to the last
// applied state. Nothing else builds these pieces or wires them together.
import type { Logger } from 'pino';
import { nativeAddon, type RestoreReport, type SaveReport } from '../native';
import { ConfigError } from '../control/config_load';
import { diffConfig } from '../control/config_diff';
import type { FulcrumConfig } from '../control/config_schema';
import { Daemon } from '../control/daemon';
import { StateFileError } from '../control/state_store';
import { buildApi, isLoopback } from '../api/app';
import { hostPort, splitHostPort } from '../control/address';
import { keepalivedMissing } from '../ha/keepalived';
import { Vrrp } from '../ha/vrrp';
import { Bgp, vipOfKey } from '../ha/bgp';
import { bgpSettings } from '../ha/bgp_config';
import { readDrain } from '../ha/drain_state';
import { birdMissing } from '../ha/bird';
import { vrrpSettings } from '../ha/vrrp_config';
import { componentLogger, createLogger, type LogLevel } from './logger';
import { drainDpdkLog } from './dpdk_log';
import { apiAddressProblem, hostFacts, hostProblems, stateDirProblem } from './preflight';
import { readableByOthers, readStartupConfig, type TokenFile } from './startup_config';

export interface ServeOptions {
  configFile: string;
  /** Else the file's stateDir, else /var/lib/fulcrum. */
  stateDir?: string;
  /** Default info. */
  logLevel?: LogLevel;
}

export const DEFAULT_STATE_DIR = '/var/lib/fulcrum';
const MAX_LOGGED_CHANGES = 200;

/** Runs the director until SIGINT or SIGTERM; resolves to the exit status. */
export async function serve(opts: ServeOptions): Promise<number> {
  const file = opts.configFile;
  const log = createLogger(opts.logLevel);
  let cfg: FulcrumConfig;
  let token: TokenFile | undefined;
  let metricsToken: TokenFile | undefined;
  try {
    ({ cfg, token, metricsToken } = readStartupConfig(file));
  } catch (e) {
    if (e instanceof ConfigError) { process.stderr.write(`fulcrum serve: ${e.message}\n`); return 1; }
    throw e;
  }
  const stateDir = opts.stateDir ?? cfg.stateDir ?? DEFAULT_STATE_DIR;
  // api.listen is checked (address:port, IPv6 bracketed) when the config is read
  const { address: host, port } = splitHostPort(cfg.api?.listen ?? '127.0.0.1:9390')!;
  if (!isLoopback(host) && !token) {
    process.stderr.write('fulcrum serve: a non-loopback api.listen needs api.tokenFile\n');
    return 1;
  }

  // The host's problems with this config, each with its fix, before anything is opened.
  const problems = hostProblems(cfg, hostFacts());
  const stateProblem = stateDirProblem(stateDir);
  if (stateProblem) problems.push(stateProblem);
  const apiProblem = await apiAddressProblem(host, Number(port));
  if (apiProblem) problems.push(apiProblem);
  const vrrpSet = vrrpSettings(cfg);
  const keepalivedProblem = vrrpSet && keepalivedMissing();
  if (keepalivedProblem) problems.push(keepalivedProblem);
  const bgpSet = bgpSettings(cfg);
  const birdProblem = bgpSet && birdMissing();
  if (birdProblem) problems.push(birdProblem);
  if (problems.length) {
    log.error({ problems }, 'cannot start');
    process.stderr.write(`fulcrum serve: cannot start:\n  ${problems.join('\n  ')}\n`);
    return 1;
  }

  for (const t of [token, metricsToken]) {
    const mode = t && readableByOthers(t);
    if (mode) log.warn({ file: t.path, mode }, `the API ${t.key === 'api.tokenFile' ? 'token' : 'metrics token'} file can be read by other users; chmod 600 it`);
  }
  // DPDK's own log through ours from here on (drained after the start, then every second).
  const addon = nativeAddon();
  const dpdkLog = componentLogger(log, 'dpdk');
  addon.captureLog();
  let daemon: Daemon;
  try {
    daemon = new Daemon(addon, cfg, file, stateDir, componentLogger(log, 'control'));
  } catch (e) {
    drainDpdkLog(addon, dpdkLog);
    // DPDK's EAL as another user than root fails on its runtime directory or locked memory,
    // with an errno that names neither.
    const hint = !(e instanceof StateFileError) && process.geteuid?.() !== 0 ? ' (running as a user other than root: run fulcrum serve as root)' : '';
    log.error({ err: (e as Error).message + hint }, e instanceof StateFileError ? 'the state directory cannot be used' : 'dataplane did not start');
    process.stderr.write(`fulcrum serve: ${(e as Error).message}${hint}\n`);
    return 1;
  }
  drainDpdkLog(addon, dpdkLog);
  const dpdkLogTimer = setInterval(() => drainDpdkLog(addon, dpdkLog), 1000);
  dpdkLogTimer.unref();
  const si = daemon.director.startInfo;
  if (!si.hugepages) log.warn('no hugepages mounted: EAL runs with --no-huge (4 KiB pages, slower)');
  log.info({ eal: si.ealArgs.join(' '), workers: si.workers, mbufs: si.mbufs,
    ports: addon.ports().map((p) => ({ name: p.name, mac: p.mac, driver: p.driver, tap: p.tap })) }, 'dataplane started');
  logRestore(log, si.restore);
  if (daemon.restored) {
    // The state directory owns the running services between reloads (API changes included):
    // say how they differ from the file, so nobody is surprised by what runs.
    const changes = diffConfig(cfg, daemon.state.config()).changes;
    log.info({ file: daemon.state.file, ...(changes.length ? { differsFromConfigFile: changes.slice(0, MAX_LOGGED_CHANGES) } : {}),
      ...(changes.length > MAX_LOGGED_CHANGES ? { changesNotListed: changes.length - MAX_LOGGED_CHANGES } : {}) },
    'services restored from the state directory (SIGHUP applies the config file\'s)');
  }

  // A drain the operator left in place holds until they undo it (drain_state.ts).
  let drained = false;
  if (vrrpSet || bgpSet) {
    try {
      drained = readDrain(stateDir);
    } catch (e) {
      log.error({ err: (e as Error).message }, 'the state directory cannot be used');
      process.stderr.write(`fulcrum serve: ${(e as Error).message}\n`);
      await daemon.stop();
      clearInterval(dpdkLogTimer);
      drainDpdkLog(addon, dpdkLog);
      return 1;
    }
    if (drained) log.warn('this director was left drained (fulcrum drain): it holds and announces no VIP until `fulcrum drain --undo`');
  }
  // ha.vrrp: keepalived decides who holds the VIPs; until it says MASTER the dataplane
  // started without them (dataplaneOptions' vipOwner).
  const vrrp = vrrpSet && new Vrrp({ settings: vrrpSet, addon, stateDir, drained, log: componentLogger(log, 'vrrp') });
  // ha.bgp: BIRD announces the VIPs that have quorum to the routers (ECMP over the tier).
  const bgp = bgpSet && new Bgp({ settings: bgpSet, stateDir, drained, log: componentLogger(log, 'bgp'),
    dataplaneRunning: () => addon.running(),
    services: function* () { for (const q of daemon.health.quorum()) yield { vip: vipOfKey(q.service), hasQuorum: q.hasQuorum }; } });
  await daemon.sampleNow();
  const api = await buildApi({ daemon, token: token?.token, metricsToken: metricsToken?.token, bodyLimit: cfg.api?.bodyLimit,
    logger: componentLogger(log, 'api'), ...(vrrp ? { vrrp } : {}), ...(bgp ? { bgp } : {}) });
  try {
    await api.listen({ host, port: Number(port) });
  } catch (e) {
    log.error({ err: (e as Error).message }, 'the API cannot listen');
    process.stderr.write(`fulcrum serve: cannot listen on ${hostPort(host, port)}: ${(e as Error).message}\n`);
    await daemon.stop();
    clearInterval(dpdkLogTimer);
    drainDpdkLog(addon, dpdkLog);
    return 1;
  }
  if (vrrp) {
    vrrp.start();
    const s = vrrpSet!;
    log.info({ port: s.port, interface: s.iface, virtualRouterId: s.virtualRouterId, priority: s.priority, advertInt: s.advertInt,
      preempt: s.preempt }, 'VRRP: keepalived runs; the VIPs are this director\'s once it is MASTER');
  }
  if (bgp) {
    bgp.start();
    const s = bgpSet!;
    log.info({ localAs: s.localAs, routerId: s.routerId, neighbors: s.neighbors.map((n) => `${n.address} AS ${n.as} via ${n.port} (${n.iface})`) },
      'BGP: BIRD runs; VIPs with quorum are announced');
  }
  log.info({ services: daemon.state.serviceCount, api: `http://${hostPort(host, port)}` }, 'services applied; ready');
  // systemd's Type=notify: started only now, with the API answering and the services applied.
  const notify = (state: string) => {
    try {
      addon.notifyService(state);
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'cannot tell the service manager');
    }
  };
  notify(`READY=1\nMAINPID=${process.pid}\nSTATUS=${daemon.state.serviceCount} services, API on ${hostPort(host, port)}`);

  return await new Promise<number>((resolve) => {
    process.on('SIGHUP', () => {
      notify('RELOADING=1');
      daemon.reload().finally(() => notify('READY=1')).then(
        ({ before, file: fileCfg }) => {
          const changes = diffConfig(before, daemon.state.config()).changes;
          // a line per change, up to a point: a reload of a whole site is counted, not listed
          log.info({ services: daemon.state.serviceCount, changes: changes.slice(0, MAX_LOGGED_CHANGES),
            ...(changes.length > MAX_LOGGED_CHANGES ? { changesNotListed: changes.length - MAX_LOGGED_CHANGES } : {}) }, 'config reloaded');
          // The file's settings a running director cannot take: said, not applied.
          const settings = diffConfig(before, fileCfg).restartOnly;
          if (settings.length) log.warn({ settings }, `${settings.join(', ')}: needs a restart, not applied`);
        },
        (e) => log.error({ err: (e as Error).message }, 'reload refused; the running config is unchanged'));
    });
    const stop = (sig: string) => {
      log.info({ signal: sig }, 'stopping');
      notify('STOPPING=1');
      // keepalived first: its priority-0 advert hands the VIPs to the peer at once. BGP
      // withdraws, waits for the routers to move the flows, then stops BIRD.
      void Promise.all([vrrp ? vrrp.stop() : undefined, bgp ? bgp.stop() : undefined]).finally(() => api.close()).finally(() => daemon.stop()).finally(() => {
        logSave(log, daemon.lastSave);
        clearInterval(dpdkLogTimer);
        drainDpdkLog(addon, dpdkLog);
      }).then(() => resolve(0), (e: Error) => {
        log.error({ err: e.message }, 'stopping failed');
        resolve(1);
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

/** The start's word on the connections a graceful stop saved: how many came back, and why the
 * others did not (or why the file was refused and the director started empty). */
function logRestore(log: Logger, r: RestoreReport | null): void {
  if (!r || !r.found) {
    if (r) log.info({ file: r.file }, 'no saved connections (first start, or the last stop was not graceful): starting empty');
    return;
  }
  if (r.refused) {
    log.warn({ file: r.file, reason: r.refused, keptAs: `${r.file}.refused` }, 'saved connections refused; starting empty');
    return;
  }
  const skipped = Object.fromEntries(Object.entries(r.skipped).filter(([, n]) => n > 0));
  log.info({ restored: r.restored, skipped, entries: r.entries, downMs: r.downMs, savedWorkers: r.savedWorkers, ms: Math.round(r.ms) },
    `connections restored: ${r.restored} of ${r.entries}`);
}

function logSave(log: Logger, s: SaveReport | null): void {
  if (!s) return;
  if (s.error) log.error({ file: s.file, err: s.error }, 'connections not saved; the next start begins empty');
  else log.info({ file: s.file, saved: s.saved, synproxied: s.synproxied, ipv6: s.ipv6, ...(s.skippedMixedTunnel ? { skippedMixedTunnel: s.skippedMixedTunnel } : {}), ms: Math.round(s.ms) }, `connections saved: ${s.saved}`);
}
