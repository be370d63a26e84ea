/* Uses the channel that libpreload_ctor_channel.so created in its
 * constructor: ctor_client CALLS (with CTOR_TARGET set). */
#include <stdio.h>
#include <stdlib.h>

int ctor_channel_calls(int calls);

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: CTOR_TARGET=ADDR ctor_client CALLS\n");
    return 2;
  }
  return ctor_channel_calls(atoi(argv[1])) < 0 ? 1 : 0;
}
