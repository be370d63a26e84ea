// The process policy and the preload's install (see process_policy.h): the
// environment is read once, checked whole, and either installed whole or
// not at all (fail-open: the process then runs as without the plugin).
#include "process_policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/log.h>

#include "src/core/ext/filters/client_channel/client_channel.h"
#include "src/core/lib/channel/channelz.h"
#include "src/core/lib/iomgr/closure.h"
#include "src/core/lib/iomgr/exec_ctx.h"
#include "src/core/lib/service_config/service_config_impl.h"

#include "grpcr/config.h"
#include "grpcr/grpcr.h"
#include "grpcr/targets.h"
#include "internal.h"
#include "json.h"

namespace grpcr {

namespace {

// ALTS's handshaker service, the default gRPC dials for it.
constexpr const char* kAltsHandshaker = "metadata.google.internal.:8080";
// The largest policy file read.
constexpr size_t kPolicyFileMax = 1 << 20;

struct Settings {
  std::string policy_json;  // empty: no process policy
  grpcr_target_filter* targets = nullptr;
  bool include_internal = false;
  std::vector<std::string> internal_targets;
  std::string stats_addr;
  std::string stats_cert, stats_key, stats_client_ca;  // file paths
  std::string metrics_addr;
  int metrics_flags = 0;
  // The process the addresses were set for (GRPCR_SERVE_PID, which the
  // preload or grpcr-run sets), else the one that read them.
  long owner_pid = 0;
  ~Settings() { grpcr_target_filter_free(targets); }
};

// Written once by the install, before gRPC's configuration exists; every
// reader runs after gRPC published it (an acquire of the same atomic).
Settings* g_settings = nullptr;

const char* Env(const char* name) {
  const char* v = getenv(name);
  return v != nullptr && v[0] != '\0' ? v : nullptr;
}

// The file's bytes, or an error naming it.
absl::StatusOr<std::string> ReadFile(const char* what, const char* path,
                                     size_t max) {
  FILE* f = fopen(path, "rb");
  if (f == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, "=", path, ": cannot open: ", strerror(errno)));
  }
  std::string out;
  char buf[8192];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0 && out.size() <= max) {
    out.append(buf, n);
  }
  const bool failed = ferror(f) != 0;
  fclose(f);
  if (failed) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, "=", path, ": read error"));
  }
  if (out.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, "=", path, ": larger than ", max, " bytes"));
  }
  return out;
}

// gRPC's xDS control-plane servers (from its bootstrap, as gRPC finds it):
// the channels it opens to them are its own.
void AddXdsServers(std::vector<std::string>* out) {
  std::string text;
  if (const char* json = Env("GRPC_XDS_BOOTSTRAP_CONFIG")) {
    text = json;
  } else if (const char* path = Env("GRPC_XDS_BOOTSTRAP")) {
    auto file = ReadFile("GRPC_XDS_BOOTSTRAP", path, kPolicyFileMax);
    if (!file.ok()) return;  // gRPC reports its own bootstrap's problems
    text = std::move(*file);
  } else {
    return;
  }
  grpcr_json* root = nullptr;
  if (grpcr_json_parse(text.data(), text.size(), &root, nullptr) != 0) return;
  const grpcr_json* servers = grpcr_json_get(root, "xds_servers");
  if (servers != nullptr && servers->type == GRPCR_JSON_ARRAY) {
    for (size_t i = 0; i < servers->u.array.count; i++) {
      const grpcr_json* uri =
          grpcr_json_get(servers->u.array.items[i], "server_uri");
      if (uri != nullptr && uri->type == GRPCR_JSON_STRING) {
        out->emplace_back(uri->u.string.ptr, uri->u.string.len);
      }
    }
  }
  grpcr_json_free(root);
}

// The process policy's text, or an error naming the variable and every
// field at fault; "" if none is set.
absl::StatusOr<std::string> ReadPolicy() {
  const char* json = Env("GRPCR_CONFIG");
  const char* path = Env("GRPCR_CONFIG_FILE");
  if (json != nullptr && path != nullptr) {
    return absl::InvalidArgumentError(
        "GRPCR_CONFIG and GRPCR_CONFIG_FILE are both set: set one");
  }
  std::string text;
  const char* what = json != nullptr ? "GRPCR_CONFIG" : "GRPCR_CONFIG_FILE";
  if (json != nullptr) {
    text = json;
  } else if (path != nullptr) {
    auto file = ReadFile(what, path, kPolicyFileMax);
    if (!file.ok()) return file.status();
    text = std::move(*file);
  } else {
    return std::string();
  }
  grpcr_config_errors errs = {};
  const int rc = grpcr_config_validate_process(text.data(), text.size(), &errs);
  if (rc == 0) return text;
  char* lines = grpcr_config_errors_format(&errs);
  grpcr_config_errors_free(&errs);
  std::string msg = absl::StrCat(
      what, path != nullptr ? absl::StrCat("=", path) : std::string(),
      ": invalid policy: ",
      lines != nullptr ? absl::StrReplaceAll(lines, {{"\n", "; "}})
                       : std::string("out of memory"));
  grpcr_free(lines);
  return absl::InvalidArgumentError(msg);
}

absl::StatusOr<Settings*> ReadSettings() {
  auto policy = ReadPolicy();
  if (!policy.ok()) return policy.status();
  auto s = std::make_unique<Settings>();
  s->policy_json = std::move(*policy);
  if (const char* spec = Env("GRPCR_TARGETS")) {
    char* error = nullptr;
    int rc = grpcr_target_filter_parse(spec, &s->targets, &error);
    if (rc != 0) {
      std::string msg = absl::StrCat("GRPCR_TARGETS=", spec, ": ",
                                     error != nullptr ? error : "out of memory");
      grpcr_free(error);
      return absl::InvalidArgumentError(msg);
    }
  }
  if (const char* v = Env("GRPCR_INCLUDE_INTERNAL")) {
    if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("GRPCR_INCLUDE_INTERNAL=", v, ": must be 0 or 1"));
    }
    s->include_internal = strcmp(v, "1") == 0;
  }
  s->internal_targets.push_back(kAltsHandshaker);
  AddXdsServers(&s->internal_targets);
  if (const char* addr = Env("GRPCR_STATS_ADDR")) s->stats_addr = addr;
  if (const char* v = Env("GRPCR_STATS_TLS_CERT")) s->stats_cert = v;
  if (const char* v = Env("GRPCR_STATS_TLS_KEY")) s->stats_key = v;
  if (const char* v = Env("GRPCR_STATS_TLS_CLIENT_CA")) s->stats_client_ca = v;
  if (s->stats_cert.empty() != s->stats_key.empty()) {
    return absl::InvalidArgumentError(
        "GRPCR_STATS_TLS_CERT and GRPCR_STATS_TLS_KEY go together: set both "
        "or neither");
  }
  if (!s->stats_client_ca.empty() && s->stats_cert.empty()) {
    return absl::InvalidArgumentError(
        "GRPCR_STATS_TLS_CLIENT_CA needs GRPCR_STATS_TLS_CERT and "
        "GRPCR_STATS_TLS_KEY");
  }
  if (const char* addr = Env("GRPCR_METRICS_ADDR")) s->metrics_addr = addr;
  if (const char* v = Env("GRPCR_METRICS_ANY_ADDRESS")) {
    if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("GRPCR_METRICS_ANY_ADDRESS=", v, ": must be 0 or 1"));
    }
    if (strcmp(v, "1") == 0) s->metrics_flags = GRPCR_METRICS_HTTP_ANY_ADDRESS;
  }
  if (!s->stats_cert.empty() && s->stats_addr.empty()) {
    return absl::InvalidArgumentError(
        "GRPCR_STATS_TLS_CERT is set without GRPCR_STATS_ADDR");
  }
  s->owner_pid = static_cast<long>(getpid());
  if (const char* v = Env("GRPCR_SERVE_PID")) {
    char* end = nullptr;
    errno = 0;
    const long pid = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || pid <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("GRPCR_SERVE_PID=", v, ": must be a process id"));
    }
    s->owner_pid = pid;
  }
  return s.release();
}

// GRPC_TRACE as gRPC reads it (comma-separated; "-name" turns off, "all"
// means every flag). gRPC read it at grpc_init(), before this library was
// loaded, so it could not see our flag then.
void ApplyTraceFromEnv() {
  const char* spec = Env("GRPC_TRACE");
  if (spec == nullptr) return;
  for (absl::string_view tok : absl::StrSplit(spec, ',')) {
    const bool off = !tok.empty() && tok[0] == '-';
    if (off) tok.remove_prefix(1);
    if (tok == "resilience" || tok == "all") {
      grpc_tracer_set_enabled("resilience", off ? 0 : 1);
    }
  }
}

void StartStatsServer(const std::string& addr);

// The /metrics endpoint (GRPCR_METRICS_ADDR); it logs its own errors.
void StartMetricsEndpoint(const std::string& addr) {
  int port = 0;
  if (grpcr_metrics_http_start(addr.c_str(), g_settings->metrics_flags,
                               &port) == 0) {
    gpr_log(GPR_INFO, "grpc-resilience: /metrics on %s (port %d)",
            addr.c_str(), port);
  }
}

// The address this process serves on: the variable's value with every
// "%p" replaced by its pid; or none ("") if the address is another
// process's: set for a parent whose environment this process inherited
// (a worker a prefork server forked, a program it ran), which must never
// take over or unlink the parent's listener.
std::string OwnAddress(const char* variable, const std::string& addr) {
  const long self = static_cast<long>(getpid());
  const bool per_process = addr.find("%p") != std::string::npos;
  if (addr.empty()) return std::string();
  if (!per_process && self != g_settings->owner_pid) {
    gpr_log(GPR_INFO,
            "grpc-resilience: %s=%s belongs to process %ld; this process "
            "(%ld) serves nothing there (put %%p in the address for one per "
            "process)",
            variable, addr.c_str(), g_settings->owner_pid, self);
    return std::string();
  }
  return absl::StrReplaceAll(addr, {{"%p", std::to_string(self)}});
}

// The servers, started from the exec_ctx of the first channel's creation,
// once that creation is done (in a process forked without exec, the
// child's first channel, if the parent had made none).
void StartServers(void*, grpc_error_handle) {
  const std::string metrics =
      OwnAddress("GRPCR_METRICS_ADDR", g_settings->metrics_addr);
  if (!metrics.empty()) StartMetricsEndpoint(metrics);
  const std::string stats =
      OwnAddress("GRPCR_STATS_ADDR", g_settings->stats_addr);
  if (!stats.empty()) StartStatsServer(stats);
}

void StartStatsServer(const std::string& addr) {
  const Settings& s = *g_settings;
  int port = 0;
  int rc;
  if (s.stats_cert.empty()) {
    rc = grpcr_stats_server_start(addr.c_str(), &port);
  } else {
    auto cert = ReadFile("GRPCR_STATS_TLS_CERT", s.stats_cert.c_str(),
                         kPolicyFileMax);
    auto key = ReadFile("GRPCR_STATS_TLS_KEY", s.stats_key.c_str(),
                        kPolicyFileMax);
    absl::StatusOr<std::string> ca = std::string();
    if (!s.stats_client_ca.empty()) {
      ca = ReadFile("GRPCR_STATS_TLS_CLIENT_CA", s.stats_client_ca.c_str(),
                    kPolicyFileMax);
    }
    for (const auto* r : {&cert, &key, &ca}) {
      if (!r->ok()) {
        gpr_log(GPR_ERROR,
                "grpc-resilience: %s; the stats server is not started (calls "
                "are not affected)",
                std::string(r->status().message()).c_str());
        return;
      }
    }
    grpc_ssl_pem_key_cert_pair pair = {key->c_str(), cert->c_str()};
    grpc_server_credentials* creds = grpc_ssl_server_credentials_create_ex(
        ca->empty() ? nullptr : ca->c_str(), &pair, 1,
        ca->empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                    : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY,
        nullptr);
    rc = grpcr_stats_server_start_with_credentials(addr.c_str(), creds, &port);
    grpc_server_credentials_release(creds);
  }
  if (rc != 0) {
    gpr_log(GPR_ERROR,
            "grpc-resilience: GRPCR_STATS_ADDR=%s: the stats server did not "
            "start: %s (calls are not affected)",
            addr.c_str(), grpcr_strerror(rc));
    return;
  }
  gpr_log(GPR_INFO, "grpc-resilience: stats server on %s (port %d)",
          addr.c_str(), port);
}

}  // namespace

bool PreloadActive() { return g_settings != nullptr; }

bool PreloadIncludes(const grpc_core::ChannelArgs& args,
                     absl::string_view target) {
  if (g_settings == nullptr) return true;
  const std::string raw(target);
  const std::string canonical(
      args.GetString(GRPC_ARG_SERVER_URI).value_or(raw));
  if (!g_settings->include_internal) {
    if (args.GetBool(GRPCR_ARG_INTERNAL_CHANNEL).value_or(false)) return false;
    for (const std::string& t : g_settings->internal_targets) {
      if (t == raw || t == canonical || absl::StrCat("dns:///", t) == canonical) {
        return false;
      }
    }
  }
  return grpcr_target_filter_includes(g_settings->targets, raw.c_str(),
                                      canonical.c_str());
}

grpc_core::ChannelArgs MarkInternalChannel(grpc_core::ChannelArgs args) {
  if (args.GetBool(GRPC_ARG_CHANNELZ_IS_INTERNAL_CHANNEL).value_or(false)) {
    return args.Set(GRPCR_ARG_INTERNAL_CHANNEL, 1);
  }
  return args;
}

grpc_core::ServiceConfig* ProcessServiceConfig() {
  static grpc_core::ServiceConfig* config = nullptr;
  static std::once_flag once;
  if (g_settings == nullptr || g_settings->policy_json.empty()) return nullptr;
  std::call_once(once, [] {
    auto sc = grpc_core::ServiceConfigImpl::Create(grpc_core::ChannelArgs(),
                                                   g_settings->policy_json);
    if (!sc.ok()) {
      gpr_log(GPR_ERROR,
              "grpc-resilience: gRPC refused the process policy: %s; "
              "channels run without it",
              sc.status().ToString().c_str());
      return;
    }
    config = sc->release();  // lives as long as the process
  });
  return config;
}

void PreloadOnChannel() {
  static std::once_flag once;
  if (g_settings == nullptr ||
      (g_settings->stats_addr.empty() && g_settings->metrics_addr.empty())) {
    return;
  }
  std::call_once(once, [] {
    grpc_core::ExecCtx::Run(
        DEBUG_LOCATION, GRPC_CLOSURE_CREATE(StartServers, nullptr, nullptr),
        absl::OkStatus());
  });
}

}  // namespace grpcr

// Called by libgrpcr_preload.so from its hook on gRPC's configuration
// build, before gRPC's own: reads and checks the environment, then
// registers the filter, or logs one line and installs nothing.
extern "C" GRPCR_API int grpcr_internal_preload_install(void) {
  auto settings = grpcr::ReadSettings();
  if (!settings.ok()) {
    gpr_log(GPR_ERROR,
            "grpc-resilience: %s; nothing is installed, the process runs "
            "without grpc-resilience",
            std::string(settings.status().message()).c_str());
    return GRPCR_ECONFIG;
  }
  grpcr::g_settings = *settings;
  const int rc = grpcr::RegisterFilter(/*preload=*/true);
  if (rc != GRPCR_OK) {
    delete grpcr::g_settings;
    grpcr::g_settings = nullptr;
    gpr_log(GPR_ERROR,
            "grpc-resilience: %s; nothing is installed, the process runs "
            "without grpc-resilience",
            rc == GRPCR_EINITIALIZED
                ? "gRPC's configuration was already built (too late)"
            : rc == GRPCR_EDUPLICATE
                ? "the program installed grpc-resilience itself (its own "
                  "copy rules, with its own configuration)"
                : grpcr_strerror(rc));
    return rc;
  }
  grpcr::ApplyTraceFromEnv();
  return GRPCR_OK;
}
