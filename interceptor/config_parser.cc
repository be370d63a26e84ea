// The "resilience" service-config parser: gRPC hands us its parsed JSON,
// which is walked into the core's tree (nothing is printed and parsed
// again), the core validates it, and every core error becomes a gRPC
// ValidationErrors entry under its JSON path, so channel creation fails with
// field-level messages.
#include "shim.h"

#include <stdlib.h>
#include <string.h>

#include <string>

#include "absl/strings/str_cat.h"

#include "src/core/ext/filters/client_channel/client_channel_service_config.h"
#include "src/core/ext/filters/client_channel/retry_service_config.h"
#include "src/core/ext/filters/message_size/message_size_filter.h"
#include "src/core/lib/config/core_configuration.h"
#include "src/core/lib/gprpp/validation_errors.h"
#include "src/core/lib/json/json.h"

#include "config_tree.h"
#include "grpcr/grpcr.h"
#include "json.h"

namespace grpcr {

namespace {

struct TreeFree {
  void operator()(grpcr_json* v) const { grpcr_json_free(v); }
};
using Tree = std::unique_ptr<grpcr_json, TreeFree>;

// gRPC's Json as the core's tree; null on ENOMEM (gRPC's reader bounds the
// depth at 255, so the recursion is bounded too). gRPC keeps numbers as
// their literal text, which the core reads exactly as its own parser does.
Tree ToTree(const grpc_core::Json& json) {
  using Type = grpc_core::Json::Type;
  switch (json.type()) {
    case Type::JSON_NULL:
      return Tree(grpcr_json_new(GRPCR_JSON_NULL));
    case Type::JSON_TRUE:
    case Type::JSON_FALSE:
      return Tree(grpcr_json_new_bool(json.type() == Type::JSON_TRUE));
    case Type::NUMBER:
      return Tree(grpcr_json_new_number(json.string_value().data(),
                                        json.string_value().size()));
    case Type::STRING:
      return Tree(grpcr_json_new_string(json.string_value().data(),
                                        json.string_value().size()));
    case Type::ARRAY: {
      Tree out(grpcr_json_new(GRPCR_JSON_ARRAY));
      for (const grpc_core::Json& item : json.array_value()) {
        Tree v = ToTree(item);
        if (out == nullptr || v == nullptr ||
            grpcr_json_append(out.get(), v.release()) != 0) {
          return nullptr;
        }
      }
      return out;
    }
    case Type::OBJECT: {
      Tree out(grpcr_json_new(GRPCR_JSON_OBJECT));
      for (const auto& member : json.object_value()) {
        Tree v = ToTree(member.second);
        if (out == nullptr || v == nullptr ||
            grpcr_json_add_member(out.get(), member.first.data(),
                                  member.first.size(), v.release()) != 0) {
          return nullptr;
        }
      }
      return out;
    }
  }
  return nullptr;
}

// What the config's methodConfig entries tell us in one walk: whether one
// has a resilience block, and the names they give (gRPC validates them; a
// malformed one is skipped here).
void ReadMethodConfigs(const grpc_core::Json& config, GlobalConfig* out) {
  using Type = grpc_core::Json::Type;
  auto it = config.object_value().find("methodConfig");
  if (it == config.object_value().end() || it->second.type() != Type::ARRAY) {
    return;
  }
  auto field = [](const grpc_core::Json& name, const char* key) {
    auto f = name.object_value().find(key);
    return f != name.object_value().end() && f->second.type() == Type::STRING
               ? f->second.string_value()
               : std::string();
  };
  for (const grpc_core::Json& entry : it->second.array_value()) {
    if (entry.type() != Type::OBJECT) continue;
    if (entry.object_value().count("resilience") != 0) {
      out->has_resilience = true;
    }
    auto names = entry.object_value().find("name");
    if (names == entry.object_value().end() ||
        names->second.type() != Type::ARRAY) {
      continue;
    }
    for (const grpc_core::Json& name : names->second.array_value()) {
      if (name.type() != Type::OBJECT) continue;
      const std::string service = field(name, "service");
      const std::string method = field(name, "method");
      if (service.empty()) continue;
      if (method.empty()) {
        out->named_services.push_back(service);
      } else {
        out->named_methods.push_back(absl::StrCat("/", service, "/", method));
      }
    }
  }
}

void AddOutOfMemory(grpc_core::ValidationErrors* errors) {
  errors->AddError("resilience: out of memory reading the service config");
}

void AddErrors(const grpcr_config_errors& errs,
               grpc_core::ValidationErrors* errors) {
  for (size_t i = 0; i < errs.count; i++) {
    grpc_core::ValidationErrors::ScopedField field(
        errors, absl::StrCat(".", errs.items[i].field));
    errors->AddError(errs.items[i].message);
  }
}

}  // namespace

std::unique_ptr<grpc_core::ServiceConfigParser::ParsedConfig>
Parser::ParseGlobalParams(const grpc_core::ChannelArgs&,
                          const grpc_core::Json& json,
                          grpc_core::ValidationErrors* errors) {
  auto out = std::make_unique<GlobalConfig>();
  // Only the top-level "resilience" block is ours: the rest of the config
  // is not walked.
  Tree root(grpcr_json_new(GRPCR_JSON_OBJECT));
  if (root == nullptr) {
    AddOutOfMemory(errors);
    return nullptr;
  }
  if (json.type() == grpc_core::Json::Type::OBJECT) {
    ReadMethodConfigs(json, out.get());
    auto it = json.object_value().find("resilience");
    if (it != json.object_value().end()) {
      out->has_resilience = true;
      Tree block = ToTree(it->second);
      if (block == nullptr ||
          grpcr_json_add_member(root.get(), "resilience", strlen("resilience"),
                                block.release()) != 0) {
        AddOutOfMemory(errors);
        return nullptr;
      }
    }
  }
  grpcr_config_errors errs = {};
  int rc = grpcr_config_parse_channel_tree(root.get(), &out->cfg, &errs);
  if (rc == GRPCR_ENOMEM) AddOutOfMemory(errors);
  if (rc != 0) {
    AddErrors(errs, errors);
    grpcr_config_errors_free(&errs);
    return nullptr;
  }
  return out;
}

std::unique_ptr<grpc_core::ServiceConfigParser::ParsedConfig>
Parser::ParsePerMethodParams(const grpc_core::ChannelArgs&,
                             const grpc_core::Json& json,
                             grpc_core::ValidationErrors* errors) {
  Tree entry = ToTree(json);
  if (entry == nullptr) {
    AddOutOfMemory(errors);
    return nullptr;
  }
  auto out = std::make_unique<MethodConfig>();
  bool has_policy = false;
  grpcr_config_errors errs = {};
  int rc = grpcr_config_parse_method_tree(entry.get(), "", &out->policy,
                                          &has_policy, &errs);
  if (rc == GRPCR_ENOMEM) AddOutOfMemory(errors);
  if (rc != 0) {
    AddErrors(errs, errors);
    grpcr_config_errors_free(&errs);
    return nullptr;
  }
  if (!has_policy) return nullptr;
  return out;
}

size_t ParserIndex() {
  static const size_t index =
      grpc_core::CoreConfiguration::Get().service_config_parser().GetParserIndex(
          "resilience");
  return index;
}

bool GlobalConfig::Names(absl::string_view path) const {
  for (const std::string& m : named_methods) {
    if (m == path) return true;
  }
  if (named_services.empty() || path.size() < 2 || path[0] != '/') {
    return false;
  }
  const size_t slash = path.find('/', 1);
  if (slash == absl::string_view::npos) return false;
  const absl::string_view service = path.substr(1, slash - 1);
  for (const std::string& s : named_services) {
    if (s == service) return true;
  }
  return false;
}

size_t RetryParserIndex() {
  static const size_t index =
      grpc_core::internal::RetryServiceConfigParser::ParserIndex();
  return index;
}

size_t ClientChannelParserIndex() {
  static const size_t index =
      grpc_core::internal::ClientChannelServiceConfigParser::ParserIndex();
  return index;
}

size_t MessageSizeParserIndex() {
  static const size_t index = grpc_core::MessageSizeParser::ParserIndex();
  return index;
}

}  // namespace grpcr

extern "C" int grpcr_validate_service_config(const char* json, char** errors) {
  if (errors != nullptr) *errors = nullptr;
  if (json == nullptr) {
    if (errors != nullptr) *errors = strdup("field: error:service config is NULL");
    return GRPCR_EINVAL;
  }
  grpcr_config_errors errs = {};
  int rc = grpcr_config_validate(json, strlen(json), &errs);
  if (rc != 0 && errors != nullptr) *errors = grpcr_config_errors_format(&errs);
  grpcr_config_errors_free(&errs);
  return rc;
}
