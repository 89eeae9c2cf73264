// The one rule for what only the config file may carry: command health checks, which run a
// program as the director's user (root) every interval. The file is written by whoever
// administers the director; the API is open to every local user on loopback. So:
//  - every write path (each API route, batch ops, PUT /v1/config in both forms) refuses a body
//    that holds one anywhere (fileOnlyProblems walks the whole document, whatever its shape);
//  - the desired state and its files (state.json, the journal) never hold one: the file's
//    command checks are split off into an overlay when the file is read (splitFileOnly) and
//    joined back only for the health monitor and listings (withFileOnly);
//  - a state directory that holds one anyway is refused at start (the same walk).
import type { HealthCheckConfig, RealServerConfig, ServiceConfig } from './config_schema';
import { serverId, serviceKey } from './identity';

/** Why a file-only attribute is refused, for messages. */
export const FILE_ONLY_WHY = 'command checks can only come from the config file';

/** Paths of every command check in a document (a service, a real server, a config, a batch
 * body...), checked before anything else reads it: any `healthChecks` array, at any depth. */
export function fileOnlyProblems(doc: unknown, at: string): string[] {
  const out: string[] = [];
  const walk = (v: unknown, path: string, depth: number) => {
    if (depth > 16 || v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${path}[${i}]`, depth + 1));
      return;
    }
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const p = path ? `${path}.${k}` : k;
      if (k === 'healthChecks' && Array.isArray(x)) {
        x.forEach((c, i) => {
          if (c && typeof c === 'object' && (c as { type?: unknown }).type === 'command')
            out.push(`${p}[${i}]: ${FILE_ONLY_WHY}, not over the API`);
        });
      }
      walk(x, p, depth + 1);
    }
  };
  walk(doc, at, 0);
  return out;
}

/** The file's command checks, by service and real server, kept beside the desired state. */
export interface FileOnlyOverlay {
  services: Map<string, { service: HealthCheckConfig[]; servers: Map<string, HealthCheckConfig[]> }>;
}

export const emptyOverlay = (): FileOnlyOverlay => ({ services: new Map() });

const isCommand = (c: HealthCheckConfig) => c.type === 'command';

/** Splits the file's services into what the desired state may hold and the overlay. */
export function splitFileOnly(services: ServiceConfig[]): { services: ServiceConfig[]; overlay: FileOnlyOverlay } {
  const overlay = emptyOverlay();
  const out = services.map((s) => {
    const svcCmds = (s.healthChecks ?? []).filter(isCommand);
    const servers = new Map<string, HealthCheckConfig[]>();
    const realServers = s.realServers?.map((r) => {
      const cmds = (r.healthChecks ?? []).filter(isCommand);
      if (!cmds.length) return r;
      servers.set(serverId(s, r), cmds);
      return { ...r, healthChecks: r.healthChecks!.filter((c) => !isCommand(c)) };
    });
    if (!svcCmds.length && !servers.size) return s;
    overlay.services.set(serviceKey(s), { service: svcCmds, servers });
    const next: ServiceConfig = { ...s, ...(realServers ? { realServers } : {}) };
    if (svcCmds.length) next.healthChecks = s.healthChecks!.filter((c) => !isCommand(c));
    return next;
  });
  return { services: out, overlay };
}

/** The service as the file meant it: the desired state's, with the file's command checks
 * for the same service and real servers put back. */
export function withFileOnly(s: ServiceConfig, overlay: FileOnlyOverlay): ServiceConfig {
  const o = overlay.services.get(serviceKey(s));
  if (!o) return s;
  const realServers = s.realServers?.map((r): RealServerConfig => {
    const cmds = o.servers.get(serverId(s, r));
    return cmds ? { ...r, healthChecks: [...(r.healthChecks ?? []), ...cmds] } : r;
  });
  return {
    ...s,
    ...(realServers ? { realServers } : {}),
    ...(o.service.length ? { healthChecks: [...(s.healthChecks ?? []), ...o.service] } : {}),
  };
}
