// grpcr_register(): installs the filter on every client channel and the
// "resilience" service-config parser, through gRPC's CoreConfiguration.
#include "shim.h"

#include <limits.h>
#include <string.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <typeinfo>

#include <grpc/grpc.h>

#include "src/core/lib/channel/channel_args.h"
#include "src/core/lib/channel/channel_stack_builder.h"
#include "src/core/lib/config/core_configuration.h"
#include "src/core/lib/surface/channel_init.h"
#include "src/core/lib/surface/channel_stack_type.h"

#include "grpcr/grpcr.h"
#include "process_policy.h"

// CoreConfiguration::RegisterBuilder aborts once the configuration has been
// built (by a grpc_init() that has since been shut down, say), and gRPC has no
// public way to ask. The pointer it checks is exported by libgrpc.so.29 (the
// inline Get() reads it); we read it, by its mangled name, to return an error
// instead of aborting. Safe only because the build pins gRPC 1.51.1.
extern std::atomic<void*> grpcr_core_configuration_ asm(
    "_ZN9grpc_core17CoreConfiguration7config_E");

// The builders registered so far (CoreConfiguration::builders_, exported by
// libgrpc.so.29 under this name): a list of std::function, newest first.
// Two copies of this library in one process (a libgrpcr at another path,
// grpcr_static, the preload's) each have their own g_registered, but both
// register into the one libgrpc, whose RegisterParser aborts on a second
// "resilience" parser. The list is where one copy sees the other's builder.
struct GrpcrRegisteredBuilder {
  std::function<void(grpc_core::CoreConfiguration::Builder*)> builder;
  GrpcrRegisteredBuilder* next;
};
extern std::atomic<GrpcrRegisteredBuilder*> grpcr_core_builders_ asm(
    "_ZN9grpc_core17CoreConfiguration9builders_E");

namespace {

// gRPC 1.51.1's core library reports "29.0.0".
constexpr const char* kCoreVersion = "29.0.0";

std::mutex g_mu;
bool g_registered = false;

bool AddFilter(grpc_core::ChannelStackBuilder* builder);

}  // namespace

namespace grpcr {

// The builder every copy of this library registers. Its type's name is the
// same in every copy (typeid objects are not), which is how a copy knows
// another one's builder.
struct InstallBuilder {
  bool preload;
  void operator()(grpc_core::CoreConfiguration::Builder* builder) const {
    if (preload) {
      builder->channel_args_preconditioning()->RegisterStage(
          MarkInternalChannel);
    }
    // INT_MAX: run last among the stages, so PrependFilter puts us at
    // element 0, above client-channel.
    builder->channel_init()->RegisterStage(GRPC_CLIENT_CHANNEL, INT_MAX,
                                           AddFilter);
    builder->service_config_parser()->RegisterParser(
        std::make_unique<Parser>());
  }
};

}  // namespace grpcr

namespace {

bool AnotherCopyRegistered() {
  const char* ours = typeid(grpcr::InstallBuilder).name();
  for (GrpcrRegisteredBuilder* b =
           grpcr_core_builders_.load(std::memory_order_acquire);
       b != nullptr; b = b->next) {
    if (strcmp(b->builder.target_type().name(), ours) == 0) return true;
  }
  return false;
}

bool AddFilter(grpc_core::ChannelStackBuilder* builder) {
  const grpc_core::ChannelArgs& args = builder->channel_args();
  grpcr::PreloadOnChannel();
  if (args.GetBool(GRPCR_ARG_ENABLE).value_or(true) &&
      grpcr::PreloadIncludes(args, builder->target())) {
    builder->PrependFilter(&grpcr::kFilter);
  }
  return true;
}

}  // namespace

namespace grpcr {

// grpcr_register() and the preload's install: the preload runs inside
// gRPC's configuration build, after grpc_init(), so only the configuration
// itself says whether it is too late.
int RegisterFilter(bool preload) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_registered) return GRPCR_OK;
  if (strcmp(grpc_version_string(), kCoreVersion) != 0) {
    gpr_log(GPR_ERROR,
            "grpc-resilience: libgrpc core %s is loaded, this build needs %s "
            "(gRPC 1.51.1); the filter is not installed",
            grpc_version_string(), kCoreVersion);
    return GRPCR_EVERSION;
  }
  if (AnotherCopyRegistered()) {
    // The preload's install logs its own line.
    if (!preload) {
      gpr_log(GPR_ERROR,
              "grpc-resilience: grpcr_register(): %s; this copy stays out "
              "and that one rules",
              grpcr_strerror(GRPCR_EDUPLICATE));
    }
    return GRPCR_EDUPLICATE;
  }
  if ((!preload && grpc_is_initialized()) ||
      grpcr_core_configuration_.load(std::memory_order_acquire) != nullptr) {
    return GRPCR_EINITIALIZED;
  }
  grpc_core::CoreConfiguration::RegisterBuilder(grpcr::InstallBuilder{preload});
  g_registered = true;
  return GRPCR_OK;
}

}  // namespace grpcr

extern "C" int grpcr_register(void) { return grpcr::RegisterFilter(false); }
