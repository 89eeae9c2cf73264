// /metrics: Prometheus text exposition, node_exporter's IPVS names plus Fulcrum's own,
// gathered from the dataplane at scrape time.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Daemon } from '../../control/daemon';
import { createMetrics } from '../metrics';

export const metricsRoutes = (daemon: Daemon): FastifyPluginAsyncTypebox => async (app) => {
  const metrics = createMetrics();
  app.get('/metrics', { schema: { tags: ['metrics'], summary: 'Prometheus metrics (node_exporter IPVS names and Fulcrum\'s)' } }, async (_req, reply) => {
    const stats = await daemon.director.stats();
    const services = await daemon.director.services(undefined, stats);
    metrics.update({ services, stats, health: daemon.health.status(), healthCounters: daemon.health.counters(), ports: daemon.addon.ports() });
    reply.type(metrics.registry.contentType);
    return metrics.text();
  });
};
