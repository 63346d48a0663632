-- GET /healthz as a load balancer would probe it: health.lua, but one request per
-- connection every INTERVAL ms (the first argument after "--", default 100; 0 asks
-- flat out), so the probe measures latency without itself taking much of the CPU
-- that the load under test needs.
dofile("health.lua")

local interval = 100
local health_init = init

function init(args)
  health_init(args)
  interval = tonumber(args and args[1]) or interval
end

function delay()
  return interval
end
