/* One unary call of /echo.Echo/Say with a 5 s deadline, printed as
 * "call <i>: <code> <details>": shared by the preload test's programs, which
 * are built without grpc-resilience. */
#ifndef GRPCR_TEST_PRELOAD_UNARY_CALL_H
#define GRPCR_TEST_PRELOAD_UNARY_CALL_H

#include <stdio.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

/* 1 if the call ended OK. */
static inline int call_once(grpc_channel *ch, grpc_completion_queue *cq, int i) {
  gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                       gpr_time_from_seconds(5, GPR_TIMESPAN));
  grpc_slice method = grpc_slice_from_static_string("/echo.Echo/Say");
  grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS,
                                             cq, method, NULL, deadline, NULL);
  grpc_slice payload = grpc_slice_from_static_string("hello");
  grpc_byte_buffer *req = grpc_raw_byte_buffer_create(&payload, 1);
  grpc_byte_buffer *resp = NULL;
  grpc_metadata_array initial, trailing;
  grpc_metadata_array_init(&initial);
  grpc_metadata_array_init(&trailing);
  grpc_status_code status = GRPC_STATUS_UNKNOWN;
  grpc_slice details = grpc_empty_slice();
  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = req;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &resp;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.status = &status;
  ops[5].data.recv_status_on_client.status_details = &details;
  ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
  int got = 0;
  if (grpc_call_start_batch(call, ops, 6, (void *)1, NULL) == GRPC_CALL_OK) {
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    got = ev.type == GRPC_OP_COMPLETE;
  }
  char *text = grpc_slice_to_c_string(details);
  printf("call %d: %d %s\n", i, got ? (int)status : -1, text);
  fflush(stdout);
  gpr_free(text);
  grpc_slice_unref(details);
  grpc_metadata_array_destroy(&initial);
  grpc_metadata_array_destroy(&trailing);
  grpc_byte_buffer_destroy(req);
  if (resp) grpc_byte_buffer_destroy(resp);
  grpc_call_unref(call);
  return got && status == GRPC_STATUS_OK;
}

/* CALLS calls on ch, then "ok <n> of <calls>"; returns n. */
static inline int call_many(grpc_channel *ch, int calls) {
  grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
  int ok = 0;
  for (int i = 0; i < calls; i++) ok += call_once(ch, cq, i);
  printf("ok %d of %d\n", ok, calls);
  fflush(stdout);
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
             .type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
  return ok;
}

#endif /* GRPCR_TEST_PRELOAD_UNARY_CALL_H */
