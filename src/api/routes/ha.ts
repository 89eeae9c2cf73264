// /v1/ha: the director's part in a pair or a tier. GET shows VIP ownership (with ha.vrrp:
// keepalived's VRRP state, priorities, the last transition, why the director is unfit if it
// is) and VIP announcement (with ha.bgp: BIRD's sessions, the prefixes announced and those
// withheld, with why); PUT /v1/ha/drain takes the director out (VRRP FAULT: the peer takes
// the VIPs; BGP: every VIP withdrawn, the routers send the flows to the other directors) or
// puts it back; the drain is written to the state directory first, so it holds across a
// restart (drain_state.ts). Without either the director owns its VIPs and there is nothing to
// drain to.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Daemon } from '../../control/daemon';
import type { Vrrp } from '../../ha/vrrp';
import type { Bgp } from '../../ha/bgp';
import { writeDrain } from '../../ha/drain_state';
import { ApiError } from '../errors';

export const haRoutes = (daemon: Pick<Daemon, 'state'>, vrrp: Vrrp | undefined, bgp?: Bgp): FastifyPluginAsyncTypebox => async (app) => {
  app.get('/v1/ha', { schema: { tags: ['ha'], summary: 'VIP ownership (ha.vrrp: VRRP state, priority, last transition) and announcement (ha.bgp: sessions, prefixes)' } }, async () => ({
    vrrp: vrrp ? vrrp.status() : null,
    owner: vrrp ? vrrp.status().owner : true,
    bgp: bgp ? bgp.status() : null,
  }));

  app.put('/v1/ha/drain', {
    schema: {
      tags: ['ha'],
      summary: 'Drain this director (true: VRRP FAULT, the peer takes the VIPs; BGP withdraws every VIP) or undo it (false); ' +
        'kept across a restart. 503/507 when the state directory cannot take it (nothing changed)',
      body: Type.Object({ drained: Type.Boolean() }, { additionalProperties: false }),
    },
  }, async (req) => {
    if (!vrrp && !bgp) throw new ApiError(409, 'this director has no ha.vrrp or ha.bgp section: it always owns its VIPs and has no peer to drain to');
    writeDrain(daemon.state.dir, req.body.drained);  // PersistError: answered 503/507, nothing changed
    vrrp?.setDrained(req.body.drained);
    if (bgp) {
      bgp.setDrained(req.body.drained);
      await bgp.settled();  // answered once BIRD has withdrawn (or announced again)
    }
    return { vrrp: vrrp ? vrrp.status() : null, bgp: bgp ? bgp.status() : null };
  });
};
