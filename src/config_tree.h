/* The config parsers on a JSON tree instead of text: for a caller that has
 * parsed the service config already (the shim walks gRPC's own parsed Json
 * into a grpcr_json tree, so nothing is printed and parsed again). Same
 * contracts as grpcr_config_parse_channel and grpcr_config_parse_method in
 * include/grpcr/config.h, with GRPCR_EINVAL for a NULL tree. Private to the
 * library. */
#ifndef GRPCR_SRC_CONFIG_TREE_H
#define GRPCR_SRC_CONFIG_TREE_H

#include <stdbool.h>

#include "grpcr/config.h"
#include "json.h"

#ifdef __cplusplus
extern "C" {
#endif

int grpcr_config_parse_channel_tree(const grpcr_json *root,
                                    grpcr_channel_config *out,
                                    grpcr_config_errors *errs);

int grpcr_config_parse_method_tree(const grpcr_json *entry, const char *path,
                                   grpcr_retry_policy *out, bool *has_policy,
                                   grpcr_config_errors *errs);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_SRC_CONFIG_TREE_H */
