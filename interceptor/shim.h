// Internal to the shim: the filter, the service-config parser and the trace
// flag, shared by registration.cc, config_parser.cc and filter.cc.
#ifndef GRPCR_INTERCEPTOR_SHIM_H
#define GRPCR_INTERCEPTOR_SHIM_H

#ifdef NDEBUG
#error "Never build the shim with NDEBUG: it changes gRPC 1.51's internal struct layouts (see docs/GRPC_CORE_NOTES.md)"
#endif

#include <grpc/support/port_platform.h>

#include <stddef.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

#include "src/core/lib/channel/channel_stack.h"
#include "src/core/lib/debug/trace.h"
#include "src/core/lib/service_config/service_config_parser.h"

#include "grpcr/config.h"

namespace grpcr {

extern grpc_core::TraceFlag trace;
extern const grpc_channel_filter kFilter;

// The parsed top-level block (defaults when the config has none).
class GlobalConfig : public grpc_core::ServiceConfigParser::ParsedConfig {
 public:
  grpcr_channel_config cfg;
  // The config has a resilience block (top-level or in a methodConfig
  // entry): then it, not the process policy, rules the channel.
  bool has_resilience = false;
  // The methods its methodConfig names ("/svc/method"), and the services it
  // names whole: these get their own stats entries.
  std::vector<std::string> named_methods, named_services;
  bool Names(absl::string_view path) const;
};

// The parsed methodConfig[].resilience block.
class MethodConfig : public grpc_core::ServiceConfigParser::ParsedConfig {
 public:
  grpcr_retry_policy policy;
};

class Parser : public grpc_core::ServiceConfigParser::Parser {
 public:
  absl::string_view name() const override { return "resilience"; }
  std::unique_ptr<grpc_core::ServiceConfigParser::ParsedConfig>
  ParseGlobalParams(const grpc_core::ChannelArgs& args,
                    const grpc_core::Json& json,
                    grpc_core::ValidationErrors* errors) override;
  std::unique_ptr<grpc_core::ServiceConfigParser::ParsedConfig>
  ParsePerMethodParams(const grpc_core::ChannelArgs& args,
                       const grpc_core::Json& json,
                       grpc_core::ValidationErrors* errors) override;
};

// The parsers' indices in the core configuration (valid after grpc_init):
// ours, client-channel's and the message-size filter's. Looked up once, not
// per call (gRPC's own accessors compare names on every use).
size_t ParserIndex();
size_t RetryParserIndex();
size_t ClientChannelParserIndex();
size_t MessageSizeParserIndex();

// Registers the filter and the parser in gRPC's configuration: for
// grpcr_register() (preload false: refused once grpc_init() ran) and for
// the preload's install (which also marks gRPC's internal channels).
int RegisterFilter(bool preload);

}  // namespace grpcr

#endif  // GRPCR_INTERCEPTOR_SHIM_H
