-- GET /api/v1/posts?limit=20 with an API token (Authorization: Bearer), each request as the
-- next seeded user's token in turn: the read scenario without cookies (bench.py token-read).
local common = dofile("common.lua")

local reqs = {}
local idx = 0

function init(args)
  local users = common.load_users(args)
  for i, user in ipairs(users) do
    reqs[i] = wrk.format("GET", "/api/v1/posts?limit=20", {
      ["Authorization"] = "Bearer " .. user.token,
      ["Accept"] = "application/json",
      ["User-Agent"] = "quart-blog-loadtest",
    })
  end
  idx = common.first_index(#reqs)
end

function request()
  idx = idx % #reqs + 1
  return reqs[idx]
end

function response(status, headers, body)
  common.count_status(status)
end
