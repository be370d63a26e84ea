#include "support/fake_resolver.h"

#include <gtest/gtest.h>

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

void ResolvedChannel::Resolve(const std::string& address,
                              const std::string& service_config_json) {
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
  impl_->generator->SetResponse(std::move(result));
}

}  // namespace grpcr_test
