// DPDK's own log written through the director's logger (component "dpdk"), at the level DPDK
// gave each message; the driver notices that read like failures but are not (the TAP
// driver's multiq qdisc, secondary-process requests) at debug, so a normal start shows none.
import type { NativeAddon } from '../native';
import type { Logger } from 'pino';

type Level = 'error' | 'warn' | 'info' | 'debug';

/** DPDK's RTE_LOG_* level as the logger's. */
export function levelOf(dpdkLevel: number, harmless: boolean): Level {
  if (harmless) return 'debug';
  if (dpdkLevel <= 4) return 'error';  // EMERG, ALERT, CRIT, ERR
  if (dpdkLevel === 5) return 'warn';
  if (dpdkLevel <= 7) return 'info';   // NOTICE, INFO
  return 'debug';
}

/** Writes what DPDK logged since the last call. */
export function drainDpdkLog(addon: Pick<NativeAddon, 'takeLog'>, log: Logger): void {
  const { lines, dropped } = addon.takeLog();
  for (const l of lines) log[levelOf(l.level, l.harmless)](l.text);
  if (dropped) log.warn({ dropped }, 'DPDK log lines dropped (too many at once)');
}
