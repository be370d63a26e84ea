/* The loopback rule for the library's listeners (addr.h). */
#define _POSIX_C_SOURCE 200809L

#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

bool grpcr_internal_addr_split(const char *addr, char *host,
                               size_t host_size, const char **port) {
  const char *end;
  size_t n;
  *port = NULL;
  if (*addr == '[') {
    end = strchr(addr, ']');
    if (end == NULL) return false;
    n = (size_t)(end - addr - 1);
    if (n >= host_size) return false;
    memcpy(host, addr + 1, n);
    if (end[1] == ':') *port = end + 2;
  } else {
    end = strrchr(addr, ':');
    n = end != NULL ? (size_t)(end - addr) : strlen(addr);
    if (n >= host_size) return false;
    memcpy(host, addr, n);
    if (end != NULL) *port = end + 1;
  }
  host[n] = '\0';
  return true;
}

bool grpcr_internal_is_loopback_host(const char *host) {
  if (strcmp(host, "localhost") == 0) return true;
  struct in_addr v4;
  if (inet_pton(AF_INET, host, &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  struct in6_addr v6;
  if (inet_pton(AF_INET6, host, &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

bool grpcr_internal_addr_bindable(const char *addr, char *out,
                                  size_t out_size) {
  char host[256];
  const char *port;
  int n;
  if (addr[0] != '[' && strncmp(addr, "unix", 4) != 0 &&
      grpcr_internal_addr_split(addr, host, sizeof(host), &port) &&
      strcmp(host, "localhost") == 0 && port != NULL) {
    n = snprintf(out, out_size, "127.0.0.1:%s", port);
  } else {
    n = snprintf(out, out_size, "%s", addr);
  }
  return n >= 0 && (size_t)n < out_size;
}

bool grpcr_internal_is_loopback_address(const char *addr) {
  if (strncmp(addr, "unix:", 5) == 0 ||
      strncmp(addr, "unix-abstract:", 14) == 0)
    return true;
  char host[256];
  const char *port;
  return grpcr_internal_addr_split(addr, host, sizeof(host), &port) &&
         grpcr_internal_is_loopback_host(host);
}
