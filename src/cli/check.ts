// `fulcrum check --config FILE`: validates a config as `fulcrum serve` would before starting,
// and starts nothing (as `keepalived -t` and `haproxy -c`). Valid: one line on stdout, exit 0.
// Refused: every problem on stderr, one a line as `FILE: path: problem`, exit 1.
import { ConfigError } from '../control/config_load';
import { readStartupConfig } from '../server/startup_config';
import { DEFAULT_CONFIG_FILE, stringFlag, UsageError } from './args';

export const CHECK_USAGE = `Usage: fulcrum check [--config FILE]

Validates the config file (default /etc/fulcrum/fulcrum.yaml) as fulcrum serve reads it (the schema, the rules between fields,
the files it names) without starting anything. Prints "FILE: ok (N services, M real servers)"
and exits 0, or prints every problem by its path and exits 1.
`;

export function runCheck(args: string[]): number {
  if (args.includes('-h') || args.includes('--help')) { process.stdout.write(CHECK_USAGE); return 0; }
  let file: string | undefined;
  try {
    file = stringFlag(args, '--config') ?? DEFAULT_CONFIG_FILE;
    const extra = args.filter((a, i) => a !== '--config' && args[i - 1] !== '--config');
    if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}'`);
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`fulcrum check: ${e.message}\n${CHECK_USAGE}`); return 2; }
    throw e;
  }
  try {
    const { cfg } = readStartupConfig(file);
    const services = cfg.services ?? [];
    const servers = services.reduce((n, s) => n + (s.realServers?.length ?? 0), 0);
    process.stdout.write(`${file}: ok (${services.length} service${services.length === 1 ? '' : 's'}, ` +
      `${servers} real server${servers === 1 ? '' : 's'})\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(e.problems.map((p) => `${file}: ${p}\n`).join(''));
    return 1;
  }
}
