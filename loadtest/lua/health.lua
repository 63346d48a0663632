-- GET /healthz: the framework + server floor (no database session, no auth).
local common = dofile("common.lua")

local req

function init(args)
  req = wrk.format("GET", "/healthz", { ["User-Agent"] = "quart-blog-loadtest" })
end

function request()
  return req
end

function response(status, headers, body)
  common.count_status(status)
end
