// The channel's side of the filter: its name and limits, and its policy
// (budget and breaker, include/grpcr/policy.h) kept in step with the
// service config, whether that comes from the channel's args, from
// client-channel, or attached to the calls that run on it.
#ifndef GRPCR_INTERCEPTOR_CHANNEL_POLICY_H
#define GRPCR_INTERCEPTOR_CHANNEL_POLICY_H

#include "shim.h"

#include <stddef.h>
#include <stdint.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/types/optional.h"

#include "src/core/lib/channel/channel_args.h"
#include "src/core/lib/channel/channel_stack.h"
#include "src/core/lib/gprpp/ref_counted_ptr.h"
#include "src/core/lib/service_config/service_config.h"

#include "grpcr/breaker.h"
#include "grpcr/policy.h"
#include "grpcr/stats.h"

namespace grpcr {

// A reference on a core policy (include/grpcr/policy.h): the channel holds
// its current one, each call the one it started with.
struct PolicyUnref {
  void operator()(grpcr_policy* p) const { grpcr_policy_unref(p); }
};
using PolicyPtr = std::unique_ptr<grpcr_policy, PolicyUnref>;

inline PolicyPtr RefPolicy(grpcr_policy* p) {
  if (p != nullptr) grpcr_policy_ref(p);
  return PolicyPtr(p);
}

// Client-channel's limit on request messages, from the channel's args (the
// message-size filter's rule): none with a minimal stack or a negative
// value.
absl::optional<uint32_t> MaxSendSize(const grpc_core::ChannelArgs& args);

// gRPC's per-RPC retry buffer (GRPC_ARG_PER_RPC_RETRY_BUFFER_SIZE), with
// its default and bounds.
size_t RetryBufferSize(const grpc_core::ChannelArgs& args);

struct ChannelData {
  grpc_channel_stack* stack;
  std::string name;
  std::string target;
  grpcr_channel_stats* stats;
  grpc_core::ChannelArgs args;
  size_t retry_buffer_size = 0;
  absl::optional<uint32_t> max_send_size;

  // Set once a service config is known (from the channel args, a call, or
  // client-channel): until then every call's first batch asks
  // client-channel.
  std::atomic<bool> config_known{false};
  // Set while the breaker is not CLOSED (it may reject calls, and then no
  // call reaches client-channel to carry a config update): calls ask
  // client-channel for a new config, at most every kRecheckAfterRejectNs.
  std::atomic<bool> breaker_not_closed{false};
  std::atomic<int64_t> next_recheck_ns{0};

  absl::Mutex mu;
  PolicyPtr policy ABSL_GUARDED_BY(mu);
  // The config the policy was last confirmed against: while calls report the
  // same one, the policy is reused without comparing values.
  grpc_core::RefCountedPtr<grpc_core::ServiceConfig> policy_source ABSL_GUARDED_BY(mu);
  // The service config text client-channel reported last.
  std::string client_channel_json ABSL_GUARDED_BY(mu);

  // The channel's policy and the service config it came from (null until a
  // config is known).
  void Current(PolicyPtr* p, grpc_core::RefCountedPtr<grpc_core::ServiceConfig>* source);

  // Learns a service config: the policy is replaced only if the resilience
  // settings changed, and then only in the parts that changed. A policy
  // that cannot be built (out of memory) leaves the old one in place.
  void Learn(grpc_core::ServiceConfig* sc);

  // Asks client-channel for the service config it uses now (the resolver's,
  // or the default) and learns it if its text changed.
  void LearnFromClientChannel();

  // Every breaker transition the shim sees: traced, and tracked for
  // MaybeLearnFromClientChannel.
  void OnTransition(const grpcr_breaker_transition& tr);

  // Called at each call's start: asks client-channel while no config is
  // known, and (rate-limited) while the breaker is not CLOSED.
  void MaybeLearnFromClientChannel();
};

}  // namespace grpcr

#endif  // GRPCR_INTERCEPTOR_CHANNEL_POLICY_H
