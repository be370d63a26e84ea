/* grpcr-stats: the GetStats call over gRPC's C API, and the one-line reason
 * when it fails. */
#include <stdio.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/status.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "grpcr/grpcr.h"
#include "grpcr/status.h"
#include "stats_cli.h"

void stats_client_init(stats_client *c, const char *addr) {
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  c->channel = grpc_channel_create(addr, creds, NULL);
  grpc_channel_credentials_release(creds);
  c->cq = grpc_completion_queue_create_for_pluck(NULL);
}

void stats_client_destroy(stats_client *c) {
  grpc_channel_destroy(c->channel);
  grpc_completion_queue_shutdown(c->cq);
  while (grpc_completion_queue_pluck(c->cq, NULL,
                                     gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
             .type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(c->cq);
}

/* Replaces control characters, so that gRPC's details stay on one line. */
static void one_line(char *s) {
  for (; *s != '\0'; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = ' ';
}

/* The error line for a failed call, without the program name. */
static void describe_failure(char *buf, size_t len, const char *addr,
                             grpc_status_code code, const char *details,
                             long timeout_ms) {
  const char *name = grpcr_status_name((int)code);
  if (name == NULL) name = "UNKNOWN";
  const char *d = details[0] != '\0' ? details : "no details";
  switch (code) {
    case GRPC_STATUS_UNAVAILABLE:
      snprintf(buf, len, "cannot reach %s: %s (%s)", addr, name, d);
      break;
    case GRPC_STATUS_UNIMPLEMENTED:
      snprintf(buf, len,
               "%s does not serve " GRPCR_STATS_SERVICE_NAME ": %s (%s)",
               addr, name, d);
      break;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
      snprintf(buf, len, "no answer from %s within %ld ms: %s (%s)", addr,
               timeout_ms, name, d);
      break;
    default:
      snprintf(buf, len, "GetStats on %s failed: %s (%s)", addr, name, d);
      break;
  }
}

stats_response *stats_fetch(stats_client *c, const char *addr,
                            const char *channel_name, long timeout_ms,
                            char *err, size_t err_len) {
  Grpcr__V1__GetStatsRequest req = GRPCR__V1__GET_STATS_REQUEST__INIT;
  if (channel_name != NULL) req.channel_name = (char *)channel_name;
  size_t req_len = grpcr__v1__get_stats_request__get_packed_size(&req);
  grpc_slice req_slice = grpc_slice_malloc(req_len);
  grpcr__v1__get_stats_request__pack(&req, GRPC_SLICE_START_PTR(req_slice));
  grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&req_slice, 1);
  grpc_slice_unref(req_slice);

  gpr_timespec deadline =
      gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                   gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
  grpc_slice method =
      grpc_slice_from_static_string(GRPCR_STATS_GET_STATS_METHOD);
  grpc_call *call =
      grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
                               c->cq, method, NULL, deadline, NULL);

  grpc_metadata_array initial_md, trailing_md;
  grpc_metadata_array_init(&initial_md);
  grpc_metadata_array_init(&trailing_md);
  grpc_byte_buffer *recv = NULL;
  grpc_status_code status = GRPC_STATUS_UNKNOWN;
  grpc_slice details = grpc_empty_slice();
  grpc_op ops[6];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = send;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &recv;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
  ops[5].data.recv_status_on_client.status = &status;
  ops[5].data.recv_status_on_client.status_details = &details;

  stats_response *resp = NULL;
  grpc_call_error rc = grpc_call_start_batch(call, ops, 6, call, NULL);
  if (rc != GRPC_CALL_OK) {
    snprintf(err, err_len, "cannot start the call to %s (error %d)", addr,
             (int)rc);
  } else {
    grpc_completion_queue_pluck(c->cq, call,
                                gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (status != GRPC_STATUS_OK) {
      char *d = grpc_slice_to_c_string(details);
      one_line(d);
      describe_failure(err, err_len, addr, status, d, timeout_ms);
      gpr_free(d);
    } else if (recv == NULL) {
      snprintf(err, err_len, "%s answered GetStats without a message",
               addr);
    } else {
      grpc_byte_buffer_reader reader;
      if (grpc_byte_buffer_reader_init(&reader, recv)) {
        grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
        grpc_byte_buffer_reader_destroy(&reader);
        resp = grpcr__v1__get_stats_response__unpack(
            NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
        grpc_slice_unref(all);
      }
      if (resp == NULL)
        snprintf(err, err_len,
                 "%s answered GetStats with an undecodable message",
                 addr);
    }
  }
  grpc_slice_unref(details);
  grpc_metadata_array_destroy(&initial_md);
  grpc_metadata_array_destroy(&trailing_md);
  if (recv != NULL) grpc_byte_buffer_destroy(recv);
  grpc_byte_buffer_destroy(send);
  grpc_call_unref(call);
  return resp;
}

void stats_response_free(stats_response *r) {
  grpcr__v1__get_stats_response__free_unpacked(r, NULL);
}
