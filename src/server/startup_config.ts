// What `fulcrum serve` checks in its config before it starts anything, in one place so
// `fulcrum check` (keepalived -t, haproxy -c) refuses exactly what serve would: the file
// validated whole (src/control/config_load), then what only the server reads, the API's
// token files. Every problem is named by its path.
import fs from 'node:fs';
import { ConfigError, loadConfigFile } from '../control/config_load';
import type { FulcrumConfig } from '../control/config_schema';

export interface TokenFile {
  /** Where the config names it: api.tokenFile or api.metricsTokenFile. */
  key: string;
  path: string;
  token: string;
  /** The file's mode bits (serve warns when others can read it). */
  mode: number;
}

export interface StartupConfig {
  cfg: FulcrumConfig;
  /** The API's bearer token, from api.tokenFile. */
  token?: TokenFile;
  /** The read-only token for GET /metrics, from api.metricsTokenFile. */
  metricsToken?: TokenFile;
}

/** A token file's token, or the problem with it. */
function readTokenFile(key: string, p: string): TokenFile | string {
  let token: string;
  try {
    token = fs.readFileSync(p, 'utf8').trim();
  } catch (e) {
    return `${key}: cannot read ${p}: ${(e as NodeJS.ErrnoException).code}`;
  }
  if (token.length < 16) return `${key}: the token must be at least 16 characters`;
  return { key, path: p, token, mode: fs.statSync(p).mode };
}

/** Reads the config file and the files it names; throws ConfigError with every problem. */
export function readStartupConfig(file: string): StartupConfig {
  const cfg = loadConfigFile(file);
  const api = cfg.api ?? {};
  const token = api.tokenFile ? readTokenFile('api.tokenFile', api.tokenFile) : undefined;
  const metricsToken = api.metricsTokenFile ? readTokenFile('api.metricsTokenFile', api.metricsTokenFile) : undefined;
  const problems = [token, metricsToken].filter((t): t is string => typeof t === 'string');
  if (typeof token === 'object' && typeof metricsToken === 'object' && metricsToken.token === token.token)
    problems.push('api.metricsTokenFile: holds the API token itself; the metrics token must differ (it opens /metrics only)');
  if (problems.length) throw new ConfigError(problems, file);
  return { cfg, token: token as TokenFile | undefined, metricsToken: metricsToken as TokenFile | undefined };
}

/** The mode as `chmod` takes it when users other than the owner can read the file, else undefined. */
export function readableByOthers(t: TokenFile): string | undefined {
  return (t.mode & 0o077) !== 0 ? `0${(t.mode & 0o777).toString(8)}` : undefined;
}
