// The dataplane's sizes and rates, in one place, each with the reason for its value: bursts,
// the workers' clock, the port-id bound, descriptor rings, mbuf pool sizing and the rings
// between threads. Changing one here changes it everywhere it is used.
#pragma once

#include <cstdint>

#include "timeouts.h"

namespace fulcrum::dp {

// ---- workers --------------------------------------------------------------------------------
// Workers per dataplane: the handover rings form a workers x workers matrix, and the reply
// ring is sized for every worker's full command ring (below).
constexpr uint32_t kMaxWorkers = 64;
// Packets per RX burst: what PMDs are tuned for, and enough for the core to prefetch ahead
// across a burst without spilling its working set out of L1.
constexpr uint16_t kBurst = 32;
// Packets a TX queue buffers before rte_eth_tx_burst: two RX bursts, so a burst forwarded out
// of one port leaves in one call and the per-call cost is shared.
constexpr uint16_t kTxBuffer = 2 * kBurst;
// The packet core counts time in ticks (timeouts.h: 10 ms, like jiffies at HZ=100); workers
// read the TSC in ms and divide.
constexpr uint32_t kMsPerTick = 1000 / kTicksPerSec;
// Connection expiry sweeps the whole table about once a second: each tick takes
// 1/kExpirySweepTicks of it (at least kExpiryMinBudget records, so small tables still move).
constexpr uint32_t kExpirySweepTicks = kTicksPerSec;
constexpr uint32_t kExpiryMinBudget = 64;
// Neighbour updates a worker takes from its ring per pass: updates are rare (ARP), and a
// bounded batch keeps a burst of them from delaying the next RX poll.
constexpr uint32_t kNeighUpdateBurst = 16;
// Idle backoff: empty polls spent pausing before sleeping, and between doublings of the sleep.
constexpr uint32_t kIdlePauseStage = 256;

// ---- ports ----------------------------------------------------------------------------------
// DPDK port ids the workers index directly (Shared::port_index): above RTE_MAX_ETHPORTS (32
// in the distribution's build), so any port id DPDK hands out fits.
constexpr uint16_t kPortIdBound = 1024;
// Descriptors per RX and TX queue: 1024 absorbs a few hundred microseconds of line rate when
// a worker is briefly busy (expiry, a command) without the memory of the 4096 maximum.
constexpr uint16_t kRxDesc = 1024;
constexpr uint16_t kTxDesc = 1024;

// ---- mbufs ----------------------------------------------------------------------------------
// Pool sizing: every descriptor of every queue (ports and TAPs) can hold an mbuf, each worker
// has some in flight beyond its queues (TX buffers, handover rings, neighbour queues), and a
// spare for ARP and the control thread.
constexpr uint32_t kMbufsPerQueue = kRxDesc + kTxDesc;
constexpr uint32_t kMbufsPerWorker = 1024;
constexpr uint32_t kMbufsSpare = 4096;
// Per-lcore mempool cache: large enough that a worker's alloc/free of a burst rarely touches
// the shared pool, and within DPDK's RTE_MEMPOOL_CACHE_MAX_SIZE (512).
constexpr uint32_t kMbufCache = 256;

// ---- rings between threads -----------------------------------------------------------------
// Commands waiting per worker: commands are rare (stats every few seconds, listings, flushes);
// a full ring means the worker is stuck and submit() refuses.
constexpr uint32_t kCommandRing = 64;
// Replies from all workers: one per command per worker at most, so a worker never waits to
// put its answer down.
constexpr uint32_t kReplyRing = kMaxWorkers * kCommandRing;
// Packets passed from one worker to another (steering): a few bursts' worth at 32 packets, so
// the owner may skip some polls before the sender counts handover_full.
constexpr uint32_t kHandoverRing = 4096;
// Neighbour updates waiting per worker (16-byte elements).
constexpr uint32_t kNeighUpdateRing = 256;

// Connection sync: each worker's ring of records to the master thread and from the backup
// thread (40-byte elements; full: the record is dropped and counted, never waited for), and
// how many records a worker installs between two bursts.
constexpr uint32_t kSyncRing = 8192;
// IPv6 records (88 bytes) have rings of their own, so the IPv4 rings' elements stay 40 bytes.
constexpr uint32_t kSyncRing6 = 2048;
constexpr uint32_t kSyncInstallBurst = 64;

}  // namespace fulcrum::dp
