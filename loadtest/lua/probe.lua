-- GET /healthz as a load balancer would probe it: health.lua, but one request per
-- connection every INTERVAL ms (the first argument after "--", default 100; 0 asks
-- flat out), so the probe measures latency without itself taking much of the CPU
-- that the load under test needs.
--
-- Each answered probe is also kept in "samples" (common.lua) as the wall-clock second
-- it was answered and its latency in ms, for bench.py's latency-over-time chart. It is
-- timed from request() to response(), which pair up only with one connection per
-- thread (bench.py runs 2 threads of 1), on a sub-second clock from LuaJIT's ffi
-- (without ffi nothing is kept). Unlike wrk's percentiles, this keeps probes that took
-- longer than --timeout.
dofile("health.lua")

local interval = 100
local health_init, health_request, health_response = init, request, response
local sent_at = nil

-- Wall-clock seconds (CLOCK_REALTIME, as Python's time.time()); nil without ffi.
local function wall_clock()
  local ok, ffi = pcall(require, "ffi")
  if not ok then
    return nil
  end
  ffi.cdef("typedef struct { long tv_sec; long tv_nsec; } probe_timespec;"
    .. " int clock_gettime(int clk_id, probe_timespec *tp);")
  local ts = ffi.new("probe_timespec")
  return function()
    ffi.C.clock_gettime(0, ts)
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
  end
end

local now = wall_clock()

function init(args)
  health_init(args)
  interval = tonumber(args and args[1]) or interval
end

function delay()
  return interval
end

function request()
  if now then
    sent_at = now()
  end
  return health_request()
end

function response(status, headers, body)
  health_response(status, headers, body)
  if sent_at then
    local t = now()
    samples[#samples + 1] = t
    samples[#samples + 1] = (t - sent_at) * 1000
    sent_at = nil
  end
end
