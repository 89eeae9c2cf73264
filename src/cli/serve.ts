// `fulcrum serve --config FILE [--state-dir DIR]`: runs the director with the services in the
// file. SIGHUP re-reads the file and applies its services as one change (a bad file is refused
// whole and the running state stays); SIGINT/SIGTERM stop the dataplane and exit. The config
// last applied is kept in the state directory (written atomically), so an operator can see
// what is running.
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { nativeAddon } from '../native';
import { ConfigError, loadConfigFile } from '../control/config_load';
import type { FulcrumConfig } from '../control/config_schema';
import { Director } from '../control/director';
import { UsageError } from './args';

export const SERVE_USAGE = `Usage: fulcrum serve --config FILE [--state-dir DIR]

Runs the director: starts DPDK's EAL and the workers inside this process, opens the ports of
the config file and balances its services. SIGHUP reloads the file's services; SIGINT or
SIGTERM stops. --state-dir (default: the file's stateDir, else /var/lib/fulcrum) holds
applied.json, the config last applied.
`;

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new UsageError(`${name} needs a value`);
  return v;
}

/** write, fsync, rename: a reader sees the old file or the new one, never half of one. */
export function writeFileAtomic(file: string, data: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const dfd = fs.openSync(path.dirname(file), 'r');
  try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
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
  try {
    cfg = loadConfigFile(file);
  } catch (e) {
    if (e instanceof ConfigError) { process.stderr.write(`fulcrum serve: ${e.message}\n`); return 1; }
    throw e;
  }
  const stateDir = stateDirArg ?? cfg.stateDir ?? '/var/lib/fulcrum';
  fs.mkdirSync(stateDir, { recursive: true });
  const save = (c: FulcrumConfig) => writeFileAtomic(path.join(stateDir, 'applied.json'), JSON.stringify(c, null, 2) + '\n');

  let director: Director;
  try {
    director = new Director(nativeAddon(), cfg);
  } catch (e) {
    log.error({ err: (e as Error).message }, 'dataplane did not start');
    process.stderr.write(`fulcrum serve: ${(e as Error).message}\n`);
    return 1;
  }
  const si = director.startInfo;
  if (!si.hugepages) log.warn('no hugepages mounted: EAL runs with --no-huge (4 KiB pages, slower)');
  log.info({ eal: si.ealArgs.join(' '), workers: si.workers, mbufs: si.mbufs, ports: nativeAddon().ports().map((p) => ({ name: p.name, mac: p.mac, driver: p.driver, tap: p.tap })) }, 'dataplane started');
  save(cfg);
  log.info({ services: (cfg.services ?? []).length }, 'services applied; ready');

  return await new Promise<number>((resolve) => {
    let reloading = Promise.resolve();
    // Keeps the event loop alive while the director runs (the workers are not JS handles).
    const keepAlive = setInterval(() => {}, 1 << 30);
    process.on('SIGHUP', () => {
      reloading = reloading.then(async () => {
        try {
          const next = loadConfigFile(file!);
          await director.apply(next);
          save(next);
          log.info({ services: (next.services ?? []).length }, 'config reloaded');
        } catch (e) {
          log.error({ err: (e as Error).message }, 'reload refused; the running config is unchanged');
        }
      });
    });
    const stop = (sig: string) => {
      log.info({ signal: sig }, 'stopping');
      clearInterval(keepAlive);
      director.stop();
      resolve(0);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
