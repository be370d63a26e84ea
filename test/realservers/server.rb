# A gRPC server on Debian's ruby-grpc (GRPC::RpcServer), for
# test/integration/real_servers_test.cc.
#   ruby server.rb PORT        (0: any free port)
# Prints "PORT <n>" once listening on 127.0.0.1; exits when stdin closes or
# on SIGTERM. No protobuf: requests and replies are raw bytes, and the
# request payload picks what /echo.Echo/Say does:
#   ok:<tag>            OK, echoing the payload
#   fail:<tag>          UNAVAILABLE at once, no metadata of its own first
#                       (but RpcServer sends a failing status after the
#                       call's initial metadata, in a batch of its own:
#                       empty response headers, never Trailers-Only)
#   fail-headers:<tag>  sends initial metadata (x-request-id) first, THEN
#                       fails UNAVAILABLE
#   slow-first:<tag>    the first arrival with this tag answers OK after 3 s,
#                       every later one at once (a hedge overtakes the first)
# /echo.Echo/Count takes a tag and answers the number of Say arrivals with
# that tag so far (every attempt counts), in decimal.
require 'grpc'

# Raw bytes both ways: the server unmarshals a request with Raw.unmarshal and
# marshals a reply with reply.class.marshal(reply).
class Raw < String
  def self.marshal(s)
    s.to_s
  end

  def self.unmarshal(s)
    s
  end
end

# /echo.Echo/Say and /echo.Echo/Count.
class Echo
  include GRPC::GenericService
  self.service_name = 'echo.Echo'
  rpc :Say, Raw, Raw
  rpc :Count, Raw, Raw

  def initialize
    @counts = Hash.new(0) # tag -> Say arrivals
    @lock = Mutex.new
  end

  def say(req, call)
    mode, _, tag = req.partition(':')
    n = @lock.synchronize { @counts[tag] += 1 }
    case mode
    when 'fail-headers'
      # The headers go out in their own batch, before the status.
      call.send_initial_metadata('x-request-id' => "rb-#{n}")
      raise GRPC::Unavailable, 'ruby says no'
    when 'fail'
      raise GRPC::Unavailable, 'ruby says no'
    when 'slow-first'
      sleep 3 if n == 1
    end
    Raw.new(req)
  end

  def count(req, _call)
    Raw.new(@lock.synchronize { @counts[req] }.to_s)
  end
end

server = GRPC::RpcServer.new
port = server.add_http2_port("127.0.0.1:#{Integer(ARGV[0])}",
                             :this_port_is_insecure)
server.handle(Echo.new)
Thread.new { server.run }
server.wait_till_running
puts "PORT #{port}"
$stdout.flush
trap('TERM') { exit!(0) }
$stdin.read # returns at EOF: the test closed our stdin
exit!(0)
