// The "resilience" service-config parser: gRPC hands us JSON, the core
// validates it, and every core error becomes a gRPC ValidationErrors entry
// under its JSON path, so channel creation fails with field-level messages.
#include "shim.h"

#include <stdlib.h>
#include <string.h>

#include <string>

#include "absl/strings/str_cat.h"

#include "src/core/lib/config/core_configuration.h"
#include "src/core/lib/gprpp/validation_errors.h"
#include "src/core/lib/json/json.h"

#include "grpcr/grpcr.h"

namespace grpcr {

namespace {

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
  std::string text = json.Dump();
  grpcr_config_errors errs = {};
  if (grpcr_config_parse_channel(text.data(), text.size(), &out->cfg,
                                 &errs) != 0) {
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
  std::string text = json.Dump();
  auto out = std::make_unique<MethodConfig>();
  bool has_policy = false;
  grpcr_config_errors errs = {};
  if (grpcr_config_parse_method(text.data(), text.size(), "", &out->policy,
                                &has_policy, &errs) != 0) {
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
