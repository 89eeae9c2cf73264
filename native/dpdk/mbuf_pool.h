// The packet buffer pool, laid out for the cache. DPDK keeps each mbuf inside one page unless
// told that IOVA contiguity does not matter; on 4 KiB pages (EAL without hugepages) a 2,304-byte
// mbuf then gets a page to itself, every mbuf header sits at the same page offset, and a
// burst's 32 headers (and 32 frames) compete for one L1 set. Measured here, io-forward on
// net_null: 22-27 Mpps on 4 KiB pages with DPDK's layout, 93-100 packed (as on 2 MiB pages).
// Without hugepages the EAL runs IOVA as VA (no physical addresses), so a packed layout is as
// contiguous for a device as a per-page one; with hugepages DPDK's own layout is kept.
#pragma once

#include <cstdint>

struct rte_mempool;

namespace fulcrum::dp {

// A pktmbuf pool of n mbufs with the default data room and a per-lcore cache; nullptr with
// rte_errno set when it cannot be made.
rte_mempool* create_mbuf_pool(const char* name, uint32_t n, uint32_t cache);

}  // namespace fulcrum::dp
