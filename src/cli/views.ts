// `fulcrum health`, `fulcrum connections`, `fulcrum dataplane` and `fulcrum ha`: what Fulcrum
// knows beyond ipvsadm (health state, FullNAT local addresses, workers, ports, drops, VIP
// ownership), and `fulcrum drain`, the one write here, read from and sent to the running
// director's API through src/client (FULCRUM_API, FULCRUM_TOKEN/FULCRUM_TOKEN_FILE, as
// fvsadm), so fvsadm's output can stay exactly ipvsadm's.
import { directorFromEnv, DirectorUnavailable, type ApiClient } from '../client/http';
import { hostPort } from '../control/address';

type Json = Record<string, any>;

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n') + '\n';
}

async function get(api: ApiClient, path: string): Promise<any> {
  const r = await api.request('GET', path);
  if (r.status !== 200) throw new Error(`GET ${path}: the director answered ${r.status}: ${(r.body as Json)?.message ?? ''}`);
  return r.body;
}

function bgpLines(b: Json): string {
  const lines = [
    `BGP: AS ${b.localAs}, router id ${b.routerId}${b.drained ? ', drained' : ''}, BIRD ${b.bird.pid !== undefined ? `pid ${b.bird.pid}` : 'not running'}, restarts ${b.bird.restarts}`,
    ...(b.sessions as Json[]).map((s) => `neighbor ${s.neighbor} AS ${s.as} via ${s.port} (${s.interface}): ${s.established ? 'Established' : `${s.state} ${s.info}`.trim()}${s.since ? ` since ${s.since}` : ''}`),
    ...(b.announced as Json[]).map((a) => `announced ${a.prefix} since ${a.since}`),
    ...(b.withheld as Json[]).map((w) => `withheld ${w.prefix}: ${w.reason}`),
  ];
  return lines.join('\n') + '\n';
}

function haLines(h: Json): string {
  if (h.bgp) return (h.vrrp ? vrrpLines(h) : '') + bgpLines(h.bgp as Json);
  return vrrpLines(h);
}

function vrrpLines(h: Json): string {
  if (!h.vrrp) return 'no ha.vrrp: this director always owns its VIPs\n';
  const v = h.vrrp as Json;
  const lines = [
    `state ${v.state} (since ${v.since}), ${v.owner ? 'owns the VIPs' : 'does not own the VIPs'}`,
    `virtual router ${v.virtualRouterId} on port ${v.port} (${v.interface}), priority ${v.priority}${v.reportedPriority !== undefined && v.reportedPriority !== v.priority ? ` (now ${v.reportedPriority})` : ''}, advert ${v.advertInt} s, ${v.preempt ? 'preempt' : 'nopreempt'}`,
    v.unfit.length ? `unfit: ${(v.unfit as string[]).join('; ')}` : 'fit to be MASTER',
    `transitions ${v.transitions}${v.lastTransition ? `, last ${v.lastTransition.from} -> ${v.lastTransition.to} at ${v.lastTransition.at}` : ''}`,
    `keepalived ${v.keepalived.pid !== undefined ? `pid ${v.keepalived.pid}` : 'not running'}, restarts ${v.keepalived.restarts}`,
  ];
  return lines.join('\n') + '\n';
}

/** `fulcrum drain [--undo]`: this director gives its VIPs to the peer (VRRP FAULT) or takes part again. */
export async function runDrain(args: string[]): Promise<number> {
  const undo = args.includes('--undo');
  const unknown = args.filter((a) => a !== '--undo');
  if (unknown.length) {
    process.stderr.write(`fulcrum drain: unknown argument '${unknown[0]}'\nUsage: fulcrum drain [--undo]\n`);
    return 2;
  }
  try {
    const api = directorFromEnv();
    const r = await api.request('PUT', '/v1/ha/drain', { drained: !undo });
    if (r.status !== 200) throw new Error(`the director answered ${r.status}: ${(r.body as Json)?.message ?? ''}`);
    const b = r.body as Json;
    process.stdout.write(undo ? 'undrained: this director may hold the VIPs again\n'
      : b.vrrp ? 'drained: the peer takes the VIPs\n' : 'drained: every VIP withdrawn; the routers send the flows to the other directors\n');
    process.stdout.write(haLines(r.body as Json));
    return 0;
  } catch (e) {
    process.stderr.write(`fulcrum drain: ${(e as Error).message}\n`);
    return e instanceof DirectorUnavailable ? 2 : 1;
  }
}

export async function runView(view: 'health' | 'connections' | 'dataplane' | 'ha', args: string[]): Promise<number> {
  const out = process.stdout;
  try {
    const api = directorFromEnv();
    if (view === 'health') {
      const h = await get(api, '/v1/health');
      const rows = [['SERVICE', 'REAL SERVER', 'STATE', 'SINCE', 'LAST RESULT']];
      for (const s of h.servers as Json[])
        rows.push([s.service, hostPort(s.address, s.port), s.state, s.since ?? '', s.lastResult ? `${s.lastResult.ok ? 'ok' : 'failed'}: ${s.lastResult.detail}` : '-']);
      out.write(table(rows));
      for (const q of h.quorum as Json[]) if (!q.hasQuorum) out.write(`${q.service}: quorum lost${q.sorryActive ? ', sorry server active' : ''}\n`);
      out.write(`checks ${h.counters.checks}, failures ${h.counters.failures}, transitions ${h.counters.transitions}\n`);
    } else if (view === 'connections') {
      const q = args.length ? `?${args.map((a) => a.replace(/^--/, '')).join('&')}` : '';
      const c = await get(api, `/v1/connections${q}`);
      const rows = [['PRO', 'EXPIRE', 'STATE', 'SOURCE', 'VIRTUAL', 'DESTINATION', 'LOCAL (FullNAT)']];
      for (const x of c.connections as Json[])
        rows.push([x.protocol, `${x.expiresSeconds}s`, x.template ? 'TEMPLATE' : x.state, x.source, x.virtual, x.destination, x.local ?? '-']);
      out.write(table(rows));
    } else if (view === 'ha') {
      out.write(haLines(await get(api, '/v1/ha')));
    } else {
      const d = await get(api, '/v1/dataplane');
      out.write(`EAL: ${(d.eal as string[]).join(' ')}${d.hugepages ? '' : ' (no hugepages)'}\n\n`);
      out.write(table([['WORKER', 'LCORE', 'CPU', 'CONNECTIONS', 'OCCUPANCY', 'HALF-OPEN/BUDGET', 'RX', 'TX', 'BUSY POLLS'],
        ...(d.workers as Json[]).map((w) => [String(w.id), String(w.lcore), String(w.cpu), String(w.connections),
          `${(100 * w.occupancy).toFixed(2)}%`, `${w.halfOpen}/${w.halfOpenBudget}`, String(w.rxPackets), String(w.txPackets), `${w.polls ? ((100 * w.busyPolls) / w.polls).toFixed(1) : '0'}%`])]));
      out.write('\n' + table([['PORT', 'DRIVER', 'MAC', 'LINK', 'TAP', 'IPACKETS', 'OPACKETS', 'IMISSED', 'IERRORS', 'RX_NOMBUF'],
        ...(d.ports as Json[]).map((p) => [p.name, p.driver, p.mac, p.linkUp ? 'up' : 'down', p.tap ?? '-', String(p.stats.ipackets),
          String(p.stats.opackets), String(p.stats.imissed), String(p.stats.ierrors), String(p.stats.rxNombuf)])]));
      const drops = Object.entries(d.drops as Record<string, number>);
      out.write(`\ndrops: ${drops.length ? drops.map(([k, v]) => `${k}=${v}`).join(' ') : 'none'}\n`);
      out.write(`neighbours: ${(d.neighbours as Json[]).map((n) => `${n.address}@${n.port}=${n.mac} ${n.state}`).join(', ') || 'none'}\n`);
      out.write(`${restartLine(d.restart as Json | null | undefined)}\n`);
    }
    return 0;
  } catch (e) {
    process.stderr.write(`fulcrum ${view}: ${(e as Error).message}\n`);
    return e instanceof DirectorUnavailable ? 2 : 1;
  }
}

/** What this start made of the connections the last graceful stop saved. */
function restartLine(r: Json | null | undefined): string {
  if (!r) return 'restart: connections not kept (dataplane.keepConnections: false)';
  if (!r.found) return 'restart: no saved connections at this start';
  if (r.refused) return `restart: saved connections refused (${r.refused}); started empty`;
  const skipped = Object.entries(r.skipped as Record<string, number>).filter(([, n]) => n > 0);
  return `restart: ${r.restored} of ${r.entries} connections restored after ${(r.downMs / 1000).toFixed(1)} s down` +
    (skipped.length ? `; skipped ${skipped.map(([k, v]) => `${k}=${v}`).join(' ')}` : '');
}
