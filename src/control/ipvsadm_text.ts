// The config's services as `ipvsadm -S -n` text and back: what /v1/config offers beside JSON
// so existing ipvsadm-save files restore into Fulcrum and Fulcrum's state saves for tools that
// read them. Thresholds are not in the text (ipvsadm -S drops them too). FullNAT, which
// ipvsadm cannot express, is written `--fullnat`, as fvsadm reads and writes it. Services and
// real servers come in config order (fvsadm -S sorts as ipvsadm does).
import type { RealServerConfig, ServiceConfig } from './config_schema';

const METHOD_FLAG: Record<string, string> = { dr: '-g', nat: '-m', tun: '-i', fullnat: '--fullnat' };
const FLAG_METHOD: Record<string, RealServerConfig['method']> = {
  '-g': 'dr', '--gatewaying': 'dr', '-m': 'nat', '--masquerading': 'nat', '-i': 'tun', '--ipip': 'tun', '--fullnat': 'fullnat',
};

function serviceSelector(s: ServiceConfig): string {
  if (s.fwmark !== undefined) return `-f ${s.fwmark}`;
  const flag = s.protocol === 'udp' ? '-u' : s.protocol === 'sctp' ? '--sctp-service' : '-t';
  return `${flag} ${s.address}:${s.port}`;
}

/** `ipvsadm -S -n` for these services, in their order, real servers in theirs. */
export function saveIpvsadm(services: ServiceConfig[]): string {
  const lines: string[] = [];
  for (const s of services) {
    const sel = serviceSelector(s);
    let a = `-A ${sel} -s ${s.scheduler ?? 'wlc'}`;
    if (s.persistence) {
      a += ` -p ${s.persistence.timeout ?? 360}`;
      if (s.persistence.netmask && s.persistence.netmask !== '255.255.255.255') a += ` -M ${s.persistence.netmask}`;
    }
    if (s.onePacket) a += ' -o';
    if (s.schedFlags?.length) a += ` -b ${s.schedFlags.join(',')}`;
    lines.push(a);
    for (const r of s.realServers ?? []) {
      const port = r.port ?? s.port ?? 0;
      const tun = r.method === 'tun' ? ' --tun-type ipip' : '';
      lines.push(`-a ${sel} -r ${r.address}:${port} ${METHOD_FLAG[r.method ?? 'dr']} -w ${r.weight ?? 1}${tun}`);
    }
  }
  return lines.map((l) => l + '\n').join('');
}

export class IpvsadmTextError extends Error {
  constructor(readonly line: number, message: string) {
    super(`line ${line}: ${message}`);
  }
}

function addrPort(s: string, line: number): { address: string; port: number } {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(s);
  if (!m) throw new IpvsadmTextError(line, `'${s}' is not an address:port (names are not resolved; save with -n)`);
  const port = m[2] === undefined ? 0 : Number(m[2]);
  if (port > 65535) throw new IpvsadmTextError(line, `port ${port} out of range`);
  return { address: m[1], port };
}

/** Parses ipvsadm -S -n text (-A and -a lines, `ipvsadm` tokens dropped, blank lines skipped,
 * as ipvsadm -R reads it) into services. Any bad line refuses the whole text. */
export function parseIpvsadm(text: string): ServiceConfig[] {
  const services = new Map<string, ServiceConfig>();
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const t = raw.trim().split(/\s+/).filter((x) => x && x !== 'ipvsadm');
    if (!t.length) return;
    const cmd = t.shift()!;
    if (cmd !== '-A' && cmd !== '--add-service' && cmd !== '-a' && cmd !== '--add-server')
      throw new IpvsadmTextError(line, `only -A and -a lines can be restored, got '${cmd}'`);
    const svc: ServiceConfig = {};
    const rs: RealServerConfig = { address: '' };
    let key = '';
    while (t.length) {
      const opt = t.shift()!;
      const val = () => {
        const v = t.shift();
        if (v === undefined) throw new IpvsadmTextError(line, `${opt} needs a value`);
        return v;
      };
      switch (opt) {
        case '-t': case '--tcp-service': case '-u': case '--udp-service': case '--sctp-service': {
          const { address, port } = addrPort(val(), line);
          svc.protocol = opt.startsWith('-u') || opt === '--udp-service' ? 'udp' : opt === '--sctp-service' ? 'sctp' : 'tcp';
          svc.address = address;
          svc.port = port;
          key = `${svc.protocol} ${address}:${port}`;
          break;
        }
        case '-f': case '--fwmark-service': {
          const v = val();
          if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 4294967295) throw new IpvsadmTextError(line, `bad fwmark '${v}'`);
          svc.fwmark = Number(v);
          key = `fwmark ${v}`;
          break;
        }
        case '-s': case '--scheduler': svc.scheduler = val() as ServiceConfig['scheduler']; break;
        case '-p': case '--persistent': {
          const next = t[0];
          svc.persistence = { ...(svc.persistence ?? {}), timeout: next && /^\d+$/.test(next) ? Number(t.shift()) : 360 };
          break;
        }
        case '-M': case '--netmask': svc.persistence = { ...(svc.persistence ?? {}), netmask: val() }; break;
        case '-o': case '--ops': svc.onePacket = true; break;
        case '-b': case '--sched-flags': svc.schedFlags = val().split(',') as ServiceConfig['schedFlags']; break;
        case '--tun-type': {
          const v = val();
          if (v !== 'ipip') throw new IpvsadmTextError(line, `--tun-type ${v}: the director tunnels with IPIP only`);
          break;
        }
        case '-r': case '--real-server': {
          const { address, port } = addrPort(val(), line);
          rs.address = address;
          if (port) rs.port = port;
          break;
        }
        case '-g': case '--gatewaying': case '-m': case '--masquerading': case '-i': case '--ipip': case '--fullnat':
          rs.method = FLAG_METHOD[opt];
          break;
        case '-w': case '--weight': {
          const v = val();
          if (!/^\d+$/.test(v)) throw new IpvsadmTextError(line, `bad weight '${v}'`);
          rs.weight = Number(v);
          break;
        }
        case '-x': case '--u-threshold': rs.upperThreshold = Number(val()); break;
        case '-y': case '--l-threshold': rs.lowerThreshold = Number(val()); break;
        default:
          throw new IpvsadmTextError(line, `option '${opt}' cannot be restored`);
      }
    }
    if (!key) throw new IpvsadmTextError(line, 'no service named (-t, -u, --sctp-service or -f)');
    if (cmd === '-A' || cmd === '--add-service') {
      if (services.has(key)) throw new IpvsadmTextError(line, 'Service already exists');
      services.set(key, { ...svc, scheduler: svc.scheduler ?? 'wlc', realServers: [] });
    } else {
      const s = services.get(key);
      if (!s) throw new IpvsadmTextError(line, 'Service not defined');
      if (!rs.address) throw new IpvsadmTextError(line, '-a needs -r address:port');
      const method = rs.method ?? 'dr';
      // DR and TUN cannot change the port: ipvsadm gives the real server the service's.
      if ((method === 'dr' || method === 'tun') && s.fwmark === undefined) rs.port = s.port;
      s.realServers!.push({ ...rs, method, weight: rs.weight ?? 1 });
    }
  });
  return [...services.values()];
}
