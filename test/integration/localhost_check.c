/* localhost_check: starts the stats server and the /metrics endpoint on
 * "localhost:0" and connects to each on 127.0.0.1. Run by
 * stats_server_hardening_test in a mount namespace whose /etc/hosts is
 * empty, as on a minimal image: neither listener may need the resolver.
 * Prints "stats <rc> <connected>" and "metrics <rc> <connected>"; exits 0
 * if both started and accepted a connection. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpc/grpc.h>

#include "grpcr/grpcr.h"

static int connects(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)port);
  int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  if (fd >= 0) close(fd);
  return ok;
}

int main(void) {
  grpc_init();
  int stats_port = 0, metrics_port = 0;
  int stats_rc = grpcr_stats_server_start("localhost:0", &stats_port);
  int metrics_rc = grpcr_metrics_http_start("localhost:0", 0, &metrics_port);
  int stats_ok = stats_rc == 0 && connects(stats_port);
  int metrics_ok = metrics_rc == 0 && connects(metrics_port);
  printf("stats %d %d\nmetrics %d %d\n", stats_rc, stats_ok, metrics_rc,
         metrics_ok);
  grpcr_metrics_http_stop();
  grpcr_stats_server_stop();
  grpc_shutdown();
  return stats_ok && metrics_ok ? 0 : 1;
}
