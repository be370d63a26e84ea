// A gRPC server on grpc-js (Node), for test/integration/real_servers_test.cc.
//   node server.js PORT        (0: any free port)
// Prints "PORT <n>" once listening on 127.0.0.1; exits when stdin closes or
// on SIGTERM. No protobuf: requests and replies are raw bytes (identity
// serializers), and the request payload picks what /echo.Echo/Say does:
//   ok:<tag>            OK, echoing the payload
//   fail:<tag>          UNAVAILABLE at once, no metadata first
//                       (grpc-js sends a Trailers-Only response)
//   fail-headers:<tag>  sends initial metadata (x-request-id) first, THEN
//                       fails UNAVAILABLE
//   slow-first:<tag>    the first arrival with this tag answers OK after 3 s,
//                       every later one at once (a hedge overtakes the first)
// /echo.Echo/Count takes a tag and answers the number of Say arrivals with
// that tag so far (every attempt counts), in decimal.
'use strict';
const grpc = require('@grpc/grpc-js');

const counts = new Map();  // tag -> Say arrivals

function tagOf(payload) {  // "mode:tag" -> "tag"
  const i = payload.indexOf(':');
  return i < 0 ? payload : payload.slice(i + 1);
}

function unary(path) {
  const identity = (b) => b;
  return {
    path, requestStream: false, responseStream: false,
    requestSerialize: identity, requestDeserialize: identity,
    responseSerialize: identity, responseDeserialize: identity,
  };
}

const service = {
  Say: unary('/echo.Echo/Say'),
  Count: unary('/echo.Echo/Count'),
};

const handlers = {
  Say(call, callback) {
    const payload = call.request.toString('latin1');
    const tag = tagOf(payload);
    counts.set(tag, (counts.get(tag) || 0) + 1);
    const unavailable = {
      code: grpc.status.UNAVAILABLE,
      details: 'grpc-js says no',
    };
    if (payload.startsWith('fail-headers:')) {
      const md = new grpc.Metadata();
      md.set('x-request-id', 'js-' + counts.get(tag));
      call.sendMetadata(md);  // response headers go out now...
      callback(unavailable);  // ...and the status after them
    } else if (payload.startsWith('fail:')) {
      callback(unavailable);
    } else if (payload.startsWith('slow-first:') && counts.get(tag) === 1) {
      setTimeout(() => callback(null, call.request), 3000);
    } else {
      callback(null, call.request);
    }
  },
  Count(call, callback) {
    const tag = call.request.toString('latin1');
    callback(null, Buffer.from(String(counts.get(tag) || 0)));
  },
};

const server = new grpc.Server();
server.addService(service, handlers);
const address = `127.0.0.1:${Number(process.argv[2] || 0)}`;
const credentials = grpc.ServerCredentials.createInsecure();
server.bindAsync(address, credentials, (err, port) => {
  if (err) {
    console.error(`bind failed: ${err.message}`);
    process.exit(1);
  }
  process.stdout.write(`PORT ${port}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
