// /v1/stats (counters with the kernel estimator's rates), /v1/stats/zero (ipvsadm -Z),
// /v1/connections (ipvsadm -Lnc's fields, filtered and paginated) and /v1/timeouts
// (ipvsadm --set / -L --timeout).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ConnFilter } from '../../native';
import type { Daemon } from '../../control/daemon';
import { ApiError, notFound } from '../errors';
import { canonicalAddress, hostPort, splitHostPort } from '../../control/address';
import { canonicalServiceId } from '../../control/identity';
import { jsonArrayStream } from '../json_array';

const Timeouts = Type.Object({
  tcp: Type.Integer({ minimum: 1, maximum: 2147483 }),
  tcpfin: Type.Integer({ minimum: 1, maximum: 2147483 }),
  udp: Type.Integer({ minimum: 1, maximum: 2147483 }),
}, { additionalProperties: false });

const ConnQuery = Type.Object({
  service: Type.Optional(Type.String({ description: 'tcp:VIP:port, udp:VIP:port, tcp:[v6]:port (fwmark services: filter by server)' })),
  server: Type.Optional(Type.String({ description: 'address:port of a real server ([v6]:port)' })),
  client: Type.Optional(Type.String({ format: 'ip' })),
  templates: Type.Optional(Type.Boolean({ default: true })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, default: 1000 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
}, { additionalProperties: false });

function addrPort(s: string, what: string): { address: string; port: number } {
  const hp = splitHostPort(s);
  const address = hp && canonicalAddress(hp.address);
  if (!hp || address === undefined || (address.indexOf(':') >= 0) !== s.startsWith('['))
    throw new ApiError(400, `${what}: '${s}' is not address:port ([address]:port for IPv6)`, [`${what}: must be address:port or [IPv6 address]:port`]);
  return { address, port: hp.port };
}

export const trafficRoutes = (daemon: Daemon): FastifyPluginAsyncTypebox => async (app) => {
  app.get('/v1/stats', { schema: { tags: ['stats'], summary: 'Counters and rates: totals, per service, per real server' } }, async (_req, reply) => {
    const [totals, table] = await Promise.all([daemon.totals(), daemon.table()]);
    reply.type('application/json; charset=utf-8');
    return jsonArrayStream(table.services, (s) => ({ id: s.id, stats: s.stats, rates: s.rates,
      realServers: s.servers.map((r) => ({ id: r.id, stats: r.stats, rates: r.rates })) }),
    `{"total":${JSON.stringify(totals)},"services":`, '}');
  });

  app.post('/v1/stats/zero', {
    schema: { tags: ['stats'], summary: 'Zero counters and rates: every one, or one service\'s (ipvsadm -Z [service])',
      querystring: Type.Object({ service: Type.Optional(Type.String()) }, { additionalProperties: false }) },
  }, async (req, reply) => {
    const id = req.query.service === undefined ? undefined : canonicalServiceId(req.query.service);
    if (id !== undefined && !daemon.state.service(id)) throw notFound(`service ${id}`);
    await daemon.zero(id);
    reply.code(204);
  });

  app.get('/v1/connections', { schema: { tags: ['connections'], summary: 'Connections and persistence templates (ipvsadm -Lnc)', querystring: ConnQuery } },
    async (req) => {
      const q = req.query;
      const filter: ConnFilter = { templates: q.templates ?? true };
      if (q.service) {
        const m = /^(tcp|udp):(.+)$/.exec(q.service);
        if (!m) throw new ApiError(400, `service: '${q.service}' is not tcp:VIP:port or udp:VIP:port`, ['service: must be tcp:VIP:port or udp:VIP:port']);
        const { address, port } = addrPort(m[2], 'service');
        Object.assign(filter, { protocol: m[1] as 'tcp' | 'udp', virtualAddress: address, virtualPort: port });
      }
      if (q.server) {
        const { address, port } = addrPort(q.server, 'server');
        Object.assign(filter, { serverAddress: address, serverPort: port });
      }
      if (q.client) filter.clientAddress = canonicalAddress(q.client)!;
      const limit = q.limit ?? 1000, offset = q.offset ?? 0;
      let all;
      try {
        all = await daemon.connections(filter, offset + limit + 1);
      } catch (e) {
        // the dataplane's refusal of a filter (an address family it does not list yet): the
        // caller's to fix, named by field
        if (e instanceof TypeError && /^filter\.\w+: /.test(e.message)) throw new ApiError(400, e.message, [e.message.replace(/^filter\./, '')]);
        throw e;
      }
      const page = all.slice(offset, offset + limit);
      return {
        connections: page.map((c) => ({
          protocol: c.protocol.toUpperCase(), expiresSeconds: Math.floor(c.expiresMs / 1000), expiresMs: c.expiresMs,
          state: c.state, template: c.template, method: c.method,
          source: hostPort(c.clientAddress, c.clientPort), virtual: hostPort(c.virtualAddress, c.virtualPort),
          destination: hostPort(c.serverAddress, c.serverPort),
          ...(c.localAddress ? { local: hostPort(c.localAddress, c.localPort ?? 0) } : {}),
          // Learnt from another director's sync daemon (this one never scheduled it).
          ...(c.synced ? { synced: true } : {}),
        })),
        offset,
        next: all.length > offset + limit ? offset + limit : null,
      };
    });

  app.get('/v1/timeouts', { schema: { tags: ['timeouts'], summary: 'TCP, TCP FIN and UDP timeouts (ipvsadm -L --timeout)' } }, async () => {
    return daemon.state.timeouts;
  });

  app.put('/v1/timeouts', { schema: { tags: ['timeouts'], summary: 'Set the timeouts (ipvsadm --set tcp tcpfin udp)', body: Timeouts } }, async (req) => {
    await daemon.change((d) => d.setTimeouts({ ...req.body }));
    return req.body;
  });
};
