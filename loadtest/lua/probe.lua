-- GET /healthz as a (very eager) load balancer would probe it: one request per
-- connection every 10 ms at most, so the probe measures latency without itself
-- taking the CPU that the load under test needs.
local common = dofile("common.lua")

local req

function init(args)
  req = wrk.format("GET", "/healthz", { ["User-Agent"] = "quart-blog-loadtest-probe" })
end

function request()
  return req
end

function delay()
  return 10
end

function response(status, headers, body)
  common.count_status(status)
end
