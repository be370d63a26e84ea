// The channel's policy, kept in step with its service config (see
// channel_policy.h).
#include "channel_policy.h"

#include <inttypes.h>
#include <string.h>

#include <grpc/impl/codegen/grpc_types.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>

#include "src/core/lib/service_config/service_config_impl.h"

#include "grpcr/budget.h"
#include "internal.h"

namespace grpcr {

using grpc_core::RefCountedPtr;
using grpc_core::ServiceConfig;

namespace {

// After a rejection, how soon a call may ask client-channel whether the
// service config changed (no call reaches it to carry the change while the
// breaker rejects everything).
constexpr int64_t kRecheckAfterRejectNs = 100 * 1000000;

}  // namespace

// Client-channel's limit on request messages, from the channel's args (the
// message-size filter's rule): none with a minimal stack or a negative
// value.
absl::optional<uint32_t> MaxSendSize(const grpc_core::ChannelArgs& args) {
  if (args.WantMinimalStack()) return absl::nullopt;
  int size = args.GetInt(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH)
                 .value_or(GRPC_DEFAULT_MAX_SEND_MESSAGE_LENGTH);
  if (size < 0) return absl::nullopt;
  return static_cast<uint32_t>(size);
}

// gRPC's per-RPC retry buffer (GRPC_ARG_PER_RPC_RETRY_BUFFER_SIZE), with
// its default and bounds.
size_t RetryBufferSize(const grpc_core::ChannelArgs& args) {
  constexpr int kDefault = 256 << 10;
  int size = args.GetInt(GRPC_ARG_PER_RPC_RETRY_BUFFER_SIZE).value_or(kDefault);
  return static_cast<size_t>(size < 0 ? 0 : size);
}

// The method's retry policy: the config's own, or, where the process policy
// rules, the process policy's, except for a method gRPC's retry filter
// retries itself (its retryPolicy): no call is retried by two layers.
const MethodConfig* ChannelData::MethodOf(
    const grpc_slice& path,
    const grpc_core::ServiceConfigParser::ParsedConfigVector* vec) const {
  if (!use_process) {
    return vec != nullptr
               ? static_cast<const MethodConfig*>((*vec)[ParserIndex()].get())
               : nullptr;
  }
  if (vec != nullptr && retry_filter_below &&
      (*vec)[RetryParserIndex()] != nullptr) {
    return nullptr;
  }
  const auto* pvec = process->GetMethodParsedConfigVector(path);
  return pvec != nullptr
             ? static_cast<const MethodConfig*>((*pvec)[ParserIndex()].get())
             : nullptr;
}

// The channel's policy and the service config it came from (null until a
// config is known), with the method's parsed configs and retry policy.
void ChannelData::Current(
    const grpc_slice& path, PolicyPtr* p, RefCountedPtr<ServiceConfig>* source,
    const grpc_core::ServiceConfigParser::ParsedConfigVector** vec,
    const MethodConfig** method, grpcr_method_stats** mstats) {
  const size_t len = GRPC_SLICE_LENGTH(path);
  const uint8_t* bytes = GRPC_SLICE_START_PTR(path);
  std::lock_guard<std::mutex> lock(mu);
  *p = RefPolicy(policy.get());
  *source = policy_source;
  *vec = nullptr;
  *method = nullptr;
  const bool cacheable = len != 0 && len <= kMethodCachePathMax;
  if (cacheable) {
    for (const MethodLookup& m : method_cache) {
      if (m.path_len == len && memcmp(m.path, bytes, len) == 0) {
        *vec = m.vec;
        *method = m.method;
        *mstats = m.stats;
        return;
      }
    }
  }
  const absl::string_view name(reinterpret_cast<const char*>(bytes), len);
  *mstats = Names(name) ? grpcr_stats_method(stats, name.data(), len)
                        : grpcr_stats_method(stats, nullptr, 0);
  if (policy_source != nullptr) {
    *vec = policy_source->GetMethodParsedConfigVector(path);
  }
  if (policy_source != nullptr || use_process) *method = MethodOf(path, *vec);
  if (!cacheable) return;
  MethodLookup& slot = method_cache[method_cache_next];
  method_cache_next = (method_cache_next + 1) % kMethodCacheSlots;
  memcpy(slot.path, bytes, len);
  slot.path_len = len;
  slot.vec = *vec;
  slot.method = *method;
  slot.stats = *mstats;
}

// Whether a ruling config names the method (exactly, or its whole service):
// then it gets its own stats entry. The default name ([{}]) names none.
bool ChannelData::Names(absl::string_view path) const {
  auto global_of = [](ServiceConfig* sc) {
    return sc != nullptr ? static_cast<const GlobalConfig*>(
                               sc->GetGlobalParsedConfig(ParserIndex()))
                         : nullptr;
  };
  const GlobalConfig* own = global_of(policy_source.get());
  const GlobalConfig* proc = use_process ? global_of(process) : nullptr;
  return (own != nullptr && own->Names(path)) ||
         (proc != nullptr && proc->Names(path));
}

// Learns a service config: the policy is replaced only if the resilience
// settings changed, and then only in the parts that changed. A policy
// that cannot be built (out of memory) leaves the old one in place.
void ChannelData::Learn(ServiceConfig* sc) {
  const auto* own =
      sc != nullptr ? static_cast<const GlobalConfig*>(
                          sc->GetGlobalParsedConfig(ParserIndex()))
                    : nullptr;
  const bool from_process =
      process != nullptr && (own == nullptr || !own->has_resilience);
  const auto* global =
      from_process ? static_cast<const GlobalConfig*>(
                         process->GetGlobalParsedConfig(ParserIndex()))
                   : own;
  std::lock_guard<std::mutex> lock(mu);
  if (policy != nullptr && sc != nullptr && policy_source.get() == sc) return;
  grpcr_channel_config cfg = {};
  cfg.budget = grpcr_budget_config_default();
  if (global != nullptr) cfg = global->cfg;
  use_process = from_process;
  // Its look-ups were into the old config.
  for (MethodLookup& m : method_cache) m = MethodLookup();
  if (sc != nullptr) {
    policy_source = sc->Ref();
    config_known.store(true, std::memory_order_release);
  }
  if (policy != nullptr &&
      grpcr_channel_config_equal(grpcr_policy_config(policy.get()), &cfg)) {
    return;
  }
  grpcr_policy_change change;
  grpcr_policy* fresh = grpcr_policy_create(
      &cfg, target.c_str(), policy.get(), grpcr_internal_now_ns(), &change);
  if (fresh == nullptr) {
    gpr_log(GPR_ERROR,
            "resilience[%s]: out of memory applying a new service config; "
            "the previous policy stays",
            name.c_str());
    return;
  }
  grpcr_registry_attach(grpcr_internal_registry(), stats,
                        grpcr_policy_breaker(fresh),
                        grpcr_policy_budget(fresh));
  if (policy != nullptr) grpcr_stats_on_config_update(stats);
  OnTransition(change.transition);
  if (GRPC_TRACE_FLAG_ENABLED(trace)) {
    const grpcr_channel_config* c = grpcr_policy_config(fresh);
    gpr_log(GPR_INFO,
            "resilience[%s]: policy from %s: budget ratio=%g "
            "floor=%g/s window=%" PRId64 "ms (%s), breaker %s (%s)",
            name.c_str(),
            from_process ? "the process policy" : "service config",
            c->budget.ratio, c->budget.min_retries_per_second,
            c->budget.window_ns / 1000000,
            policy == nullptr      ? "new"
            : change.budget_kept   ? "kept"
            : change.budget_carried ? "counts carried over"
                                    : "new",
            c->has_breaker ? "on" : "off",
            !c->has_breaker          ? "-"
            : policy == nullptr      ? "new"
            : change.breaker_kept    ? "kept"
            : change.breaker_carried ? "state carried over"
                                     : "new");
  }
  policy.reset(fresh);
}

bool ChannelData::AskClientChannel(std::string* text) {
  // Client-channel is the stack's last element (it was not initialised
  // yet when this element was, hence the look-up here).
  grpc_channel_element* client_channel = grpc_channel_stack_last_element(stack);
  if (strcmp(client_channel->filter->name, "client-channel") != 0) return false;
  char* json = nullptr;
  grpc_channel_info info = {};
  info.service_config_json = &json;
  client_channel->filter->get_channel_info(client_channel, &info);
  if (json == nullptr) return false;
  text->assign(json);
  gpr_free(json);
  if (text->empty()) return false;  // no resolver result yet
  std::lock_guard<std::mutex> lock(mu);
  if (*text != client_channel_json) {
    for (auto& f : foreign_configs) f.reset();
  }
  return true;
}

void ChannelData::LearnText(const std::string& text) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (text == client_channel_json) return;
    client_channel_json = text;
  }
  auto sc = grpc_core::ServiceConfigImpl::Create(args, text);
  if (sc.ok() && *sc != nullptr) Learn(sc->get());
}

// Asks client-channel for the service config it uses now (the resolver's,
// or the default) and learns it if its text changed.
void ChannelData::LearnFromClientChannel() {
  std::lock_guard<std::mutex> learning(learn_mu);
  std::string text;
  if (AskClientChannel(&text)) LearnText(text);
}

void ChannelData::LearnIfCurrent(ServiceConfig* sc) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (policy_source.get() == sc) return;
    for (const auto& f : foreign_configs) {
      if (f.get() == sc) return;
    }
  }
  std::lock_guard<std::mutex> learning(learn_mu);
  std::string text;
  if (!AskClientChannel(&text)) return;
  if (text == sc->json_string()) {
    // The call's config is client-channel's own object: learning it (not a
    // parse of the same text) lets later calls match it by pointer.
    {
      std::lock_guard<std::mutex> lock(mu);
      client_channel_json = text;
    }
    Learn(sc);
    return;
  }
  LearnText(text);
  std::lock_guard<std::mutex> lock(mu);
  foreign_configs[foreign_next] = sc->Ref();
  foreign_next = (foreign_next + 1) % kForeignConfigSlots;
}

// Every breaker transition the shim sees: traced, and tracked for
// MaybeLearnFromClientChannel.
void ChannelData::OnTransition(const grpcr_breaker_transition& tr) {
  if (!tr.happened) return;
  breaker_not_closed.store(tr.to != GRPCR_BREAKER_CLOSED,
                           std::memory_order_relaxed);
  if (GRPC_TRACE_FLAG_ENABLED(trace)) {
    gpr_log(GPR_INFO, "resilience[%s]: breaker %s -> %s", name.c_str(),
            grpcr_breaker_state_name(tr.from),
            grpcr_breaker_state_name(tr.to));
  }
}

// Called at each call's start: asks client-channel while no config is
// known, and (rate-limited) while the breaker is not CLOSED.
void ChannelData::MaybeLearnFromClientChannel() {
  if (!config_known.load(std::memory_order_acquire)) {
    LearnFromClientChannel();
    return;
  }
  if (!breaker_not_closed.load(std::memory_order_relaxed)) return;
  const int64_t now = grpcr_internal_now_ns();
  int64_t due = next_recheck_ns.load(std::memory_order_relaxed);
  if (now < due || !next_recheck_ns.compare_exchange_strong(
                       due, now + kRecheckAfterRejectNs,
                       std::memory_order_relaxed)) {
    return;
  }
  LearnFromClientChannel();
}

}  // namespace grpcr
