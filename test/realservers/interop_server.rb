# Runs gRPC's own Ruby interop server, as Debian's ruby-grpc ships it,
# unchanged, for test/integration/real_servers_test.cc:
#   ruby interop_server.rb [PATH/TO/pb/test/server.rb]
# (default: <gem dir>/src/ruby/pb/test/server.rb of the grpc gem that
# `require 'grpc'` loads). That script sets up its own load path (the
# gem's src/ruby/lib and src/ruby/pb) and takes --port; it listens on
# 0.0.0.0 and prints nothing. This wrapper only makes it fit the other
# servers here: it binds 127.0.0.1 on a free port, prints "PORT <n>"
# first, and exits when stdin closes. (On SIGTERM the script itself stops
# its server, and ruby-grpc 1.51 then aborts on a completion-queue
# assertion: close stdin instead.)
#
# Its /grpc.testing.TestService/UnaryCall fails with SimpleRequest's
# response_status when set, and echoes the client's
# x-grpc-test-echo-initial header as response headers.
require 'grpc'

# add_http2_port, on loopback, reporting the port bound.
module LoopbackReportingPort
  def add_http2_port(host, creds)
    port = super(host.sub(/\A0\.0\.0\.0:/, '127.0.0.1:'), creds)
    puts "PORT #{port}"
    $stdout.flush
    port
  end
end
GRPC::RpcServer.prepend(LoopbackReportingPort)

script = ARGV[0] ||
         File.join(Gem.loaded_specs.fetch('grpc').full_gem_path,
                   'src/ruby/pb/test/server.rb')
Thread.new do
  $stdin.read # returns at EOF: the test closed our stdin
  exit!(0)
end
ARGV.replace(['--port', '0'])
load script
