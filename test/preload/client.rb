# A Ruby client on Debian's ruby-grpc (which links the system's
# libgrpc.so.29), knowing nothing of grpc-resilience:
#   ruby client.rb TARGET CALLS
# Calls /echo.Echo/Say with raw string payloads and prints, as the C
# clients do, "call <i>: <code> <details>" then "ok <n> of <CALLS>".
require 'grpc'

target, calls = ARGV[0], Integer(ARGV[1])
stub = GRPC::ClientStub.new(target, :this_channel_is_insecure)
identity = proc { |s| s }
ok = 0
calls.times do |i|
  begin
    stub.request_response('/echo.Echo/Say', 'hello', identity, identity,
                          deadline: Time.now + 5)
    puts "call #{i}: 0 "
    ok += 1
  rescue GRPC::BadStatus => e
    puts "call #{i}: #{e.code} #{e.details}"
  end
  $stdout.flush
end
puts "ok #{ok} of #{calls}"
$stdout.flush
hold = ENV['PLAIN_CLIENT_HOLD_MS']
sleep(Integer(hold) / 1000.0) if hold
