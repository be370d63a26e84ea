// cpp_client: a plain grpc++ client. The ONLY grpc-resilience-specific line
// is grpcr_register() at the top of main(); everything else is what any
// grpc++ service already has (a channel with a service config, a unary call).
//
// It calls "/echo.Echo/Say" through grpc::GenericStub with ByteBuffer
// payloads, so no protoc C++ codegen is needed, and prints each call's
// status. Point it at examples/flaky_server with failures turned on and
// compare --plugin on and off:
//
//   flaky_server --port 50051 --fail-rate 0.5 &
//   cpp_client --target 127.0.0.1:50051 --config examples/configs/demo.json
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/byte_buffer.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>

#ifndef GRPCR_EXAMPLE_WITHOUT_PLUGIN
#include "grpcr/grpcr.h"  // the one header a service adds
#endif

namespace {

struct Options {
  std::string target = "127.0.0.1:50051";
  std::string config_path;
  bool plugin = true;
  int calls = 10;
  int deadline_ms = 2000;
};

const char kUsage[] =
    "usage: cpp_client [--target ADDR] [--config FILE] [--plugin on|off]\n"
    "                  [--calls N] [--deadline-ms D]\n";

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&](const char* name, std::string* out) {
      if (a != name) return false;
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (value("--target", &o->target) || value("--config", &o->config_path)) {
      continue;
    } else if (value("--plugin", &v)) {
      if (v != "on" && v != "off") return false;
      o->plugin = v == "on";
    } else if (value("--calls", &v)) {
      o->calls = std::atoi(v.c_str());
      if (o->calls < 1) return false;
    } else if (value("--deadline-ms", &v)) {
      o->deadline_ms = std::atoi(v.c_str());
      if (o->deadline_ms < 1) return false;
    } else {
      return false;
    }
  }
  return true;
}

// One unary call through the generic stub, waited for synchronously.
grpc::Status Say(grpc::GenericStub* stub, const std::string& text,
                 int deadline_ms, std::string* reply) {
  grpc::Slice slice(text);
  grpc::ByteBuffer request(&slice, 1), response;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(deadline_ms));
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  stub->UnaryCall(&ctx, "/echo.Echo/Say", grpc::StubOptions(), &request,
                  &response, [&](grpc::Status s) {
                    std::lock_guard<std::mutex> lock(mu);
                    status = std::move(s);
                    done = true;
                    cv.notify_one();
                  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  if (status.ok()) {
    std::vector<grpc::Slice> slices;
    response.Dump(&slices);
    reply->clear();
    for (const auto& s : slices)
      reply->append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!ParseArgs(argc, argv, &opt)) {
    std::cerr << kUsage;
    return 64;
  }

  // ---------------------------------------------------------------------
  // THE ONLY CHANGE a C++ service needs: register the plugin before the
  // first use of gRPC (before any channel, server or grpc_init()). From then
  // on every client channel of the process gets retries with jitter, the
  // retry budget and the circuit breaker that its service config asks for.
#ifdef GRPCR_EXAMPLE_WITHOUT_PLUGIN
  // Built with -DGRPCR_EXAMPLE_WITHOUT_PLUGIN (the preload test's build):
  // none of grpc-resilience is compiled in; the preload adds it.
  opt.plugin = false;
#else
  if (opt.plugin) {
    int err = grpcr_register();
    if (err != 0) {
      std::cerr << "grpcr_register: " << grpcr_strerror(err) << "\n";
      return 1;
    }
  }
#endif
  // ---------------------------------------------------------------------

  // The policy lives in the service config, as gRPC's own retryPolicy does.
  std::string config;
  if (!opt.config_path.empty()) {
    std::ifstream in(opt.config_path);
    if (!in) {
      std::cerr << "cannot read " << opt.config_path << "\n";
      return 1;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    config = ss.str();
    // Optional: a bad config makes every call fail with a vague status, so
    // check it once and print the exact fields.
#ifndef GRPCR_EXAMPLE_WITHOUT_PLUGIN
    char* errors = nullptr;
    if (opt.plugin && grpcr_validate_service_config(config.c_str(), &errors) != 0) {
      std::cerr << "invalid service config:\n" << (errors ? errors : "") << "\n";
      grpcr_free(errors);
      return 2;
    }
#endif
  }

  grpc::ChannelArguments args;
  if (!config.empty()) args.SetServiceConfigJSON(config);
#ifndef GRPCR_EXAMPLE_WITHOUT_PLUGIN
  args.SetString(GRPCR_ARG_NAME, "cpp_client");  // optional: name in stats
#endif
  auto channel = grpc::CreateCustomChannel(
      opt.target, grpc::InsecureChannelCredentials(), args);
  grpc::GenericStub stub(channel);

  int ok = 0;
  for (int i = 0; i < opt.calls; i++) {
    std::string reply;
    auto start = std::chrono::steady_clock::now();
    grpc::Status s = Say(&stub, "hello " + std::to_string(i), opt.deadline_ms, &reply);
    double ms = std::chrono::duration<double, std::milli>(
                    std::chrono::steady_clock::now() - start)
                    .count();
    if (s.ok()) {
      ok++;
      std::printf("call %2d: OK (%.1f ms) reply=\"%s\"\n", i, ms, reply.c_str());
    } else {
      std::printf("call %2d: code %d (%.1f ms) %s\n", i,
                  static_cast<int>(s.error_code()), ms, s.error_message().c_str());
    }
  }
  std::printf("%d of %d calls OK (plugin %s)\n", ok, opt.calls,
              opt.plugin ? "on" : "off");
  return 0;
}
