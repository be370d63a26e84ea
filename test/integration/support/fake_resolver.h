// A channel whose name resolution the test controls, through gRPC's own
// FakeResolver ("fake:///" targets): the service config then comes from the
// resolver, as it does from DNS TXT records or xDS, and can change while
// the channel lives.
#ifndef GRPCR_TEST_INTEGRATION_SUPPORT_FAKE_RESOLVER_H
#define GRPCR_TEST_INTEGRATION_SUPPORT_FAKE_RESOLVER_H

#include <grpc/grpc.h>

#include <memory>
#include <string>
#include <vector>

namespace grpcr_test {

class ResolvedChannel {
 public:
  // A channel to "fake:///<name>" (extra args as for MakeChannel). Nothing
  // resolves until Resolve() is called.
  explicit ResolvedChannel(const std::string& name,
                           std::vector<grpc_arg> extra = {});
  ~ResolvedChannel();  // destroys the channel
  ResolvedChannel(const ResolvedChannel&) = delete;
  ResolvedChannel& operator=(const ResolvedChannel&) = delete;

  grpc_channel* get() const { return channel_; }
  // Makes the resolver return one address ("127.0.0.1:<port>") and the
  // service config (JSON; "" for none). Calling it again is an update.
  void Resolve(const std::string& address,
               const std::string& service_config_json);
  // As Resolve, with a ConfigSelector that gives every call its own service
  // config, route_config_json, as xDS gives each call its route's method
  // config (e.g. {"methodConfig": [{"name": [{}], "timeout": "5s"}]}).
  void ResolveWithRoute(const std::string& address,
                        const std::string& service_config_json,
                        const std::string& route_config_json);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  grpc_channel* channel_ = nullptr;
};

}  // namespace grpcr_test

#endif  // GRPCR_TEST_INTEGRATION_SUPPORT_FAKE_RESOLVER_H
