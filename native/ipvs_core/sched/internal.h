// Declarations shared by the scheduler family files and the dispatcher (sched.cc), plus the
// small load formulas every family uses. Not part of the public API.
#pragma once

#include <cstdint>
#include <span>

#include "sched/sched.h"

namespace fulcrum::sched_detail {

using Order = std::span<const DestId>;

// ip_vs_dest_conn_overhead(): (active << 8) + inactive, in the kernel's int (wraps like it).
inline int32_t conn_overhead(const DestLoad& l) {
  return static_cast<int32_t>((l.active << 8) + l.inactive);
}
// sed / nq: active + 1.
inline int32_t sed_overhead(const DestLoad& l) { return static_cast<int32_t>(l.active + 1); }
inline int32_t active_i(const DestLoad& l) { return static_cast<int32_t>(l.active); }

// "h1/w1 > h2/w2" without division, in 64 bits as the kernel's (__s64) casts.
inline bool more_loaded(int32_t h1, int32_t w2, int32_t h2, int32_t w1) {
  return int64_t{h1} * w2 > int64_t{h2} * w1;
}

// rr.cc / wrr.cc
void rr_init(SchedState&);
void rr_on_change(SchedState&, Order old_order, Order order);
DestId rr_pick(DestTable, Order, LoadView, SchedState&);
void wrr_tables(DestTable, Order, SchedTables&);
void wrr_init(SchedState&, const SchedTables&);
void wrr_on_change(SchedState&, const SchedTables&);
void wrr_on_adds(SchedState&, DestTable, Order, size_t added);
DestId wrr_pick(const SchedTables&, DestTable, Order, LoadView, SchedState&);

// least_conn.cc
DestId lc_pick(DestTable, Order, LoadView);
DestId wlc_pick(DestTable, Order, LoadView);
DestId sed_pick(DestTable, Order, LoadView);
DestId nq_pick(DestTable, Order, LoadView);
DestId fo_pick(DestTable, Order, LoadView);
DestId ovf_pick(DestTable, Order, LoadView);
DestId twos_pick(DestTable, Order, LoadView, SchedState&);
uint32_t rng_next32(SchedState&);

// hash_tables.cc
void dh_tables(Order, SchedTables&);
void sh_tables(DestTable, Order, SchedTables&);
DestId dh_pick(const SchedTables&, DestTable, LoadView, const SchedPacket&);
DestId sh_pick(uint32_t svc_flags, const SchedTables&, DestTable, LoadView,
               const SchedPacket&);

// mh.cc
std::string mh_tables(DestTable, Order, uint32_t table_size, SchedTables&);
DestId mh_pick(uint32_t svc_flags, const SchedTables&, DestTable, LoadView,
               const SchedPacket&);

// lblc.cc
void locality_init(SchedState&);
DestId lblc_pick(const SchedTables&, DestTable, Order, LoadView, SchedState&,
                 const SchedPacket&, uint32_t now_s);
DestId lblcr_pick(const SchedTables&, DestTable, Order, LoadView, SchedState&,
                  const SchedPacket&, uint32_t now_s);
void locality_gc(SchedState&, uint32_t now_s);

}  // namespace fulcrum::sched_detail
