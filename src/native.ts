// Loads the N-API addon built by cmake-js and gives it a TypeScript face. The addon is the
// only way into the native code; everything it returns is described here.
import path from 'node:path';
import type { NativeCoreConfig } from './control/native_config';

/** Counters as ipvsadm shows them (`--stats`). */
export interface TrafficCounters {
  conns: number;
  inpkts: number;
  outpkts: number;
  inbytes: number;
  outbytes: number;
}

export interface CoreDemoOptions {
  /** Number of client connections (each SYN, ACK, request, FIN) sent through the core. */
  connections: number;
  /** Weights of the three real servers, in the order they are added. */
  weights: number[];
}

export interface CoreDemoDest {
  address: string;
  port: number;
  weight: number;
  activeConns: number;
  inactConns: number;
  stats: TrafficCounters;
}

export interface CoreDemoResult {
  service: { protocol: string; address: string; port: number; scheduler: string; stats: TrafficCounters };
  dests: CoreDemoDest[];
  /** Per real server address, how many replies the simulated clients got from it. */
  answeredBy: Record<string, number>;
  drops: Record<string, number>;
}

export interface NativeAddon {
  version(): string;
  coreDemo(options: CoreDemoOptions): CoreDemoResult;
  /** Every problem the packet core finds in a config (see src/control/native_config.ts); [] if accepted. */
  checkCoreConfig(config: NativeCoreConfig, limits: { maxServices: number; maxDests: number }): string[];
}

let cached: NativeAddon | undefined;

/** The addon, loaded once. Throws with the path tried when the build is missing. */
export function nativeAddon(): NativeAddon {
  if (cached) return cached;
  const file = path.resolve(__dirname, '../../build/native/Release/fulcrum.node');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = require(file) as NativeAddon;
  } catch (err) {
    throw new Error(`cannot load the native addon at ${file} (run scripts/setup to build it): ${(err as Error).message}`);
  }
  return cached;
}

/** Where cmake-js put the native executables (benchmarks). */
export function nativeBinDir(): string {
  return path.resolve(__dirname, '../../build/native/native/ipvs_core');
}
