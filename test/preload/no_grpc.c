/* A program that never uses gRPC: prints the shared objects mapped into it
 * (from /proc/self/maps), one path per line, so the preload test can check
 * that the preload loaded nothing beyond itself. */
#include <stdio.h>
#include <string.h>

int main(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) return 1;
  char line[4096], last[4096] = "";
  while (fgets(line, sizeof line, f)) {
    char *path = strchr(line, '/');
    if (!path || !strstr(path, ".so")) continue;
    if (strcmp(path, last) == 0) continue;
    snprintf(last, sizeof last, "%s", path);
    fputs(path, stdout);
  }
  fclose(f);
  return 0;
}
