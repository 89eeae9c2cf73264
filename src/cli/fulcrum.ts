// `fulcrum`: the director's own command. This file only reads each subcommand's arguments,
// prints the usage and hands over: `serve` to the server's composition root (src/server),
// `check` to check.ts, the views of a running director to views.ts, the tools (demo, bench,
// import-keepalived) to src/tools. Each is loaded when chosen, so a view, a check or `--help`
// does not load the dataplane.
import { readBuildInfo, versionLine } from '../build_info';
import { DEFAULT_CONFIG_FILE, stringFlag, UsageError } from './args';

type Lazy<T> = () => T;
const server: Lazy<typeof import('../server/serve')> = () => require('../server/serve');
const logger: Lazy<typeof import('../server/logger')> = () => require('../server/logger');
const views: Lazy<typeof import('./views')> = () => require('./views');
const check: Lazy<typeof import('./check')> = () => require('./check');
const demo: Lazy<typeof import('../tools/demo')> = () => require('../tools/demo');
const bench: Lazy<typeof import('../tools/bench')> = () => require('../tools/bench');
const importer: Lazy<typeof import('../tools/import_keepalived')> = () => require('../tools/import_keepalived');

export const USAGE = `Usage: fulcrum <command> [options]

Commands:
  serve [--config FILE] [--state-dir DIR] [--log-level LEVEL]
                           Run the director: DPDK workers in this process, the config's
                           ports and services. SIGHUP reloads the services, SIGINT/SIGTERM stop.
  check [--config FILE]    Validate a config as serve would, starting nothing: prints
                           "FILE: ok (N services, M real servers)" and exits 0, or every
                           problem by its path and exits 1.
  demo [--requests N]     Build a network of namespaces (client, director on DPDK virtual
                           devices, three real servers), balance N HTTP requests (default 600,
                           each on a new connection) over NAT with wrr 3/2/1, print who
                           answered and an ipvsadm -Ln --stats table, tear it all down. Root.
  demo --core [--connections N]
                           The same service through the packet core alone, with N simulated
                           connections (default 600): no root, no network.
  bench core [--json] [--conns N]
                           Benchmark the packet core on one core: established-connection NAT
                           forwarding at N and at 10,000 connections against the memory-bound
                           loop over the same packets, its per-packet stages, new connections
                           per second, memory per connection, SYN floods (evicting, and
                           against the SYN proxy). --json prints one JSON object as the last
                           line.
  bench dataplane [--json] [--seconds S] [--no-e2e]
                           Benchmark the dataplane (root): NAT forwarding on net_null against
                           io-forward (on 4 KiB pages, then on 2 MiB hugepages reserved for the
                           run), a SYN flood, UDP through NAT over af_xdp on veth against
                           io-forward, and HTTP through Fulcrum, nftables DNAT and HAProxy
                           (wrk). --json prints one JSON object as the last line.
  bench control [--json] [--services N] [--servers M] [--changes K]
                           Benchmark the control plane at a large site's size (default 10,000
                           services): fvsadm -Ln's start, fvsadm -R of the whole table, change
                           latency, event-loop stalls, listings and /metrics. --json prints one
                           JSON object as the last line.
  bench health [--seconds S] [--services N] [--per-service M] [--interval I]
              [--max-in-flight K]
                           Benchmark the health monitor: 10,000 services x 10 real servers of
                           TCP checks every 5 s against listeners on 127.0.0.1; prints checks/s
                           against the bare connect rate, schedule drift, checks in flight and
                           event-loop stalls as JSON.
  import-keepalived FILE [-o OUT]
                           Translate the LVS part of a keepalived.conf (virtual and real servers,
                           checkers) into a Fulcrum config; what cannot be translated is listed
                           on stderr by line. The dataplane section is a placeholder: the config
                           is refused until it is replaced with the director's ports.
  health | connections [service=tcp:VIP:port ...] | dataplane
                           What the running director knows beyond ipvsadm: each real server's
                           health state and last check, connections with their FullNAT local
                           address, workers, ports, drops and neighbours. The director is
                           FULCRUM_API (default http://127.0.0.1:9390), the token FULCRUM_TOKEN or
                           FULCRUM_TOKEN_FILE, as for fvsadm.
  ha                       VIP ownership of the running director (ha.vrrp): VRRP state, priority,
                           last transition, whether it is fit to be MASTER, keepalived's pid; and
                           its announcements (ha.bgp): BGP sessions, VIPs announced and withheld.
  drain [--undo]           Take the running director out of its pair or tier: keepalived goes to
                           FAULT and the peer takes the VIPs at once; BGP withdraws every VIP
                           (--undo: take part again). Kept across a restart.
  version, --version       Print Fulcrum's version, the git commit it was built from and the
                           DPDK version it was built against, as one line.
  help                     Show this text.
`;

export const SERVE_USAGE = `Usage: fulcrum serve [--config FILE] [--state-dir DIR] [--log-level LEVEL]

Runs the director: starts DPDK's EAL and the workers inside this process, opens the ports of
the config file (--config, default /etc/fulcrum/fulcrum.yaml), balances its services, runs their health checks and serves the REST API
(api.listen, default 127.0.0.1:9390; /docs, /openapi.json, /metrics, and /healthz and
/readyz for supervisors, without the token). The state directory (--state-dir, else the
file's stateDir, else /var/lib/fulcrum) keeps state.json, the services last applied: on
restart they are restored from it rather than from the file. SIGHUP reloads the file's
services; SIGINT or SIGTERM stops. Logs are JSON lines (pino) on stdout
with ISO timestamps, from --log-level on (fatal, error, warn, info, debug, trace or silent;
default info).
`;

async function runServe(args: string[]): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) { process.stdout.write(SERVE_USAGE); return 0; }
  let configFile = DEFAULT_CONFIG_FILE;
  let stateDir: string | undefined;
  let logLevel: string | undefined;
  try {
    configFile = stringFlag(args, '--config') ?? DEFAULT_CONFIG_FILE;
    stateDir = stringFlag(args, '--state-dir');
    logLevel = stringFlag(args, '--log-level');
    if (logLevel !== undefined && !logger().isLogLevel(logLevel))
      throw new UsageError(`--log-level must be one of ${logger().LOG_LEVELS.join(', ')}, not '${logLevel}'`);
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`fulcrum serve: ${e.message}\n${SERVE_USAGE}`); return 2; }
    throw e;
  }
  return server().serve({ configFile, stateDir, logLevel: logLevel as import('../server/logger').LogLevel | undefined });
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'serve':
      return runServe(rest);
    case 'check':
      return check().runCheck(rest);
    case 'demo':
      return demo().runDemo(rest);
    case 'bench':
      return bench().runBench(rest);
    case 'health':
    case 'connections':
    case 'dataplane':
    case 'ha':
      return views().runView(cmd, rest);
    case 'drain':
      return views().runDrain(rest);
    case 'import-keepalived':
      return importer().runImportKeepalived(rest);
    case 'version':
    case '--version':
      process.stdout.write(`${versionLine(readBuildInfo())}\n`);
      return 0;
    case undefined:
    case 'help':
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`fulcrum: unknown command '${cmd}'\n${USAGE}`);
      return 2;
  }
}
