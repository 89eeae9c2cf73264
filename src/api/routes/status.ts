// /v1/health (each real server's check state, last result, since when; quorum per service)
// and /v1/dataplane (workers, ports and their counters, neighbours, table occupancy, drops by
// reason).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Daemon } from '../../control/daemon';

export const statusRoutes = (daemon: Daemon): FastifyPluginAsyncTypebox => async (app) => {
  app.get('/v1/health', { schema: { tags: ['health'], summary: 'Health of every checked real server' } }, async () => ({
    servers: daemon.health.status(),
    quorum: daemon.health.quorum(),
    counters: daemon.health.counters(),
  }));

  app.get('/v1/dataplane', { schema: { tags: ['dataplane'], summary: 'Workers, ports, neighbours, table occupancy, drops' } }, async () => {
    const [stats, neigh] = await Promise.all([daemon.director.stats(), daemon.addon.neighbours()]);
    return {
      workers: stats.workers.map((w) => ({ ...w, occupancy: w.connCapacity ? w.connections / w.connCapacity : 0 })),
      ports: daemon.addon.ports(),
      neighbours: neigh.neighbours,
      neighboursTruncated: neigh.truncated,
      drops: stats.drops,
      events: stats.events,
      hugepages: daemon.director.startInfo.hugepages,
      eal: daemon.director.startInfo.ealArgs,
      // What this start restored from the connections a graceful stop saved (null: keepConnections off).
      restart: daemon.director.startInfo.restore,
    };
  });
};
