-- POST /api/v1/login with the right password, cycling over the seeded users.
-- Every attempt costs one password hash check on the server.
local common = dofile("common.lua")

local reqs = {}
local idx = 0

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

function init(args)
  local users = common.load_users(args)
  for i, user in ipairs(users) do
    local body = '{"username":' .. json_string(user.username)
      .. ',"password":' .. json_string(user.password) .. "}"
    reqs[i] = wrk.format("POST", "/api/v1/login", {
      ["Content-Type"] = "application/json",
      ["User-Agent"] = "quart-blog-loadtest",
    }, body)
  end
  idx = common.first_index(#reqs)
end

function request()
  idx = idx % #reqs + 1
  return reqs[idx]
end

function response(status, headers, body)
  common.count_status(status)
  if status == 200 then
    -- Logins per wall-clock second, so bench.py can leave out the start-up transient.
    common.bump("ok_at_" .. os.time())
  end
end
