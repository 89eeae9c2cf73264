// /v1/ha: the director's part in a pair or a tier. GET shows VIP ownership (with ha.vrrp:
// keepalived's VRRP state, priorities, the last transition, why the director is unfit if it
// is) and VIP announcement (with ha.bgp: BIRD's sessions, the prefixes announced and those
// withheld, with why); PUT /v1/ha/drain takes the director out (VRRP FAULT: the peer takes
// the VIPs; BGP: every VIP withdrawn, the routers send the flows to the other directors) or
// puts it back. Without either the director owns its VIPs and there is nothing to drain to.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Vrrp } from '../../ha/vrrp';
import type { Bgp } from '../../ha/bgp';
import { ApiError } from '../errors';

export const haRoutes = (vrrp: Vrrp | undefined, bgp?: Bgp): FastifyPluginAsyncTypebox => async (app) => {
  app.get('/v1/ha', { schema: { tags: ['ha'], summary: 'VIP ownership (ha.vrrp: VRRP state, priority, last transition) and announcement (ha.bgp: sessions, prefixes)' } }, async () => ({
    vrrp: vrrp ? vrrp.status() : null,
    owner: vrrp ? vrrp.status().owner : true,
    bgp: bgp ? bgp.status() : null,
  }));

  app.put('/v1/ha/drain', {
    schema: {
      tags: ['ha'],
      summary: 'Drain this director (true: VRRP FAULT, the peer takes the VIPs; BGP withdraws every VIP) or undo it (false); not kept across a restart',
      body: Type.Object({ drained: Type.Boolean() }, { additionalProperties: false }),
    },
  }, async (req) => {
    if (!vrrp && !bgp) throw new ApiError(409, 'this director has no ha.vrrp or ha.bgp section: it always owns its VIPs and has no peer to drain to');
    vrrp?.setDrained(req.body.drained);
    if (bgp) {
      bgp.setDrained(req.body.drained);
      await bgp.settled();  // answered once BIRD has withdrawn (or announced again)
    }
    return { vrrp: vrrp ? vrrp.status() : null, bgp: bgp ? bgp.status() : null };
  });
};
