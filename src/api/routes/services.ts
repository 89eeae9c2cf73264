// /v1/services and /v1/services/{id}/servers: virtual services and their real servers, with
// every attribute ipvsadm has, named in bodies as the config file names them. Each write is
// one change of the desired state (validated whole, applied as one snapshot, persisted).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { RealServerSchema, ServiceSchema, type FulcrumConfig, type RealServerConfig, type ServiceConfig } from '../../control/config_schema';
import { serverId, serviceId, type Daemon, type LiveService } from '../../control/daemon';
import { ApiError, conflict, notFound } from '../errors';

const Id = Type.Object({ id: Type.String({ description: 'tcp:10.0.0.100:80, udp:…, sctp:… or fwmark:5' }) });
const ServerIds = Type.Object({ id: Type.String(), server: Type.String({ description: 'address:port, e.g. 172.16.0.11:8080' }) });
const PatchService = Type.Partial(Type.Omit(ServiceSchema, ['protocol', 'address', 'port', 'fwmark']), { additionalProperties: false });
const PatchServer = Type.Partial(Type.Omit(RealServerSchema, ['address', 'port']), { additionalProperties: false });

// What Fulcrum has beyond ipvsadm: a PUT (ipvsadm -E/-e replaces every ipvsadm attribute)
// keeps these when the body leaves them out, so an ipvsadm-style edit never drops checks.
const FULCRUM_ONLY_SERVICE = ['healthChecks', 'inhibitOnFailure', 'sorryServer', 'quorum', 'hysteresis'] as const;

function noCommandChecks(checks: Array<{ type: string }> | undefined, at: string) {
  if (checks?.some((c) => c.type === 'command'))
    throw new ApiError(400, 'command checks can only come from the config file', [`${at}: command checks are not accepted over the API`]);
}
function checkServiceBody(s: ServiceConfig) {
  noCommandChecks(s.healthChecks, 'healthChecks');
  (s.realServers ?? []).forEach((r, i) => noCommandChecks(r.healthChecks, `realServers[${i}].healthChecks`));
}

function findService(cfg: FulcrumConfig, id: string): ServiceConfig {
  const s = (cfg.services ?? []).find((x) => serviceId(x) === id);
  if (!s) throw notFound(`service ${id}`);
  return s;
}
function findServer(s: ServiceConfig, id: string): RealServerConfig {
  const r = (s.realServers ?? []).find((x) => serverId(s, x) === id);
  if (!r) throw notFound(`real server ${id} of service ${serviceId(s)}`);
  return r;
}

export function serviceJson(s: LiveService) {
  return {
    id: s.id, ...s.config, stats: s.stats, rates: s.rates,
    realServers: s.servers.map((r) => ({
      id: r.id, ...r.config, port: r.config.port ?? s.config.port ?? 0, effectiveWeight: r.effectiveWeight,
      inDataplane: r.inDataplane, health: r.health, activeConns: r.activeConns, inactConns: r.inactConns,
      persistConns: r.persistConns, stats: r.stats, rates: r.rates,
    })),
  };
}

export const serviceRoutes = (daemon: Daemon): FastifyPluginAsyncTypebox => async (app) => {
  const live = async (id: string) => {
    const s = (await daemon.services()).find((x) => x.id === id);
    if (!s) throw notFound(`service ${id}`);
    return s;
  };

  app.get('/v1/services', { schema: { tags: ['services'], summary: 'List virtual services with real servers, counters and rates' } },
    async () => (await daemon.services()).map(serviceJson));

  app.post('/v1/services', { schema: { tags: ['services'], summary: 'Create a virtual service (ipvsadm -A)', body: ServiceSchema } },
    async (req, reply) => {
      checkServiceBody(req.body);
      const id = serviceId(req.body);
      await daemon.change((cfg) => {
        if ((cfg.services ?? []).some((x) => serviceId(x) === id)) throw conflict(`service ${id} already exists`);
        cfg.services = [...(cfg.services ?? []), req.body];
      });
      reply.code(201);
      return serviceJson(await live(id));
    });

  app.delete('/v1/services', { schema: { tags: ['services'], summary: 'Delete every service at once (ipvsadm -C)' } },
    async (_req, reply) => {
      await daemon.change((cfg) => { cfg.services = []; });
      reply.code(204);
    });

  app.get('/v1/services/:id', { schema: { tags: ['services'], summary: 'One virtual service', params: Id } },
    async (req) => serviceJson(await live(req.params.id)));

  app.put('/v1/services/:id', { schema: { tags: ['services'], summary: 'Replace a service (ipvsadm -E: every ipvsadm attribute; real servers, health checks, quorum and sorry server kept unless given)', params: Id, body: ServiceSchema } },
    async (req) => {
      checkServiceBody(req.body);
      if (serviceId(req.body) !== req.params.id)
        throw new ApiError(400, `the body names service ${serviceId(req.body)}, the path ${req.params.id}`);
      await daemon.change((cfg) => {
        const old = findService(cfg, req.params.id);
        const next: ServiceConfig = { ...req.body, realServers: req.body.realServers ?? old.realServers };
        for (const k of FULCRUM_ONLY_SERVICE) if (req.body[k] === undefined && old[k] !== undefined) (next as Record<string, unknown>)[k] = old[k];
        if (req.body.mhTableSize === undefined && old.mhTableSize !== undefined && next.scheduler === 'mh') next.mhTableSize = old.mhTableSize;
        cfg.services = cfg.services!.map((x) => (x === old ? next : x));
      });
      return serviceJson(await live(req.params.id));
    });

  app.patch('/v1/services/:id', { schema: { tags: ['services'], summary: 'Change some attributes of a service', params: Id, body: PatchService } },
    async (req) => {
      noCommandChecks(req.body.healthChecks, 'healthChecks');
      await daemon.change((cfg) => {
        const old = findService(cfg, req.params.id);
        cfg.services = cfg.services!.map((x) => (x === old ? { ...old, ...req.body } as ServiceConfig : x));
      });
      return serviceJson(await live(req.params.id));
    });

  app.delete('/v1/services/:id', { schema: { tags: ['services'], summary: 'Delete a service (ipvsadm -D)', params: Id } },
    async (req, reply) => {
      await daemon.change((cfg) => {
        const old = findService(cfg, req.params.id);
        cfg.services = cfg.services!.filter((x) => x !== old);
      });
      reply.code(204);
    });

  // ---- real servers ------------------------------------------------------------------------

  app.get('/v1/services/:id/servers', { schema: { tags: ['servers'], summary: 'Real servers of a service', params: Id } },
    async (req) => serviceJson(await live(req.params.id)).realServers);

  app.post('/v1/services/:id/servers', { schema: { tags: ['servers'], summary: 'Add a real server (ipvsadm -a)', params: Id, body: RealServerSchema } },
    async (req, reply) => {
      noCommandChecks(req.body.healthChecks, 'healthChecks');
      let rid = '';
      await daemon.change((cfg) => {
        const s = findService(cfg, req.params.id);
        rid = serverId(s, req.body);
        if ((s.realServers ?? []).some((x) => serverId(s, x) === rid)) throw conflict(`real server ${rid} already exists`);
        s.realServers = [...(s.realServers ?? []), req.body];
      });
      reply.code(201);
      return serviceJson(await live(req.params.id)).realServers.find((r) => r.id === rid);
    });

  const oneServer = async (id: string, server: string) => {
    const r = serviceJson(await live(id)).realServers.find((x) => x.id === server);
    if (!r) throw notFound(`real server ${server} of service ${id}`);
    return r;
  };

  app.get('/v1/services/:id/servers/:server', { schema: { tags: ['servers'], summary: 'One real server', params: ServerIds } },
    async (req) => oneServer(req.params.id, req.params.server));

  app.put('/v1/services/:id/servers/:server', { schema: { tags: ['servers'], summary: 'Replace a real server (ipvsadm -e: every attribute)', params: ServerIds, body: RealServerSchema } },
    async (req) => {
      noCommandChecks(req.body.healthChecks, 'healthChecks');
      await daemon.change((cfg) => {
        const s = findService(cfg, req.params.id);
        const old = findServer(s, req.params.server);
        if (serverId(s, req.body) !== req.params.server)
          throw new ApiError(400, `the body names real server ${serverId(s, req.body)}, the path ${req.params.server}`);
        const next = { ...req.body, ...(req.body.healthChecks === undefined && old.healthChecks ? { healthChecks: old.healthChecks } : {}) };
        s.realServers = s.realServers!.map((x) => (x === old ? next : x));
      });
      return oneServer(req.params.id, req.params.server);
    });

  app.patch('/v1/services/:id/servers/:server', { schema: { tags: ['servers'], summary: 'Change some attributes of a real server (weight 0 drains)', params: ServerIds, body: PatchServer } },
    async (req) => {
      noCommandChecks(req.body.healthChecks, 'healthChecks');
      await daemon.change((cfg) => {
        const s = findService(cfg, req.params.id);
        const old = findServer(s, req.params.server);
        s.realServers = s.realServers!.map((x) => (x === old ? { ...old, ...req.body } : x));
      });
      return oneServer(req.params.id, req.params.server);
    });

  app.delete('/v1/services/:id/servers/:server', { schema: { tags: ['servers'], summary: 'Remove a real server (ipvsadm -d)', params: ServerIds } },
    async (req, reply) => {
      await daemon.change((cfg) => {
        const s = findService(cfg, req.params.id);
        const old = findServer(s, req.params.server);
        s.realServers = s.realServers!.filter((x) => x !== old);
      });
      reply.code(204);
    });

  app.post('/v1/services/:id/servers/:server/flush', { schema: { tags: ['servers'], summary: 'Drop the connections of a real server', params: ServerIds } },
    async (req) => {
      const cfg = daemon.state.current;
      const s = findService(cfg, req.params.id);
      const r = findServer(s, req.params.server);
      return { flushed: await daemon.flushServer(s, r) };
    });
};
