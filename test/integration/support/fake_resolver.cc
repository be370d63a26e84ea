#include "support/fake_resolver.h"

#include <gtest/gtest.h>

#include "src/core/ext/filters/client_channel/config_selector.h"
#include "src/core/ext/filters/client_channel/resolver/fake/fake_resolver.h"
#include "src/core/lib/address_utils/parse_address.h"
#include "src/core/lib/channel/channel_args.h"
#include "src/core/lib/iomgr/exec_ctx.h"
#include "src/core/lib/resolver/server_address.h"
#include "src/core/lib/service_config/service_config_impl.h"
#include "support/fixture.h"

namespace grpcr_test {

struct ResolvedChannel::Impl {
  grpc_core::RefCountedPtr<grpc_core::FakeResolverResponseGenerator> generator =
      grpc_core::MakeRefCounted<grpc_core::FakeResolverResponseGenerator>();
};

ResolvedChannel::ResolvedChannel(const std::string& name,
                                 std::vector<grpc_arg> extra)
    : impl_(new Impl) {
  EnsureGrpcInitialized();
  extra.push_back(grpc_core::FakeResolverResponseGenerator::MakeChannelArg(
      impl_->generator.get()));
  channel_ = MakeChannel("fake:///" + name, "", std::move(extra));
}

ResolvedChannel::~ResolvedChannel() {
  if (channel_ != nullptr) grpc_channel_destroy(channel_);
}

namespace {

// Every call gets the same per-call config, as xDS's XdsConfigSelector gives
// each call its route's method config.
class RouteConfigSelector : public grpc_core::ConfigSelector {
 public:
  explicit RouteConfigSelector(
      grpc_core::RefCountedPtr<grpc_core::ServiceConfig> route)
      : route_(std::move(route)) {}
  const char* name() const override { return "grpcr_test_route"; }
  bool Equals(const ConfigSelector* other) const override {
    return static_cast<const RouteConfigSelector*>(other)->route_ == route_;
  }
  CallConfig GetCallConfig(GetCallConfigArgs args) override {
    CallConfig config;
    config.method_configs = route_->GetMethodParsedConfigVector(*args.path);
    config.service_config = route_;
    return config;
  }

 private:
  grpc_core::RefCountedPtr<grpc_core::ServiceConfig> route_;
};

}  // namespace

void ResolvedChannel::Resolve(const std::string& address,
                              const std::string& service_config_json) {
  ResolveWithRoute(address, service_config_json, "");
}

void ResolvedChannel::ResolveWithRoute(const std::string& address,
                                       const std::string& service_config_json,
                                       const std::string& route_config_json) {
  grpc_core::ExecCtx exec_ctx;
  grpc_resolved_address addr;
  ASSERT_TRUE(grpc_parse_ipv4_hostport(address, &addr, true)) << address;
  grpc_core::Resolver::Result result;
  result.addresses =
      grpc_core::ServerAddressList{grpc_core::ServerAddress(addr, {})};
  if (!service_config_json.empty()) {
    auto sc = grpc_core::ServiceConfigImpl::Create(grpc_core::ChannelArgs(),
                                                   service_config_json);
    ASSERT_TRUE(sc.ok()) << sc.status().ToString();
    result.service_config = std::move(*sc);
  }
  if (!route_config_json.empty()) {
    auto route = grpc_core::ServiceConfigImpl::Create(grpc_core::ChannelArgs(),
                                                      route_config_json);
    ASSERT_TRUE(route.ok()) << route.status().ToString();
    result.args = result.args.SetObject(
        grpc_core::MakeRefCounted<RouteConfigSelector>(std::move(*route)));
  }
  impl_->generator->SetResponse(std::move(result));
}

}  // namespace grpcr_test
