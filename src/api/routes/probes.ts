// What a supervisor asks: /healthz (the process serves: liveness), /readyz (the director
// balances: its dataplane runs the desired state), both without a token so systemd or
// Kubernetes can ask; and /v1/version (which build runs), behind the token like every /v1
// route, since build details are nobody else's business on a non-loopback listener.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { readBuildInfo } from '../../build_info';
import type { Daemon } from '../../control/daemon';
import { ApiError } from '../errors';

export const probeRoutes = (daemon: Daemon): FastifyPluginAsyncTypebox => async (app) => {
  const build = readBuildInfo();  // fixed for the life of the process

  app.get('/healthz', { config: { access: 'open' },
    schema: { tags: ['probes'], summary: 'Liveness: 200 while the process serves (no token needed)', security: [] } },
  async () => ({ status: 'alive' }));

  app.get('/readyz', { config: { access: 'open' },
    schema: { tags: ['probes'], summary: 'Readiness: 200 when the dataplane runs the desired state, else 503 with the reason (no token needed)', security: [] } },
  async () => {
    const reason = daemon.notReady();
    if (reason !== undefined) throw new ApiError(503, `not ready: ${reason}`);
    return { status: 'ready' };
  });

  app.get('/v1/version', { schema: { tags: ['probes'], summary: 'Fulcrum\'s version, the git commit and DPDK version it was built from, whether the dataplane runs' } },
    async () => ({ ...build, dataplaneRunning: daemon.addon.running() }));
};
