-- GET /healthz as a (very eager) load balancer would probe it: health.lua, but
-- one request per connection every 10 ms at most, so the probe measures latency
-- without itself taking the CPU that the load under test needs.
dofile("health.lua")

function delay()
  return 10
end
