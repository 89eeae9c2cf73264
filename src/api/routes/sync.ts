// /v1/sync: the connection sync daemons (ipvsadm --start-daemon, --stop-daemon, -L --daemon).
// A start or stop answers once the daemon runs (or has stopped) and the change is durable.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Daemon } from '../../control/daemon';
import { SyncDaemonSchema } from '../../control/config_schema';

const State = Type.Union([Type.Literal('master'), Type.Literal('backup')]);

export const syncRoutes = (daemon: Daemon): FastifyPluginAsyncTypebox => async (app) => {
  app.get('/v1/sync', { schema: { tags: ['sync'], summary: 'Running sync daemons (ipvsadm -L --daemon) with their counters, and the sync sysctls' } },
    async () => ({ daemons: daemon.syncDaemons(), tunables: daemon.syncTunables() }));

  app.post('/v1/sync/daemons', {
    schema: { tags: ['sync'], summary: 'Start a sync daemon (ipvsadm --start-daemon); 409 when one runs in that state', body: SyncDaemonSchema },
  }, async (req, reply) => {
    await daemon.startSyncDaemon(req.body);
    reply.code(201);
    return daemon.syncDaemons().find((d) => d.state === req.body.state);
  });

  app.delete('/v1/sync/daemons/:state', {
    schema: { tags: ['sync'], summary: 'Stop a sync daemon (ipvsadm --stop-daemon); 404 when none runs in that state', params: Type.Object({ state: State }) },
  }, async (req, reply) => {
    await daemon.stopSyncDaemon(req.params.state);
    reply.code(204);
  });
};
