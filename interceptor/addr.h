/* Listening addresses as the library's servers take them ("host:port",
 * "[v6]:port", "unix:/path"), and the rule for which of them only this
 * machine can reach. Shared by the stats server and the /metrics endpoint,
 * so both refuse the same addresses. Never installed. Thread-safe: no
 * shared state. */
#ifndef GRPCR_INTERCEPTOR_ADDR_H
#define GRPCR_INTERCEPTOR_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Splits addr into its host, copied NUL-terminated into host (the inside of
 * the brackets for "[v6]:port"), and *port: what follows the separating
 * ':' (NULL if there is none). Without brackets the last ':' separates, so
 * ":9000" has an empty host. Returns false if the host does not fit in
 * host_size bytes or a '[' has no ']'; host is then unspecified. */
bool grpcr_internal_addr_split(const char *addr, char *host,
                               size_t host_size, const char **port);

/* true if host names this machine only: a loopback IP (127.0.0.0/8, ::1,
 * ::ffff:127.x.y.z) or "localhost". An empty host or a wildcard binds every
 * interface and is false, as is any other name. */
bool grpcr_internal_is_loopback_host(const char *host);

/* true if only this machine can reach the server address addr: a Unix
 * socket ("unix:", "unix-abstract:") or a loopback host as above. */
bool grpcr_internal_is_loopback_address(const char *addr);

/* addr with a "localhost" host replaced by 127.0.0.1 ("localhost:0" ->
 * "127.0.0.1:0"), written to out; any other addr is copied as it is. Both
 * listeners bind localhost this way, without the resolver (a minimal image
 * may have no /etc/hosts). false if out is too small. */
bool grpcr_internal_addr_bindable(const char *addr, char *out,
                                  size_t out_size);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_INTERCEPTOR_ADDR_H */
