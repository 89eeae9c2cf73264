// /metrics: Prometheus text exposition, node_exporter's IPVS names plus Fulcrum's own,
// gathered from the dataplane at scrape time. With a token set it also takes the read-only
// metrics token (api.metricsTokenFile; auth.ts), so Prometheus need not hold one that writes.
import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Daemon } from '../../control/daemon';
import type { Vrrp } from '../../ha/vrrp';
import type { Bgp } from '../../ha/bgp';
import { createMetrics, socketPieces } from '../metrics';

export const metricsRoutes = (daemon: Daemon, vrrp?: Vrrp, bgp?: Bgp): FastifyPluginAsyncTypebox => async (app) => {
  const metrics = createMetrics();
  app.get('/metrics', { config: { access: 'metrics' },
    schema: { tags: ['metrics'], summary: 'Prometheus metrics (node_exporter IPVS names and Fulcrum\'s); the API token or the metrics token (api.metricsTokenFile)' } }, async (_req, reply) => {
    const stats = await daemon.director.stats();
    const chunks = await metrics.scrape({ services: daemon.director.running(), stats, health: daemon.health.checked(), healthCounters: daemon.health.counters(), ports: daemon.addon.ports(),
      ...(vrrp ? { vrrp: vrrp.status() } : {}), ...(bgp ? { bgp: bgp.status() } : {}), restore: daemon.director.startInfo.restore });
    reply.type(metrics.registry.contentType);
    // The chunks as they are (no copy into one buffer): a large site's scrape is tens of MB.
    // Once the response is done with them (sent, or the client went), the next scrape reuses them.
    reply.raw.once('close', () => metrics.release(chunks));
    return Readable.from(socketPieces(chunks), { objectMode: false });
  });
};
