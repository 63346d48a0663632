-- 80 % list / 15 % create / 5 % delete, every request as a seeded user.
-- A delete always targets a post this wrk thread created earlier, sent with
-- its owner's cookie: the owner's index travels in the post's title
-- ("mixed u<index> ..."), so it can be read back from the 201 answer even
-- though answers on different connections arrive in any order.
local common = dofile("common.lua")

local users
local idx = 0
local seq = 0
local created = {}  -- stack of { id = post id, user = user index }
local filler = string.rep("Mixed workload body text. ", 4)

local function headers(user, with_json)
  local h = { ["Cookie"] = user.cookie, ["User-Agent"] = "quart-blog-loadtest" }
  if with_json then
    h["Content-Type"] = "application/json"
  end
  return h
end

local function next_user()
  idx = idx % #users + 1
  return idx
end

function init(args)
  users = common.load_users(args)
  idx = common.first_index(#users)
  math.randomseed(os.time() + thread_id * 7919)
end

function request()
  local roll = math.random(100)
  if roll > 95 and #created > 0 then
    local post = table.remove(created)
    common.bump("delete_sent")
    return wrk.format("DELETE", "/api/v1/posts/" .. post.id, headers(users[post.user], true))
  elseif roll > 80 and roll <= 95 then
    local u = next_user()
    seq = seq + 1
    local body = string.format('{"title":"mixed u%d t%d n%d","body":"%s"}', u, thread_id, seq, filler)
    common.bump("create_sent")
    return wrk.format("POST", "/api/v1/posts", headers(users[u], true), body)
  end
  common.bump("list_sent")
  return wrk.format("GET", "/api/v1/posts?limit=20", headers(users[next_user()], false))
end

function response(status, headers, body)
  common.count_status(status)
  if status == 201 then
    local id = body:match('"id"%s*:%s*(%d+)')
    local owner = body:match('"title"%s*:%s*"mixed u(%d+) ')
    if id and owner then
      created[#created + 1] = { id = id, user = tonumber(owner) }
    end
  end
end
