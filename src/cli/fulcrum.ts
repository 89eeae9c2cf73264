// `fulcrum`: the director's own command. Each subcommand lives in its own file; this one only
// dispatches and prints the usage.
import { runDemo } from './demo';
import { runBench } from './bench';
import { runServe } from './serve';
import { runView } from './views';
import { runImportKeepalived } from './import_keepalived';

export const USAGE = `Usage: fulcrum <command> [options]

Commands:
  serve --config FILE [--state-dir DIR]
                           Run the director: DPDK workers in this process, the config's
                           ports and services. SIGHUP reloads the services, SIGINT/SIGTERM stop.
  demo [--requests N]     Build a network of namespaces (client, director on DPDK virtual
                           devices, three real servers), balance N HTTP requests (default 600,
                           each on a new connection) over NAT with wrr 3/2/1, print who
                           answered and an ipvsadm -Ln --stats table, tear it all down. Root.
  demo --core [--connections N]
                           The same service through the packet core alone, with N simulated
                           connections (default 600): no root, no network.
  bench core [--json] [--conns N]
                           Benchmark the packet core on one core: established-connection NAT
                           forwarding, new connections per second, memory per connection,
                           against a baseline loop over the same packets. --json prints one
                           JSON object as the last line.
  bench dataplane [--json] [--seconds S] [--no-e2e]
                           Benchmark the dataplane (root): NAT forwarding on net_null against
                           io-forward, UDP through NAT over af_xdp on veth against io-forward,
                           and HTTP through Fulcrum, nftables DNAT and HAProxy (wrk). --json
                           prints one JSON object as the last line.
  import-keepalived FILE [-o OUT]
                           Translate the LVS part of a keepalived.conf (virtual and real servers,
                           checkers) into a Fulcrum config; what cannot be translated is listed
                           on stderr by line. The dataplane section is a placeholder to replace.
  health | connections [service=tcp:VIP:port ...] | dataplane
                           What the running director knows beyond ipvsadm: each real server's
                           health state and last check, connections with their FullNAT local
                           address, workers, ports, drops and neighbours. The director is
                           FULCRUM_API (default http://127.0.0.1:9390), the token FULCRUM_TOKEN or
                           FULCRUM_TOKEN_FILE, as for fvsadm.
  help                     Show this text.
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'demo':
      return runDemo(rest);
    case 'serve':
      return runServe(rest);
    case 'bench':
      return runBench(rest);
    case 'health':
    case 'connections':
    case 'dataplane':
      return runView(cmd, rest);
    case 'import-keepalived':
      return runImportKeepalived(rest);
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
