// The edits the write routes make to a draft of the desired state, one function each, so a
// single route and a batch of them (/v1/batch, what fvsadm -R sends) change the state the
// same way. Each throws ApiError (404 naming what is missing, 409, 400) and leaves the draft
// as it found it when it does.
import type { FulcrumConfig, RealServerConfig, ServiceConfig } from '../control/config_schema';
import { serverId, serviceId } from '../control/daemon';
import { ApiError, conflict, notFound } from './errors';

// What Fulcrum has beyond ipvsadm: a replace (ipvsadm -E/-e sets every ipvsadm attribute)
// keeps these when the body leaves them out, so an ipvsadm-style edit never drops checks.
const FULCRUM_ONLY_SERVICE = ['healthChecks', 'inhibitOnFailure', 'sorryServer', 'quorum', 'hysteresis'] as const;

export type ServicePatch = Partial<Omit<ServiceConfig, 'protocol' | 'address' | 'port' | 'fwmark'>>;
export type ServerPatch = Partial<Omit<RealServerConfig, 'address' | 'port'>>;

function noCommandChecks(checks: Array<{ type: string }> | undefined, at: string) {
  if (checks?.some((c) => c.type === 'command'))
    throw new ApiError(400, 'command checks can only come from the config file', [`${at}: command checks are not accepted over the API`]);
}
/** Command checks come only from the config file, never from a request. */
export function checkServiceBody(s: Partial<ServiceConfig>) {
  noCommandChecks(s.healthChecks, 'healthChecks');
  (s.realServers ?? []).forEach((r, i) => noCommandChecks(r.healthChecks, `realServers[${i}].healthChecks`));
}

/** The service a body names; a body that names none is refused before anything else. */
function namedId(body: ServiceConfig): string {
  if (body.fwmark === undefined && (body.protocol === undefined || body.address === undefined || body.port === undefined))
    throw new ApiError(400, 'the body must name the service: protocol, address and port, or fwmark',
      ['(body): needs protocol, address and port, or fwmark']);
  return serviceId(body);
}

export function findService(cfg: FulcrumConfig, id: string): ServiceConfig {
  const s = (cfg.services ?? []).find((x) => serviceId(x) === id);
  if (!s) throw notFound(`service ${id}`, 'service');
  return s;
}
export function findServer(s: ServiceConfig, id: string): RealServerConfig {
  const r = (s.realServers ?? []).find((x) => serverId(s, x) === id);
  if (!r) throw notFound(`real server ${id} of service ${serviceId(s)}`, 'server');
  return r;
}

export function addService(cfg: FulcrumConfig, body: ServiceConfig): string {
  checkServiceBody(body);
  const id = namedId(body);
  if ((cfg.services ?? []).some((x) => serviceId(x) === id)) throw conflict(`service ${id} already exists`);
  cfg.services = [...(cfg.services ?? []), body];
  return id;
}

export function replaceService(cfg: FulcrumConfig, id: string, body: ServiceConfig): void {
  checkServiceBody(body);
  if (namedId(body) !== id) throw new ApiError(400, `the body names service ${serviceId(body)}, the path ${id}`);
  const old = findService(cfg, id);
  const next: ServiceConfig = { ...body, realServers: body.realServers ?? old.realServers };
  for (const k of FULCRUM_ONLY_SERVICE) if (body[k] === undefined && old[k] !== undefined) (next as Record<string, unknown>)[k] = old[k];
  if (body.mhTableSize === undefined && old.mhTableSize !== undefined && next.scheduler === 'mh') next.mhTableSize = old.mhTableSize;
  cfg.services = cfg.services!.map((x) => (x === old ? next : x));
}

export function patchService(cfg: FulcrumConfig, id: string, body: ServicePatch): void {
  noCommandChecks(body.healthChecks, 'healthChecks');
  const old = findService(cfg, id);
  cfg.services = cfg.services!.map((x) => (x === old ? { ...old, ...body } as ServiceConfig : x));
}

export function deleteService(cfg: FulcrumConfig, id: string): void {
  const old = findService(cfg, id);
  cfg.services = cfg.services!.filter((x) => x !== old);
}

export function deleteAllServices(cfg: FulcrumConfig): void {
  cfg.services = [];
}

export function addServer(cfg: FulcrumConfig, id: string, body: RealServerConfig): string {
  noCommandChecks(body.healthChecks, 'healthChecks');
  const s = findService(cfg, id);
  const rid = serverId(s, body);
  if ((s.realServers ?? []).some((x) => serverId(s, x) === rid)) throw conflict(`real server ${rid} already exists`);
  s.realServers = [...(s.realServers ?? []), body];
  return rid;
}

export function replaceServer(cfg: FulcrumConfig, id: string, server: string, body: RealServerConfig): void {
  noCommandChecks(body.healthChecks, 'healthChecks');
  const s = findService(cfg, id);
  const old = findServer(s, server);
  if (serverId(s, body) !== server) throw new ApiError(400, `the body names real server ${serverId(s, body)}, the path ${server}`);
  const next = { ...body, ...(body.healthChecks === undefined && old.healthChecks ? { healthChecks: old.healthChecks } : {}) };
  s.realServers = s.realServers!.map((x) => (x === old ? next : x));
}

export function patchServer(cfg: FulcrumConfig, id: string, server: string, body: ServerPatch): void {
  noCommandChecks(body.healthChecks, 'healthChecks');
  const s = findService(cfg, id);
  const old = findServer(s, server);
  s.realServers = s.realServers!.map((x) => (x === old ? { ...old, ...body } : x));
}

export function deleteServer(cfg: FulcrumConfig, id: string, server: string): void {
  const s = findService(cfg, id);
  const old = findServer(s, server);
  s.realServers = s.realServers!.filter((x) => x !== old);
}

/** Absent fields keep their value (ipvsadm --set 0 leaves a timeout as it is). */
export function setTimeouts(cfg: FulcrumConfig, body: { tcp?: number; tcpfin?: number; udp?: number }): void {
  const cur = cfg.timeouts ?? {};
  cfg.timeouts = {
    tcp: body.tcp ?? cur.tcp ?? 900, tcpfin: body.tcpfin ?? cur.tcpfin ?? 120, udp: body.udp ?? cur.udp ?? 300,
  };
}
