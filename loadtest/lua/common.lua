-- Helpers shared by every wrk script in this folder (loaded with dofile()).
--
-- wrk gives each thread its own Lua state plus one main state. setup() runs in
-- the main state once per thread, before that thread's init(); done() runs in
-- the main state at the end and reads each thread's globals with thread:get().
-- done() prints a single line "LOADTEST_JSON {...}" that bench.py parses.

local M = {}

statuses = {}   -- per thread: status code -> count
counters = {}   -- per thread: scenario-specific counters
samples = {}    -- per thread: flat {answered_at_s, latency_ms, ...} (probe.lua only)
thread_id = 0   -- per thread: set by setup()

local all_threads = {}

function setup(thread)
  thread:set("thread_id", #all_threads)
  all_threads[#all_threads + 1] = thread
end

-- Loads the seeded-users file written by bench.py; its path is the first
-- argument after "--" on the wrk command line.
function M.load_users(args)
  local path = args and args[1]
  if path == nil then
    error("usage: wrk ... -s SCRIPT URL -- USERS_FILE")
  end
  local data = dofile(path)
  if data.users == nil or #data.users == 0 then
    error("no users in " .. path)
  end
  return data.users
end

function M.count_status(status)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function M.bump(name, n)
  counters[name] = (counters[name] or 0) + (n or 1)
end

-- Threads start their rotation over users at different offsets.
function M.first_index(n_users)
  return (thread_id * 17) % n_users
end

local function encode(value)
  local kind = type(value)
  if kind == "number" then
    if value ~= value or value == math.huge or value == -math.huge then
      return "null"
    end
    if value == math.floor(value) then
      return string.format("%d", value)
    end
    return string.format("%.3f", value)
  elseif kind == "string" then
    local escaped = value:gsub('[%c"\\]', function(c)
      return string.format("\\u%04x", c:byte())
    end)
    return '"' .. escaped .. '"'
  elseif kind == "table" and #value > 0 then
    local parts = {}
    for i = 1, #value do
      parts[i] = encode(value[i])
    end
    return "[" .. table.concat(parts, ",") .. "]"
  elseif kind == "table" then
    local parts = {}
    for k, v in pairs(value) do
      parts[#parts + 1] = encode(tostring(k)) .. ":" .. encode(v)
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif kind == "boolean" then
    return tostring(value)
  end
  return "null"
end

local function merge(into, from)
  for k, n in pairs(from or {}) do
    into[k] = (into[k] or 0) + n
  end
end

function done(summary, latency, requests)
  local status_total, counter_total, sample_total = {}, {}, {}
  for _, thread in ipairs(all_threads) do
    merge(status_total, thread:get("statuses"))
    merge(counter_total, thread:get("counters"))
    for _, v in ipairs(thread:get("samples") or {}) do
      sample_total[#sample_total + 1] = v
    end
  end
  local result = {
    duration_us = summary.duration,
    requests = summary.requests,
    bytes = summary.bytes,
    errors = {
      connect = summary.errors.connect,
      read = summary.errors.read,
      write = summary.errors.write,
      timeout = summary.errors.timeout,
      status = summary.errors.status,
    },
    latency_us = {
      min = latency.min,
      max = latency.max,
      mean = latency.mean,
      p50 = latency:percentile(50),
      p90 = latency:percentile(90),
      p99 = latency:percentile(99),
    },
    status = status_total,
    counters = counter_total,
  }
  if #sample_total > 0 then
    result.samples = sample_total
  end
  io.write("LOADTEST_JSON " .. encode(result) .. "\n")
end

return M
