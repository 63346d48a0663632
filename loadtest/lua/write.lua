-- POST /api/v1/posts as the next seeded user in turn (~230-byte JSON body).
-- bench.py counts every user's posts before and after, so "acked" (201s) can be
-- compared with the rows that really landed.
local common = dofile("common.lua")

local users
local idx = 0
local seq = 0
local filler = string.rep("Lorem ipsum dolor sit amet. ", 6)

function init(args)
  users = common.load_users(args)
  idx = common.first_index(#users)
end

function request()
  idx = idx % #users + 1
  seq = seq + 1
  local body = string.format('{"title":"write t%d n%d","body":"%s"}', thread_id, seq, filler)
  return wrk.format("POST", "/api/v1/posts", {
    ["Cookie"] = users[idx].cookie,
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "quart-blog-loadtest",
  }, body)
end

function response(status, headers, body)
  common.count_status(status)
end
