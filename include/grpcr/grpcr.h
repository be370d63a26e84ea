/* grpc-resilience: jittered retries, a retry budget and a circuit breaker
 * for every gRPC C-core client channel. The only header applications need. */
#ifndef GRPCR_GRPCR_H
#define GRPCR_GRPCR_H

#include <stddef.h>

#include "grpcr/common.h"
#include "grpcr/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct grpc_server grpc_server;
typedef struct grpc_server_credentials grpc_server_credentials;

/* Channel argument (int): 0 keeps the filter off that channel. Default 1
 * once grpcr_register() has run. */
#define GRPCR_ARG_ENABLE "grpc.resilience.enabled"
/* Channel argument (string): the channel's name in stats. Default: its
 * target. */
#define GRPCR_ARG_NAME "grpc.resilience.name"

/* Installs the filter on every client channel created afterwards, and the
 * service-config parser for "resilience" blocks. Call once, before
 * grpc_init(). Returns 0 (also on a repeated call); GRPCR_EINITIALIZED if
 * gRPC is initialised, or was and created channels (its configuration is
 * then fixed for the process); GRPCR_EVERSION if the running libgrpc is not
 * the version this build was compiled against; GRPCR_EDUPLICATE if another
 * copy of this library in the process (a libgrpcr.so at another path,
 * grpcr_static, the preload's) installed the filter first: that copy rules,
 * this one logs one line and stays out. On error nothing is installed by
 * this copy. Thread-safe. */
GRPCR_API int grpcr_register(void);

/* Checks a complete service config (JSON text) the way channel creation
 * will. Returns 0 if it is valid; else GRPCR_ECONFIG and, if errors is not
 * NULL, *errors lists every problem, one per line, as
 * "field:<json path> error:<message>" (free with grpcr_free). Thread-safe. */
GRPCR_API int grpcr_validate_service_config(const char *json, char **errors);

/* The stats service (proto/grpcr/v1/stats.proto) and the full path of its
 * one method, as a C-core call names it. */
#define GRPCR_STATS_SERVICE_NAME "grpcr.v1.ResilienceStats"
#define GRPCR_STATS_GET_STATS_METHOD "/" GRPCR_STATS_SERVICE_NAME "/GetStats"

/* Adds the grpcr.v1.ResilienceStats service to a C-core server. Call before
 * grpc_server_start(); the library serves it on its own completion queue and
 * thread until the server shuts down. Returns 0 or a negative error. */
GRPCR_API int grpcr_stats_register_service(grpc_server *server);

/* Starts a standalone stats server on addr, without transport security;
 * the port bound is stored in *bound_port if it is not NULL. It exposes the
 * names and targets of the process's channels, so it listens only where
 * nothing but this machine can reach it: a loopback address
 * ("127.0.0.1:0", any 127.x.y.z, "[::1]:0", "localhost:0") or a Unix
 * socket ("unix:/path"). Any other address (a wildcard such as
 * "0.0.0.0:0" or ":9000", a host name, another interface) is refused with
 * GRPCR_EINSECURE: use grpcr_stats_server_start_with_credentials.
 * One at a time: a second start returns GRPCR_EBUSY. Returns 0 or a
 * negative error. The server bounds what a client can cost it: requests of
 * at most GRPCR_STATS_MAX_REQUEST_BYTES (larger ones fail
 * RESOURCE_EXHAUSTED), GRPCR_STATS_MAX_STREAMS concurrent calls per
 * connection, idle connections closed after GRPCR_STATS_IDLE_MS, and
 * GRPCR_STATS_MEMORY_BYTES of memory for all its connections (gRPC's
 * resource quota: past it, reads slow down and new connections wait). */
GRPCR_API int grpcr_stats_server_start(const char *addr, int *bound_port);
/* The same on any address, with the application's server credentials (TLS,
 * mutual TLS, ALTS; not consumed: the caller still releases them). NULL
 * credentials are GRPCR_EINVAL. */
GRPCR_API int grpcr_stats_server_start_with_credentials(
    const char *addr, grpc_server_credentials *creds, int *bound_port);

#define GRPCR_STATS_MAX_REQUEST_BYTES (64 * 1024)
#define GRPCR_STATS_MAX_STREAMS 32
#define GRPCR_STATS_IDLE_MS (2 * 60 * 1000)
#define GRPCR_STATS_MEMORY_BYTES (64 * 1024 * 1024)
/* Stops the standalone stats server and waits for it; no-op if none. */
GRPCR_API void grpcr_stats_server_stop(void);

/* grpcr_metrics_http_start flag: listen on any address, not only loopback
 * (the endpoint has no TLS and no authentication: put it behind your own
 * network policy). */
#define GRPCR_METRICS_HTTP_ANY_ADDRESS 1

/* What clients can cost the endpoint: at most this many connections at
 * once (further ones wait in the kernel's accept queue until one closes),
 * this many from one IP address (further ones are closed at once), a
 * connection closed after this many seconds without progress (a slow or
 * silent client included), and this much memory per connection for its
 * request line and headers (a larger request is refused with a 4xx status
 * and the connection closed). */
#define GRPCR_METRICS_HTTP_MAX_CONNECTIONS 64
#define GRPCR_METRICS_HTTP_MAX_CONNECTIONS_PER_IP 32
#define GRPCR_METRICS_HTTP_TIMEOUT_S 10
#define GRPCR_METRICS_HTTP_CONNECTION_MEMORY_BYTES (16 * 1024)
/* Threads the endpoint runs (libmicrohttpd's pool), however many clients. */
#define GRPCR_METRICS_HTTP_THREADS 2

/* Starts a Prometheus scrape endpoint on addr ("host:port": "127.0.0.1:9464",
 * "[::1]:9464", "localhost:9464", port 0 for any free one), serving the
 * exposition of every channel in the process (grpcr_stats_get(NULL) rendered
 * by grpcr/metrics.h) at GET /metrics, and HEAD. The Accept header picks the
 * format: OpenMetrics 1.0.0 if it names application/openmetrics-text with a
 * q above 0 and at least that of text/plain (as Prometheus asks), else text
 * format 0.0.4. Any other path is 404, any other method on /metrics 405
 * (with Allow: GET, HEAD), a request with a body 413; nothing else is
 * served. The port bound is stored in *bound_port if it is not NULL.
 *
 * Like the stats server, it exposes channel names and targets and has no
 * transport security, so it listens only on a loopback address
 * (127.0.0.0/8, [::1], localhost, which binds 127.0.0.1) unless flags has
 * GRPCR_METRICS_HTTP_ANY_ADDRESS (then also "0.0.0.0:9464", "[::]:9464",
 * ":9464" for every interface, or a host name, resolved once); otherwise
 * GRPCR_EINSECURE and one log line. A malformed addr or unknown flags are
 * GRPCR_EINVAL (logged), an address that cannot be bound GRPCR_EBIND
 * (logged with the reason), a second start while one runs GRPCR_EBUSY.
 * Returns 0 on success. Scrapes run on the endpoint's own
 * GRPCR_METRICS_HTTP_THREADS threads and touch only grpcr_stats_get (a
 * short lock that calls never take), so a scrape never waits for a call and
 * a call never waits for a scrape. Thread-safe; needs no grpc_init(). */
GRPCR_API int grpcr_metrics_http_start(const char *addr, int flags,
                                       int *bound_port);
/* Stops the endpoint: closes its port and every connection, and returns once
 * its threads have exited. No-op if it is not running; it can be started
 * again afterwards. Thread-safe. */
GRPCR_API void grpcr_metrics_http_stop(void);

/* The stats of this process's channels, in process (what GetStats serves):
 * a snapshot of every channel whose name contains name_filter (NULL or ""
 * for all), into a new array of *count entries that the caller frees with
 * grpcr_channel_snapshots_free. Returns 0, GRPCR_EINVAL (out or count
 * NULL) or GRPCR_ENOMEM. Thread-safe; no RPC, no server needed. */
GRPCR_API int grpcr_stats_get(const char *name_filter,
                              grpcr_channel_snapshot **out, size_t *count);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_GRPCR_H */
