// `fulcrum demo --core`: balancing without a network or root. This drives the
// packet core itself: real TCP packets (SYN, ACK, request, reply, FIN) for each simulated
// client go through a NAT service with wrr 3/2/1, and the replies tell who answered.
import { demoAddon } from '../native';
import { formatStats, type ListedService } from '../ipvsadm/format';
import { intFlag, UsageError } from '../cli/args';

export function runCoreDemo(args: string[]): number {
  let connections: number;
  try {
    connections = intFlag(args, '--connections', 600);
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`fulcrum demo: ${e.message}\n`); return 2; }
    throw e;
  }
  const r = demoAddon().coreDemo({ connections, weights: [3, 2, 1] });
  // ipvsadm lists real servers sorted by address; the core keeps them newest first.
  const key = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  r.dests.sort((a, b) => key(a.address) - key(b.address) || a.port - b.port);
  const out = process.stdout;
  out.write(`Service ${r.service.protocol} ${r.service.address}:${r.service.port} ${r.service.scheduler}, ` +
    `${connections} client connections through the packet core (NAT)\n\n`);
  out.write('Answered by:\n');
  const total = Object.values(r.answeredBy).reduce((a, b) => a + b, 0);
  for (const d of r.dests) {
    const n = r.answeredBy[d.address] ?? 0;
    const pct = total ? ((100 * n) / total).toFixed(1) : '0.0';
    out.write(`  ${d.address.padEnd(15)} weight ${d.weight}  ${String(n).padStart(5)} (${pct}%)\n`);
  }
  const drops = Object.entries(r.drops).filter(([, n]) => n > 0);
  out.write(`\nDrops: ${drops.length ? drops.map(([k, n]) => `${k}=${n}`).join(' ') : 'none'}\n\n`);
  const listed: ListedService[] = [{
    protocol: r.service.protocol, address: r.service.address, port: r.service.port,
    scheduler: r.service.scheduler, stats: r.service.stats,
    dests: r.dests.map((d) => ({ address: d.address, port: d.port, forward: 'Masq', weight: d.weight,
      activeConns: d.activeConns, inactConns: d.inactConns, stats: d.stats })),
  }];
  out.write('$ fvsadm -Ln --stats\n' + formatStats(listed));
  return 0;
}
