// The edits the write routes make to a draft of the desired state, one function each, so a
// single route and a batch of them (/v1/batch, what fvsadm -R sends) change the state the
// same way. Each refuses a body carrying what only the config file may carry (file_only.ts)
// before anything else, throws ApiError (404 naming what is missing, 409, 400), and replaces
// whole services in the draft (committed services are frozen and shared: never mutated).
import type { RealServerConfig, ServiceConfig } from '../control/config_schema';
import { fileOnlyProblems, FILE_ONLY_WHY } from '../control/file_only';
import { serverId, serviceId } from '../control/identity';
import type { Draft, Timeouts } from '../control/state';
import { ApiError, conflict, notFound } from './errors';

// What Fulcrum has beyond ipvsadm: a replace (ipvsadm -E/-e sets every ipvsadm attribute)
// keeps these when the body leaves them out, so an ipvsadm-style edit never drops checks.
const FULCRUM_ONLY_SERVICE = ['healthChecks', 'inhibitOnFailure', 'sorryServer', 'quorum', 'hysteresis'] as const;

export type ServicePatch = Partial<Omit<ServiceConfig, 'protocol' | 'address' | 'port' | 'fwmark' | 'family'>>;
export type ServerPatch = Partial<Omit<RealServerConfig, 'address' | 'port'>>;

/** The one rule, at the door of every write: 403 naming each place that holds a command check. */
export function refuseFileOnly(body: unknown, at = '(body)'): void {
  const problems = fileOnlyProblems(body, at === '(body)' ? '' : at);
  if (problems.length) throw new ApiError(403, FILE_ONLY_WHY, problems);
}

/** The service a body names; a body that names none is refused before anything else. */
function namedId(body: ServiceConfig): string {
  if (body.fwmark === undefined && (body.protocol === undefined || body.address === undefined || body.port === undefined))
    throw new ApiError(400, 'the body must name the service: protocol, address and port, or fwmark',
      ['(body): needs protocol, address and port, or fwmark']);
  return serviceId(body);
}

export function findService(d: Pick<Draft, 'get'>, id: string): ServiceConfig {
  const s = d.get(id);
  if (!s) throw notFound(`service ${id}`, 'service');
  return s;
}
export function findServer(s: ServiceConfig, id: string): RealServerConfig {
  const r = (s.realServers ?? []).find((x) => serverId(s, x) === id);
  if (!r) throw notFound(`real server ${id} of service ${serviceId(s)}`, 'server');
  return r;
}

export function addService(d: Draft, body: ServiceConfig): string {
  refuseFileOnly(body);
  const id = namedId(body);
  if (d.has(id)) throw conflict(`service ${id} already exists`);
  d.put(id, body);
  return id;
}

export function replaceService(d: Draft, id: string, body: ServiceConfig): void {
  refuseFileOnly(body);
  if (namedId(body) !== id) throw new ApiError(400, `the body names service ${serviceId(body)}, the path ${id}`);
  const old = findService(d, id);
  const next: ServiceConfig = { ...body, ...(body.realServers ?? old.realServers ? { realServers: body.realServers ?? old.realServers } : {}) };
  for (const k of FULCRUM_ONLY_SERVICE) if (body[k] === undefined && old[k] !== undefined) (next as Record<string, unknown>)[k] = old[k];
  if (body.mhTableSize === undefined && old.mhTableSize !== undefined && next.scheduler === 'mh') next.mhTableSize = old.mhTableSize;
  d.put(id, next);
}

export function patchService(d: Draft, id: string, body: ServicePatch): void {
  refuseFileOnly(body);
  const old = findService(d, id);
  d.put(id, { ...old, ...body } as ServiceConfig);
}

export function deleteService(d: Draft, id: string): void {
  findService(d, id);
  d.delete(id);
}

export function deleteAllServices(d: Draft): void {
  d.clear();
}

/** A new service object with this list of real servers. */
const withServers = (s: ServiceConfig, list: RealServerConfig[]): ServiceConfig => ({ ...s, realServers: list });

export function addServer(d: Draft, id: string, body: RealServerConfig): string {
  refuseFileOnly(body);
  const s = findService(d, id);
  const rid = serverId(s, body);
  if ((s.realServers ?? []).some((x) => serverId(s, x) === rid)) throw conflict(`real server ${rid} already exists`);
  d.put(id, withServers(s, [...(s.realServers ?? []), body]));
  return rid;
}

/** Returns the server as placed. */
export function replaceServer(d: Draft, id: string, server: string, body: RealServerConfig): RealServerConfig {
  refuseFileOnly(body);
  const s = findService(d, id);
  const old = findServer(s, server);
  if (serverId(s, body) !== server) throw new ApiError(400, `the body names real server ${serverId(s, body)}, the path ${server}`);
  const next = { ...body, ...(body.healthChecks === undefined && old.healthChecks ? { healthChecks: old.healthChecks } : {}) };
  d.put(id, withServers(s, s.realServers!.map((x) => (x === old ? next : x))));
  return next;
}

/** Returns the server as placed. */
export function patchServer(d: Draft, id: string, server: string, body: ServerPatch): RealServerConfig {
  refuseFileOnly(body);
  const s = findService(d, id);
  const old = findServer(s, server);
  const next = { ...old, ...body };
  d.put(id, withServers(s, s.realServers!.map((x) => (x === old ? next : x))));
  return next;
}

export function deleteServer(d: Draft, id: string, server: string): void {
  const s = findService(d, id);
  const old = findServer(s, server);
  d.put(id, withServers(s, s.realServers!.filter((x) => x !== old)));
}

/** Absent fields keep their value (ipvsadm --set 0 leaves a timeout as it is). */
export function setTimeouts(d: Draft, body: Partial<Timeouts>): void {
  const cur = d.currentTimeouts();
  d.setTimeouts({ tcp: body.tcp ?? cur.tcp, tcpfin: body.tcpfin ?? cur.tcpfin, udp: body.udp ?? cur.udp });
}
