// /v1/services and /v1/services/{id}/servers: virtual services and their real servers, with
// every attribute ipvsadm has, named in bodies as the config file names them. Each write is
// one change of the desired state (validated whole, applied as one snapshot, persisted).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { RealServerSchema, ServiceSchema } from '../../control/config_schema';
import type { Daemon, LiveService } from '../../control/daemon';
import { canonicalServerId, canonicalServiceId, serverPort } from '../../control/identity';
import * as edit from '../edits';
import { ApiError, notFound } from '../errors';
import { jsonArrayStream, ndjsonStream } from '../json_array';

const Id = Type.Object({ id: Type.String({ description: 'tcp:10.0.0.100:80, tcp:[2001:db8::100]:80, udp:…, sctp:…, fwmark:5 or fwmark6:5 (URL-encoded or not)' }) });
const ServerIds = Type.Object({ id: Type.String(), server: Type.String({ description: 'address:port, e.g. 172.16.0.11:8080 or [2001:db8::11]:8080' }) });
export const PatchService = Type.Partial(Type.Omit(ServiceSchema, ['protocol', 'address', 'port', 'fwmark', 'family']), { additionalProperties: false });
export const PatchServer = Type.Partial(Type.Omit(RealServerSchema, ['address', 'port']), { additionalProperties: false });

export function serviceJson(s: LiveService) {
  return {
    id: s.id, ...s.config, stats: s.stats, rates: s.rates,
    realServers: s.servers.map((r) => ({
      id: r.id, ...r.config, port: serverPort(s.config, r.config), effectiveWeight: r.effectiveWeight,
      inDataplane: r.inDataplane, health: r.health, activeConns: r.activeConns, inactConns: r.inactConns,
      persistConns: r.persistConns, stats: r.stats, rates: r.rates,
    })),
  };
}

export const serviceRoutes = (daemon: Daemon): FastifyPluginAsyncTypebox => async (app) => {
  // Ids in their canonical form, as the state keys them: an IPv6 address may come in any
  // spelling (tcp:[2001:DB8:0::100]:80 names tcp:[2001:db8::100]:80).
  app.addHook('preHandler', async (req) => {
    const p = req.params as { id?: string; server?: string } | undefined;
    if (p?.id !== undefined) p.id = canonicalServiceId(p.id);
    if (p?.server !== undefined) p.server = canonicalServerId(p.server);
  });
  // Reads show counters read now; write answers show the last 2 s sample's (a write costs
  // what it changes, not a read of every counter in the dataplane).
  const live = async (id: string, fresh = true) => {
    const [s] = await daemon.services({ ids: [id], fresh });
    if (!s) throw notFound(`service ${id}`, 'service');
    return s;
  };

  app.get('/v1/services', {
    schema: { tags: ['services'], summary: 'List virtual services with real servers, counters and rates (all, or a page: offset/limit; X-Total-Count says how many there are)',
      querystring: Type.Object({ offset: Type.Optional(Type.Integer({ minimum: 0 })), limit: Type.Optional(Type.Integer({ minimum: 1 })),
        format: Type.Optional(Type.Literal('ndjson', { description: 'the whole table as NDJSON: one service a line, to read as it arrives' })) }) },
  }, async (req, reply) => {
    const { offset = 0, limit, format } = req.query;
    if (format === 'ndjson' && (offset !== 0 || limit !== undefined))
      throw new ApiError(400, 'format=ndjson lists the whole table: no offset or limit', ['format: ndjson takes no offset or limit']);
    if (offset === 0 && limit === undefined) {
      // The whole table: one snapshot, written as it is read (a large site's is tens of MB).
      const table = await daemon.table();
      reply.header('x-total-count', String(table.count));
      if (format === 'ndjson') return reply.type('application/x-ndjson; charset=utf-8').send(ndjsonStream(table.services, serviceJson));
      reply.type('application/json; charset=utf-8');
      return jsonArrayStream(table.services, serviceJson);
    }
    reply.header('x-total-count', String(daemon.state.serviceCount));
    const ids: string[] = [];
    let i = 0;
    for (const id of daemon.state.ids()) {
      if (i++ < offset) continue;
      if (limit !== undefined && ids.length >= limit) break;
      ids.push(id);
    }
    return (await daemon.services({ ids })).map(serviceJson);
  });

  app.post('/v1/services', { schema: { tags: ['services'], summary: 'Create a virtual service (ipvsadm -A)', body: ServiceSchema } },
    async (req, reply) => {
      const id = await daemon.change((cfg) => edit.addService(cfg, req.body));
      reply.code(201);
      return serviceJson(await live(id, false));
    });

  app.delete('/v1/services', { schema: { tags: ['services'], summary: 'Delete every service at once (ipvsadm -C)' } },
    async (_req, reply) => {
      await daemon.change((cfg) => edit.deleteAllServices(cfg));
      reply.code(204);
    });

  app.get('/v1/services/:id', { schema: { tags: ['services'], summary: 'One virtual service', params: Id } },
    async (req) => serviceJson(await live(req.params.id)));

  app.put('/v1/services/:id', { schema: { tags: ['services'], summary: 'Replace a service (ipvsadm -E: every ipvsadm attribute; real servers, health checks, quorum and sorry server kept unless given)', params: Id, body: ServiceSchema } },
    async (req) => {
      await daemon.change((cfg) => edit.replaceService(cfg, req.params.id, req.body));
      return serviceJson(await live(req.params.id, false));
    });

  app.patch('/v1/services/:id', { schema: { tags: ['services'], summary: 'Change some attributes of a service', params: Id, body: PatchService } },
    async (req) => {
      await daemon.change((cfg) => edit.patchService(cfg, req.params.id, req.body));
      return serviceJson(await live(req.params.id, false));
    });

  app.delete('/v1/services/:id', { schema: { tags: ['services'], summary: 'Delete a service (ipvsadm -D)', params: Id } },
    async (req, reply) => {
      await daemon.change((cfg) => edit.deleteService(cfg, req.params.id));
      reply.code(204);
    });

  // ---- real servers ------------------------------------------------------------------------

  app.get('/v1/services/:id/servers', { schema: { tags: ['servers'], summary: 'Real servers of a service', params: Id } },
    async (req) => serviceJson(await live(req.params.id)).realServers);

  app.post('/v1/services/:id/servers', { schema: { tags: ['servers'], summary: 'Add a real server (ipvsadm -a)', params: Id, body: RealServerSchema } },
    async (req, reply) => {
      const rid = await daemon.change((cfg) => edit.addServer(cfg, req.params.id, req.body));
      reply.code(201);
      return serviceJson(await live(req.params.id, false)).realServers.find((r) => r.id === rid);
    });

  const oneServer = async (id: string, server: string, fresh = true) => {
    const r = serviceJson(await live(id, fresh)).realServers.find((x) => x.id === server);
    if (!r) throw notFound(`real server ${server} of service ${id}`, 'server');
    return r;
  };

  app.get('/v1/services/:id/servers/:server', { schema: { tags: ['servers'], summary: 'One real server', params: ServerIds } },
    async (req) => oneServer(req.params.id, req.params.server));

  app.put('/v1/services/:id/servers/:server', { schema: { tags: ['servers'], summary: 'Replace a real server (ipvsadm -e: every attribute)', params: ServerIds, body: RealServerSchema } },
    async (req) => {
      await daemon.change((cfg) => edit.replaceServer(cfg, req.params.id, req.params.server, req.body));
      return oneServer(req.params.id, req.params.server, false);
    });

  app.patch('/v1/services/:id/servers/:server', { schema: { tags: ['servers'], summary: 'Change some attributes of a real server (weight 0 drains)', params: ServerIds, body: PatchServer } },
    async (req) => {
      await daemon.change((cfg) => edit.patchServer(cfg, req.params.id, req.params.server, req.body));
      return oneServer(req.params.id, req.params.server, false);
    });

  app.delete('/v1/services/:id/servers/:server', { schema: { tags: ['servers'], summary: 'Remove a real server (ipvsadm -d)', params: ServerIds } },
    async (req, reply) => {
      await daemon.change((cfg) => edit.deleteServer(cfg, req.params.id, req.params.server));
      reply.code(204);
    });

  app.post('/v1/services/:id/servers/:server/flush', { schema: { tags: ['servers'], summary: 'Drop the connections of a real server', params: ServerIds } },
    async (req) => {
      const s = edit.findService(daemon.state.draft(), req.params.id);
      return { flushed: await daemon.flushServer(s, edit.findServer(s, req.params.server)) };
    });
};
