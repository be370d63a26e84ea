/* The Prometheus scrape endpoint (grpcr_metrics_http_start, grpcr.h): GET
 * /metrics on libmicrohttpd.
 *
 * libmicrohttpd runs a fixed pool of GRPCR_METRICS_HTTP_THREADS threads,
 * each polling its share of the connections with epoll (poll where epoll is
 * missing), so clients cost memory within the limits of grpcr.h, never a
 * thread. What to answer is decided from the method, the path and the
 * headers alone, and a request that carries a body is refused before any of
 * it is read (see on_request). A scrape renders one snapshot into a buffer
 * that libmicrohttpd sends and then frees. */
#define _POSIX_C_SOURCE 200809L

#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <microhttpd.h>

#include <grpc/support/log.h>

#include "addr.h"
#include "grpcr/grpcr.h"
#include "grpcr/metrics.h"
#include "internal.h"

/* ---- content negotiation ------------------------------------------------ */

/* The q of one media range's parameters (";q=0.5;version=..."), in
 * thousandths: 1000 when absent. Parsed by hand: strtod would follow the
 * process's locale. */
static int range_q(const char *params, const char *end) {
  const char *p = params;
  while (p < end) {
    while (p < end && (*p == ';' || *p == ' ' || *p == '\t')) p++;
    if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
      p += 2;
      if (p >= end || (*p != '0' && *p != '1')) return 0;
      int q = (*p++ - '0') * 1000;
      if (p < end && *p == '.') {
        p++;
        for (int scale = 100; scale > 0 && p < end && *p >= '0' && *p <= '9';
             scale /= 10)
          q += (*p++ - '0') * scale;
      }
      return q > 1000 ? 1000 : q;
    }
    while (p < end && *p != ';') p++;
  }
  return 1000;
}

/* true if the Accept header asks for OpenMetrics: it names
 * application/openmetrics-text (any version) with a q above 0 and at least
 * the q it gives text/plain, by name or through a wildcard range. So
 * Prometheus, which lists OpenMetrics first and text/plain at q=0.5, gets
 * OpenMetrics; curl, which accepts any type, gets text. */
static bool wants_openmetrics(const char *accept) {
  if (accept == NULL) return false;
  int q_om = 0, q_text = 0;
  const char *p = accept;
  while (*p != '\0') {
    const char *end = strchr(p, ',');
    if (end == NULL) end = p + strlen(p);
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    const char *type_end = p;
    while (type_end < end && *type_end != ';' && *type_end != ' ' &&
           *type_end != '\t')
      type_end++;
    size_t type_len = (size_t)(type_end - p);
    int q = range_q(type_end, end);
#define IS(s) (type_len == sizeof(s) - 1 && strncasecmp(p, s, type_len) == 0)
    if (IS("application/openmetrics-text")) {
      if (q > q_om) q_om = q;
    } else if (IS("text/plain") || IS("text/*") || IS("*/*")) {
      if (q > q_text) q_text = q;
    }
#undef IS
    p = *end == ',' ? end + 1 : end;
  }
  return q_om > 0 && q_om >= q_text;
}

/* ---- answers ------------------------------------------------------------ */

/* Queues a short text answer. */
static enum MHD_Result answer_text(struct MHD_Connection *c, unsigned status,
                                   const char *text, const char *allow) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
  if (r == NULL) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                          "text/plain; charset=utf-8");
  if (allow != NULL) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
  enum MHD_Result ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ok;
}

/* The exposition of every channel, in the format the client asked for. */
static enum MHD_Result answer_metrics(struct MHD_Connection *c) {
  bool om = wants_openmetrics(
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
  grpcr_channel_snapshot *snaps = NULL;
  size_t n = 0;
  char *body = NULL;
  size_t len = 0;
  int rc = grpcr_stats_get(NULL, &snaps, &n);
  if (rc == GRPCR_OK) {
    rc = om ? grpcr_metrics_openmetrics_text(snaps, n, &body, &len)
            : grpcr_metrics_prometheus_text(snaps, n, &body, &len);
    grpcr_channel_snapshots_free(snaps, n);
  }
  if (rc != GRPCR_OK)
    return answer_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                       "out of memory rendering the metrics\n", NULL);
  /* body came from open_memstream: free() is its deallocator. */
  struct MHD_Response *r =
      MHD_create_response_from_buffer_with_free_callback(len, body, free);
  if (r == NULL) {
    free(body);
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                          om ? GRPCR_METRICS_OPENMETRICS_CONTENT_TYPE
                             : GRPCR_METRICS_PROMETHEUS_CONTENT_TYPE);
  MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return ok;
}

/* true if the request announces a body (libmicrohttpd has read its headers
 * only). */
static bool has_body(struct MHD_Connection *c) {
  const char *te = MHD_lookup_connection_value(
      c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
  if (te != NULL) return true;
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
  return cl != NULL && strspn(cl, "0") != strlen(cl);
}

/* Whether a Host header names this machine: a loopback address or
 * "localhost" (any case), with or without a port. A web page can make a
 * browser on this machine send requests to a loopback port under a name it
 * controls (DNS rebinding); its Host is then that name, and it is refused.
 * A request without Host (HTTP/1.0) is no browser's. */
static bool host_is_loopback(const char *value) {
  if (value == NULL) return true;
  char host[256];
  const char *port;
  if (!grpcr_internal_addr_split(value, host, sizeof(host), &port))
    return false;
  if (port != NULL && (port[0] == '\0' || strspn(port, "0123456789") !=
                                              strlen(port)))
    return false;
  for (char *p = host; *p != '\0'; p++)
    if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
  if (value[0] != '[' && strchr(host, ':') != NULL) return false;
  return host[0] != '\0' && grpcr_internal_is_loopback_host(host);
}

/* Marks a request that is to be answered with the metrics once it has been
 * received whole (its con_cls). */
static int g_scrape_marker;

/* A request is refused in the handler's first call, once its headers are
 * in: libmicrohttpd then reads no more of it (no body) and closes the
 * connection after the answer. A scrape is answered in the next call, when
 * the request is complete, so its connection can stay open for the next
 * scrape. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  const bool loopback_only = *(const bool *)cls;
  (void)version;
  (void)upload_data;
  if (*con_cls == &g_scrape_marker) {
    *upload_data_size = 0; /* none is expected: has_body said so */
    return answer_metrics(c);
  }
  if (loopback_only &&
      !host_is_loopback(
          MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)))
    return answer_text(c, MHD_HTTP_FORBIDDEN,
                       "forbidden: this endpoint listens on loopback and "
                       "answers only Host: localhost or a loopback address\n",
                       NULL);
  if (strcmp(url, "/metrics") != 0)
    return answer_text(c, MHD_HTTP_NOT_FOUND,
                       "not found: this server serves only /metrics\n", NULL);
  if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
      strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
    return answer_text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                       "method not allowed: use GET or HEAD\n", "GET, HEAD");
  if (has_body(c))
    return answer_text(c, MHD_HTTP_CONTENT_TOO_LARGE,
                       "a scrape has no request body\n", NULL);
  *con_cls = &g_scrape_marker;
  return MHD_YES;
}

/* ---- logging ------------------------------------------------------------ */

/* libmicrohttpd's messages. While start runs they are kept for its one error
 * line; afterwards (a client's broken request, a refused connection) they
 * go to gpr_log at INFO, at most one a second, so a flood of bad clients
 * cannot flood the log. */
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static bool g_log_starting;          /* guarded by g_log_mu */
static char g_log_start_error[256];  /* guarded by g_log_mu */
static _Atomic int64_t g_log_last_ns = INT64_MIN;

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[256];
  vsnprintf(msg, sizeof(msg), fmt, ap);
  size_t len = strlen(msg);
  while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
    msg[--len] = '\0';
  pthread_mutex_lock(&g_log_mu);
  bool starting = g_log_starting;
  if (starting) memcpy(g_log_start_error, msg, len + 1);
  pthread_mutex_unlock(&g_log_mu);
  if (starting) return;
  int64_t now = grpcr_internal_now_ns();
  int64_t last = atomic_load(&g_log_last_ns);
  if (last != INT64_MIN && now - last < 1000000000) return;
  if (!atomic_compare_exchange_strong(&g_log_last_ns, &last, now)) return;
  gpr_log(GPR_INFO, "grpcr metrics: %s", msg);
}

/* ---- the address -------------------------------------------------------- */

typedef struct {
  struct sockaddr_storage ss;
  bool v6;
  bool loopback; /* bound to a loopback address: Host is checked */
  bool dual_stack; /* an empty host: every interface, IPv6 and IPv4 */
} listen_addr;

/* A decimal port, 0 to 65535. */
static bool parse_port(const char *s, uint16_t *out) {
  if (s == NULL || *s == '\0' || strlen(s) > 5 ||
      strspn(s, "0123456789") != strlen(s))
    return false;
  long v = strtol(s, NULL, 10);
  if (v > 65535) return false;
  *out = (uint16_t)v;
  return true;
}

static void set_v4(listen_addr *a, const struct in_addr *ip, uint16_t port) {
  struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  sin->sin_addr = *ip;
  a->v6 = false;
}

static void set_v6(listen_addr *a, const struct in6_addr *ip, uint16_t port) {
  /* A v4-mapped address binds as plain IPv4: libmicrohttpd makes IPv6
   * sockets v6-only. */
  if (IN6_IS_ADDR_V4MAPPED(ip)) {
    struct in_addr v4;
    memcpy(&v4, &ip->s6_addr[12], 4);
    set_v4(a, &v4, port);
    return;
  }
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  sin6->sin6_addr = *ip;
  a->v6 = true;
}

/* Parses addr into *out under the loopback rule. Returns 0, GRPCR_EINVAL or
 * GRPCR_EINSECURE, having logged why. */
static int resolve(const char *addr, int flags, listen_addr *out) {
  memset(out, 0, sizeof(*out));
  char host[256];
  const char *port_s;
  uint16_t port;
  if (!grpcr_internal_addr_split(addr, host, sizeof(host), &port_s) ||
      !parse_port(port_s, &port) ||
      (addr[0] != '[' && strchr(host, ':') != NULL) ||
      (addr[0] == '[' && host[0] == '\0')) {
    gpr_log(GPR_ERROR,
            "grpcr metrics: bad address \"%s\": want host:port, such as "
            "127.0.0.1:9464, [::1]:9464 or localhost:0",
            addr);
    return GRPCR_EINVAL;
  }
  if (!grpcr_internal_is_loopback_host(host) &&
      (flags & GRPCR_METRICS_HTTP_ANY_ADDRESS) == 0) {
    gpr_log(GPR_ERROR,
            "grpcr metrics: refusing to serve /metrics on %s: it would expose "
            "channel names and targets beyond this machine without TLS; use "
            "a loopback address or pass GRPCR_METRICS_HTTP_ANY_ADDRESS",
            addr);
    return GRPCR_EINSECURE;
  }
  struct in_addr v4;
  struct in6_addr v6;
  if (strcmp(host, "localhost") == 0) {
    v4.s_addr = htonl(INADDR_LOOPBACK);
    set_v4(out, &v4, port);
  } else if (host[0] == '\0') {
    set_v6(out, &in6addr_any, port);
    out->dual_stack = true;
  } else if (addr[0] != '[' && inet_pton(AF_INET, host, &v4) == 1) {
    set_v4(out, &v4, port);
  } else if (addr[0] == '[' && inet_pton(AF_INET6, host, &v6) == 1) {
    set_v6(out, &v6, port);
  } else if (addr[0] == '[') {
    gpr_log(GPR_ERROR, "grpcr metrics: bad address \"%s\": not an IPv6 address",
            addr);
    return GRPCR_EINVAL;
  } else {
    /* A host name, allowed by the flag: its first address. */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    int gai = getaddrinfo(host, NULL, &hints, &res);
    if (gai != 0 || res == NULL) {
      gpr_log(GPR_ERROR, "grpcr metrics: cannot resolve \"%s\": %s", host,
              gai_strerror(gai));
      if (res != NULL) freeaddrinfo(res);
      return GRPCR_EINVAL;
    }
    if (res->ai_family == AF_INET)
      set_v4(out, &((struct sockaddr_in *)res->ai_addr)->sin_addr, port);
    else
      set_v6(out, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, port);
    freeaddrinfo(res);
  }
  /* Bound to a loopback address, however it was named. */
  char ip[INET6_ADDRSTRLEN];
  if (out->v6)
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&out->ss)->sin6_addr, ip,
              sizeof(ip));
  else
    inet_ntop(AF_INET, &((struct sockaddr_in *)&out->ss)->sin_addr, ip,
              sizeof(ip));
  out->loopback = !out->dual_stack && grpcr_internal_is_loopback_host(ip);
  return GRPCR_OK;
}

/* ---- start and stop ----------------------------------------------------- */

/* Start and stop hold the lock throughout, so they never interleave. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct MHD_Daemon *g_daemon;

/* The running daemon's Host rule (on_request's cls): set before it starts,
 * read only by its threads. */
static bool g_loopback_only;

static struct MHD_Daemon *start_daemon(listen_addr *a) {
  unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
  flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES
               ? MHD_USE_EPOLL
               : MHD_USE_POLL;
  if (a->v6) flags |= a->dual_stack ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
  uint16_t port = a->v6 ? ntohs(((struct sockaddr_in6 *)&a->ss)->sin6_port)
                        : ntohs(((struct sockaddr_in *)&a->ss)->sin_port);
  return MHD_start_daemon(
      flags, port, NULL, NULL, on_request, &g_loopback_only,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a->ss,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)GRPCR_METRICS_HTTP_THREADS,
      MHD_OPTION_CONNECTION_LIMIT,
      (unsigned int)GRPCR_METRICS_HTTP_MAX_CONNECTIONS,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      (unsigned int)GRPCR_METRICS_HTTP_MAX_CONNECTIONS_PER_IP,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)GRPCR_METRICS_HTTP_TIMEOUT_S,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      (size_t)GRPCR_METRICS_HTTP_CONNECTION_MEMORY_BYTES,
      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
}

int grpcr_metrics_http_start(const char *addr, int flags, int *bound_port) {
  if (addr == NULL || (flags & ~GRPCR_METRICS_HTTP_ANY_ADDRESS) != 0) {
    gpr_log(GPR_ERROR, "grpcr metrics: %s",
            addr == NULL ? "no address given" : "unknown flags");
    return GRPCR_EINVAL;
  }
  listen_addr a;
  int rc = resolve(addr, flags, &a);
  if (rc != GRPCR_OK) return rc;
  pthread_mutex_lock(&g_mu);
  if (g_daemon != NULL) {
    pthread_mutex_unlock(&g_mu);
    return GRPCR_EBUSY;
  }
  pthread_mutex_lock(&g_log_mu);
  g_log_starting = true;
  g_log_start_error[0] = '\0';
  pthread_mutex_unlock(&g_log_mu);
  g_loopback_only = a.loopback;
  struct MHD_Daemon *d = start_daemon(&a);
  if (d == NULL && a.dual_stack) {
    /* No IPv6 on this machine: every IPv4 interface. */
    uint16_t port = ntohs(((struct sockaddr_in6 *)&a.ss)->sin6_port);
    struct in_addr any = {htonl(INADDR_ANY)};
    memset(&a, 0, sizeof(a));
    set_v4(&a, &any, port);
    d = start_daemon(&a);
  }
  pthread_mutex_lock(&g_log_mu);
  g_log_starting = false;
  if (d == NULL)
    gpr_log(GPR_ERROR, "grpcr metrics: cannot listen on %s: %s", addr,
            g_log_start_error[0] != '\0' ? g_log_start_error
                                         : "libmicrohttpd refused to start");
  pthread_mutex_unlock(&g_log_mu);
  if (d == NULL) {
    pthread_mutex_unlock(&g_mu);
    return GRPCR_EBIND;
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  if (bound_port != NULL) *bound_port = info != NULL ? info->port : 0;
  g_daemon = d;
  pthread_mutex_unlock(&g_mu);
  return GRPCR_OK;
}

void grpcr_metrics_http_stop(void) {
  pthread_mutex_lock(&g_mu);
  if (g_daemon != NULL) {
    MHD_stop_daemon(g_daemon);
    g_daemon = NULL;
  }
  pthread_mutex_unlock(&g_mu);
}
