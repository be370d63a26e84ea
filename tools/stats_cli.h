/* grpcr-stats' parts, one job a file: grpcr_stats.c (arguments, main,
 * --watch), stats_rpc.c (the GetStats call), stats_snapshot.c (the answer
 * as core snapshots), stats_json.c (--json, from the proto's descriptors),
 * stats_table.c (the table). --prometheus is the core's renderer
 * (grpcr/metrics.h). */
#ifndef GRPCR_TOOLS_STATS_CLI_H
#define GRPCR_TOOLS_STATS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "grpcr/stats.h"
#include "grpcr/v1/stats.pb-c.h"

#define PROG "grpcr-stats"

typedef Grpcr__V1__GetStatsResponse stats_response;

/* ---- stats_rpc.c --------------------------------------------------------- */

/* An insecure channel to one address and the queue its calls complete on. */
typedef struct {
  struct grpc_channel *channel;
  struct grpc_completion_queue *cq;
} stats_client;

/* After grpc_init(). */
void stats_client_init(stats_client *c, const char *addr);
void stats_client_destroy(stats_client *c);

/* One GetStats call to addr (c's address) for the channels named
 * channel_name (all if NULL), within timeout_ms. Returns the answer (free
 * with stats_response_free), or NULL with err filled with one line saying
 * why, without the program name. */
stats_response *stats_fetch(stats_client *c, const char *addr,
                            const char *channel_name, long timeout_ms,
                            char *err, size_t err_len);
void stats_response_free(stats_response *r);

/* ---- stats_snapshot.c ---------------------------------------------------- */

/* r's channels as core snapshots, in r's order (r->n_channels of them),
 * methods included; they own their strings and arrays: free with
 * grpcr_channel_snapshots_free(snaps, r->n_channels). NULL on ENOMEM. */
grpcr_channel_snapshot *stats_snapshots_from_response(const stats_response *r);

/* ---- stats_json.c -------------------------------------------------------- */

/* Writes m, and every message in it, as JSON: every field of the proto
 * under its proto name, in field-number order. */
void stats_json_write(FILE *f, const ProtobufCMessage *m);

/* ---- stats_table.c ------------------------------------------------------- */

/* An aligned table, one row per snapshot. false on ENOMEM. */
bool stats_table_write(FILE *f, const grpcr_channel_snapshot *snaps,
                       size_t n);
/* --by-method: one row per channel and method, in the snapshots' order (a
 * channel without methods has one row of "-"). false on ENOMEM. */
bool stats_table_write_by_method(FILE *f, const grpcr_channel_snapshot *snaps,
                                 size_t n);

#endif /* GRPCR_TOOLS_STATS_CLI_H */
