// What `fulcrum serve` checks in its config before it starts anything, in one place so
// `fulcrum check` (keepalived -t, haproxy -c) refuses exactly what serve would: the file
// validated whole (src/control/config_load), then what only the server reads, the API's
// token file. Every problem is named by its path.
import fs from 'node:fs';
import { ConfigError, loadConfigFile } from '../control/config_load';
import type { FulcrumConfig } from '../control/config_schema';

export interface StartupConfig {
  cfg: FulcrumConfig;
  /** The API's bearer token, from api.tokenFile. */
  token?: string;
  /** The token file's mode bits (serve warns when others can read it). */
  tokenMode?: number;
}

/** Reads the config file and the files it names; throws ConfigError with every problem. */
export function readStartupConfig(file: string): StartupConfig {
  const cfg = loadConfigFile(file);
  let token: string | undefined;
  let tokenMode: number | undefined;
  if (cfg.api?.tokenFile) {
    try {
      token = fs.readFileSync(cfg.api.tokenFile, 'utf8').trim();
    } catch (e) {
      throw new ConfigError([`api.tokenFile: cannot read ${cfg.api.tokenFile}: ${(e as NodeJS.ErrnoException).code}`], file);
    }
    if (token.length < 16) throw new ConfigError(['api.tokenFile: the token must be at least 16 characters'], file);
    tokenMode = fs.statSync(cfg.api.tokenFile).mode;
  }
  return { cfg, token, tokenMode };
}
