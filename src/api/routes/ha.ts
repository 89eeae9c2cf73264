// /v1/ha: the director's part in a pair. GET shows VIP ownership (with ha.vrrp: keepalived's
// VRRP state, priorities, the last transition, why the director is unfit if it is); PUT
// /v1/ha/drain takes the director out (FAULT: the peer takes the VIPs) or puts it back.
// Without ha.vrrp the director owns its VIPs and there is nothing to drain to.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Vrrp } from '../../ha/vrrp';
import { ApiError } from '../errors';

export const haRoutes = (vrrp: Vrrp | undefined): FastifyPluginAsyncTypebox => async (app) => {
  app.get('/v1/ha', { schema: { tags: ['ha'], summary: 'VIP ownership: VRRP state, priority, last transition (ha.vrrp)' } }, async () => (
    vrrp ? { vrrp: vrrp.status(), owner: vrrp.status().owner } : { vrrp: null, owner: true }));

  app.put('/v1/ha/drain', {
    schema: {
      tags: ['ha'],
      summary: 'Drain this director (true: VRRP FAULT, the peer takes the VIPs) or undo it (false); not kept across a restart',
      body: Type.Object({ drained: Type.Boolean() }, { additionalProperties: false }),
    },
  }, async (req) => {
    if (!vrrp) throw new ApiError(409, 'this director has no ha.vrrp section: it always owns its VIPs and has no peer to drain to');
    vrrp.setDrained(req.body.drained);
    return { vrrp: vrrp.status() };
  });
};
