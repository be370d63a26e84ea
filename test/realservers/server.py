"""A gRPC server on Debian's python3-grpcio, for real_servers_test.cc.

    /usr/bin/python3 server.py PORT        (0: any free port)

Prints "PORT <n>" once listening on 127.0.0.1; exits when stdin closes or on
SIGTERM. No protobuf: a generic handler without serializers sees raw bytes,
and the request payload picks what /echo.Echo/Say does:
  ok:<tag>            OK, echoing the payload
  fail:<tag>          UNAVAILABLE at once, no metadata first
  fail-headers:<tag>  sends initial metadata (x-request-id) first, THEN fails
                      UNAVAILABLE
  slow-first:<tag>    the first arrival with this tag answers OK after 3 s,
                      every later one at once (a hedge overtakes the first)
/echo.Echo/Count takes a tag and answers the number of Say arrivals with that
tag so far (every attempt counts), in decimal.
"""
import signal
import sys
import threading
import time
from concurrent import futures

import grpc

counts = {}  # tag -> Say arrivals
lock = threading.Lock()


def say(request, context):
    mode, _, tag = request.partition(b":")
    with lock:
        counts[tag] = counts.get(tag, 0) + 1
        n = counts[tag]
    if mode == b"fail-headers":
        # The headers go out in their own batch, before the status.
        context.send_initial_metadata((("x-request-id", "py-%d" % n),))
        context.abort(grpc.StatusCode.UNAVAILABLE, "python says no")
    if mode == b"fail":
        context.abort(grpc.StatusCode.UNAVAILABLE, "python says no")
    if mode == b"slow-first" and n == 1:
        time.sleep(3)
    return request


def count(request, context):
    with lock:
        return str(counts.get(request, 0)).encode()


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "echo.Echo", {
            "Say": grpc.unary_unary_rpc_method_handler(say),
            "Count": grpc.unary_unary_rpc_method_handler(count),
        }),))
    port = server.add_insecure_port("127.0.0.1:%d" % int(sys.argv[1]))
    server.start()
    print("PORT %d" % port, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        sys.stdin.read()  # returns at EOF: the test closed our stdin
    finally:
        server.stop(None)


if __name__ == "__main__":
    main()
