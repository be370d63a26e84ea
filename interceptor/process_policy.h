// The process policy: what a process started under libgrpcr_preload.so (or
// grpcr-run) applies to channels whose service config has no resilience
// block, and which channels it reaches. Set once, by the preload's install,
// before gRPC's configuration is built; read-only afterwards.
#ifndef GRPCR_INTERCEPTOR_PROCESS_POLICY_H
#define GRPCR_INTERCEPTOR_PROCESS_POLICY_H

#include "shim.h"

#include "absl/strings/string_view.h"

#include "src/core/lib/channel/channel_args.h"
#include "src/core/lib/service_config/service_config.h"

namespace grpcr {

// Set by the preload on a channel gRPC marks as its own (a grpclb or RLS
// balancer channel): excluded from the process policy.
#define GRPCR_ARG_INTERNAL_CHANNEL "grpc.resilience.internal_channel"

// Whether the preload installed the filter in this process.
bool PreloadActive();

// Under the preload: whether a channel gets the filter (GRPCR_TARGETS, and
// gRPC's internal channels unless GRPCR_INCLUDE_INTERNAL=1). target is as
// the application wrote it; the canonical one is in args. True without the
// preload.
bool PreloadIncludes(const grpc_core::ChannelArgs& args,
                     absl::string_view target);

// Marks gRPC's internal channels (a channel-args preconditioning stage: the
// only place that still sees channelz's marker).
grpc_core::ChannelArgs MarkInternalChannel(grpc_core::ChannelArgs args);

// The process policy as a service config (its parsed resilience blocks, by
// method name), or null if the process has none. Built at the first call
// (gRPC's configuration must exist); never freed.
grpc_core::ServiceConfig* ProcessServiceConfig();

// Called for every client channel the preload sees: the first starts the
// stats server (GRPCR_STATS_ADDR) and the /metrics endpoint
// (GRPCR_METRICS_ADDR), once gRPC is fully set up.
void PreloadOnChannel();

}  // namespace grpcr

#endif  // GRPCR_INTERCEPTOR_PROCESS_POLICY_H
