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
#include <mutex>
#include <string>

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

// The method look-up cache: how many methods, and the longest path kept.
constexpr size_t kMethodCacheSlots = 4;
// Configs calls reported that client-channel did not hold (stale ones, and
// per-call ones such as xDS routes' method configs), remembered so that
// calls reporting them again do not ask client-channel each time: enough
// for the routes of a large xDS route table (each slot is a pointer and a
// reference; a miss costs one get_channel_info under learn_mu).
constexpr size_t kForeignConfigSlots = 32;
constexpr size_t kMethodCachePathMax = 96;

struct ChannelData {
  grpc_channel_stack* stack;
  std::string name;
  std::string target;
  grpcr_channel_stats* stats;
  grpc_core::ChannelArgs args;
  size_t retry_buffer_size = 0;
  // gRPC's retry filter is in client-channel's dynamic stack (client-channel's
  // own rule: retries enabled and not a minimal stack).
  bool retry_filter_below = false;
  absl::optional<uint32_t> max_send_size;
  // Under the preload, the process policy (process_policy.h); null
  // otherwise. Set at init, never changed.
  grpc_core::ServiceConfig* process = nullptr;

  // Set once a service config is known (from the channel args, a call, or
  // client-channel): until then every call's first batch asks
  // client-channel.
  std::atomic<bool> config_known{false};
  // Set while the breaker is not CLOSED (it may reject calls, and then no
  // call reaches client-channel to carry a config update): calls ask
  // client-channel for a new config, at most every kRecheckAfterRejectNs.
  std::atomic<bool> breaker_not_closed{false};
  std::atomic<int64_t> next_recheck_ns{0};

  // Serialises learning from client-channel (ask, parse, apply), so that a
  // config read earlier is never applied after one read later. Taken before
  // mu, never on a call's success path.
  std::mutex learn_mu;

  // Guards the fields below. A plain mutex: held for a few loads per call,
  // it needs none of absl::Mutex's extras (whose deadlock detection, on in
  // Debian's build, costs hundreds of instructions a lock).
  std::mutex mu;
  PolicyPtr policy;
  // The config the policy was last confirmed against: while calls report the
  // same one, the policy is reused without comparing values.
  grpc_core::RefCountedPtr<grpc_core::ServiceConfig> policy_source;
  // The service config text client-channel reported last.
  std::string client_channel_json;
  // See kForeignConfigSlots; emptied when client-channel's config changes.
  grpc_core::RefCountedPtr<grpc_core::ServiceConfig>
      foreign_configs[kForeignConfigSlots];
  size_t foreign_next = 0;
  // The last methods looked up in policy_source (emptied when it changes):
  // a call of a recent method skips the service config's hash look-up.
  // The process policy rules the channel: its config has no resilience
  // block, or no config is known yet.
  bool use_process = false;
  struct MethodLookup {
    size_t path_len = 0;  // 0: empty slot
    char path[kMethodCachePathMax];
    const grpc_core::ServiceConfigParser::ParsedConfigVector* vec = nullptr;
    const MethodConfig* method = nullptr;
    grpcr_method_stats* stats = nullptr;
  };
  MethodLookup method_cache[kMethodCacheSlots];
  size_t method_cache_next = 0;

  // The channel's policy, the service config it came from (both null until
  // a config is known, unless a process policy applies), that config's
  // parsed configs for `path` (null if it has none for that method), and
  // the method's retry policy: the config's own, or the process policy's
  // where it rules (null if none), and the method's stats entry: its own if
  // a ruling config names it, else "other". `*vec` lives as long as
  // `*source`.
  void Current(const grpc_slice& path, PolicyPtr* p,
               grpc_core::RefCountedPtr<grpc_core::ServiceConfig>* source,
               const grpc_core::ServiceConfigParser::ParsedConfigVector** vec,
               const MethodConfig** method, grpcr_method_stats** mstats);

  // Under mu: whether the channel's config (or the process policy, where it
  // rules) names the method, so that it gets its own stats entry.
  bool Names(absl::string_view path) const;

  // Under mu: the method's retry policy (see Current).
  const MethodConfig* MethodOf(
      const grpc_slice& path,
      const grpc_core::ServiceConfigParser::ParsedConfigVector* vec) const;

  // Learns a service config: the policy is replaced only if the resilience
  // settings changed, and then only in the parts that changed. A policy
  // that cannot be built (out of memory) leaves the old one in place. The
  // process policy rules instead where the config has no resilience block;
  // sc is null to apply it before any config is known.
  void Learn(grpc_core::ServiceConfig* sc);

  // Asks client-channel for the service config it uses now (the resolver's,
  // or the default) and learns it if its text changed.
  void LearnFromClientChannel();

  // A call reported sc, which is not the config the channel knows: learns
  // it if client-channel holds it now, else learns what client-channel
  // holds (if that changed) and remembers sc as foreign. Configs are thus
  // learnt only in the order client-channel applies them.
  void LearnIfCurrent(grpc_core::ServiceConfig* sc);

  // Under learn_mu: client-channel's config text now (false before its
  // first resolver result); clears foreign_configs if it changed.
  bool AskClientChannel(std::string* text);
  // Under learn_mu: parses and learns client-channel's text.
  void LearnText(const std::string& text);

  // Every breaker transition the shim sees: traced, and tracked for
  // MaybeLearnFromClientChannel.
  void OnTransition(const grpcr_breaker_transition& tr);

  // Called at each call's start: asks client-channel while no config is
  // known, and (rate-limited) while the breaker is not CLOSED.
  void MaybeLearnFromClientChannel();
};

}  // namespace grpcr

#endif  // GRPCR_INTERCEPTOR_CHANNEL_POLICY_H
