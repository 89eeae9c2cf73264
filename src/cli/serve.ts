// `fulcrum serve --config FILE [--state-dir DIR]`: runs the director. The config file gives the
// dataplane and the initial services; from then on the desired state lives in DIR/state.json
// (every API change, reload and health-independent edit is persisted there atomically), so a
// restart, even after kill -9, comes back to the last applied state. SIGHUP (or
// POST /v1/config/reload) re-reads the file's services; SIGINT/SIGTERM stop.
import fs from 'node:fs';
import pino from 'pino';
import { nativeAddon } from '../native';
import { ConfigError, loadConfigFile } from '../control/config_load';
import type { FulcrumConfig } from '../control/config_schema';
import { Daemon } from '../control/daemon';
import { StateFileError } from '../control/state_store';
import { buildApi, isLoopback } from '../api/app';
import { UsageError } from './args';

export const SERVE_USAGE = `Usage: fulcrum serve --config FILE [--state-dir DIR]

Runs the director: starts DPDK's EAL and the workers inside this process, opens the ports of
the config file, balances its services, runs their health checks and serves the REST API
(api.listen, default 127.0.0.1:9390; /docs, /openapi.json, /metrics). The state directory
(--state-dir, else the file's stateDir, else /var/lib/fulcrum) keeps state.json, the services
last applied: on restart they are restored from it rather than from the file. SIGHUP
reloads the file's services; SIGINT or SIGTERM stops.
`;

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new UsageError(`${name} needs a value`);
  return v;
}

export async function runServe(args: string[]): Promise<number> {
  let file: string | undefined;
  let stateDirArg: string | undefined;
  try {
    if (args.includes('-h') || args.includes('--help')) { process.stdout.write(SERVE_USAGE); return 0; }
    file = flag(args, '--config');
    stateDirArg = flag(args, '--state-dir');
    if (!file) throw new UsageError('--config FILE is required');
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`fulcrum serve: ${e.message}\n${SERVE_USAGE}`); return 2; }
    throw e;
  }
  const log = pino({ name: 'fulcrum' });
  let cfg: FulcrumConfig;
  let token: string | undefined;
  let tokenMode: number | undefined;
  try {
    cfg = loadConfigFile(file);
    if (cfg.api?.tokenFile) {
      try {
        token = fs.readFileSync(cfg.api.tokenFile, 'utf8').trim();
      } catch (e) {
        throw new ConfigError([`api.tokenFile: cannot read ${cfg.api.tokenFile}: ${(e as NodeJS.ErrnoException).code}`], file);
      }
      if (token.length < 16) throw new ConfigError(['api.tokenFile: the token must be at least 16 characters'], file);
      tokenMode = fs.statSync(cfg.api.tokenFile).mode;
    }
  } catch (e) {
    if (e instanceof ConfigError) { process.stderr.write(`fulcrum serve: ${e.message}\n`); return 1; }
    throw e;
  }
  const stateDir = stateDirArg ?? cfg.stateDir ?? '/var/lib/fulcrum';
  const [host, port] = (cfg.api?.listen ?? '127.0.0.1:9390').split(':');
  if (!isLoopback(host) && !token) {
    process.stderr.write('fulcrum serve: a non-loopback api.listen needs api.tokenFile\n');
    return 1;
  }

  if (tokenMode !== undefined && (tokenMode & 0o077) !== 0)
    log.warn({ file: cfg.api?.tokenFile, mode: `0${(tokenMode & 0o777).toString(8)}` }, 'the API token file can be read by other users; chmod 600 it');
  let daemon: Daemon;
  try {
    daemon = new Daemon(nativeAddon(), cfg, file, stateDir, log);
  } catch (e) {
    log.error({ err: (e as Error).message }, e instanceof StateFileError ? 'the state directory cannot be used' : 'dataplane did not start');
    process.stderr.write(`fulcrum serve: ${(e as Error).message}\n`);
    return 1;
  }
  const si = daemon.director.startInfo;
  if (!si.hugepages) log.warn('no hugepages mounted: EAL runs with --no-huge (4 KiB pages, slower)');
  log.info({ eal: si.ealArgs.join(' '), workers: si.workers, mbufs: si.mbufs,
    ports: nativeAddon().ports().map((p) => ({ name: p.name, mac: p.mac, driver: p.driver, tap: p.tap })) }, 'dataplane started');
  if (daemon.restored) log.info({ file: daemon.state.file }, 'services restored from the state directory');

  const api = await buildApi({ daemon, token, bodyLimit: cfg.api?.bodyLimit, logger: log.child({ name: 'api' }) });
  try {
    await api.listen({ host, port: Number(port) });
  } catch (e) {
    log.error({ err: (e as Error).message }, 'the API cannot listen');
    process.stderr.write(`fulcrum serve: cannot listen on ${host}:${port}: ${(e as Error).message}\n`);
    await daemon.stop();
    return 1;
  }
  log.info({ services: daemon.state.serviceCount, api: `http://${host}:${port}` }, 'services applied; ready');

  return await new Promise<number>((resolve) => {
    process.on('SIGHUP', () => {
      daemon.reload().then(
        () => log.info({ services: daemon.state.serviceCount }, 'config reloaded'),
        (e) => log.error({ err: (e as Error).message }, 'reload refused; the running config is unchanged'));
    });
    const stop = (sig: string) => {
      log.info({ signal: sig }, 'stopping');
      void api.close().finally(() => daemon.stop()).then(() => resolve(0), (e: Error) => {
        log.error({ err: e.message }, 'stopping failed');
        resolve(1);
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
