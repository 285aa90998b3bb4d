-- wrk script: POST request bodies at a constant overall rate (open loop), for serve_load.py.
--
-- wrk -t T -c C -d (SECONDS + GRACE)s -s constant_rate.lua URL -- RATE BODIES_FILE T SECONDS
--
-- Each wrk thread owns an even share of the schedule: its k-th request is due at
-- start + offset + k * T / RATE (threads interleave), whichever of its C / T connections is
-- free takes the next due slot, and wrk's latency is measured from the send. A send later than
-- its due time (every connection busy) is counted in "late" with the worst delay, so the caller
-- can tell whether the rate was held. Sending stops after SECONDS; wrk's own duration should
-- add a grace period so that requests in flight complete and are counted (then every request
-- sent is either answered or an error). BODIES_FILE holds one JSON body per line, sent in turn.
-- Stock wrk's Lua has no sub-second clock, so the monotonic clock comes from libc through
-- LuaJIT's FFI.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } gm_timespec;
int clock_gettime(int clock_id, gm_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local now_ts = ffi.new("gm_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now_ts)
  return tonumber(now_ts.tv_sec) * 1000 + tonumber(now_ts.tv_nsec) / 1e6
end

local threads = {}
local n_threads = 0

function setup(thread)
  thread:set("index", n_threads)
  n_threads = n_threads + 1
  table.insert(threads, thread)
end

local bodies = {}
local next_body = 1
local interval_ms, next_due, send_until
local NEVER_MS = 3600 * 1000
sent, late, worst_late_ms = 0, 0, 0

function init(args)
  local rate, threads_total, seconds = tonumber(args[1]), tonumber(args[3]), tonumber(args[4])
  assert(rate and rate > 0 and threads_total and seconds, "usage: -- RATE BODIES THREADS SECONDS")
  for line in io.lines(args[2]) do
    if #line > 0 then
      table.insert(bodies, line)
    end
  end
  assert(#bodies > 0, "no request bodies in " .. args[2])
  interval_ms = 1000 * threads_total / rate
  next_due = now_ms() + 100 + index * 1000 / rate
  send_until = next_due + seconds * 1000
  wrk.headers["Content-Type"] = "application/json"
end

function delay()
  if next_due >= send_until then
    return NEVER_MS
  end
  local wait = next_due - now_ms()
  next_due = next_due + interval_ms
  sent = sent + 1
  if wait < 0 then
    late = late + 1
    if -wait > worst_late_ms then
      worst_late_ms = -wait
    end
    return 0
  end
  return math.floor(wait + 0.5)
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format("POST", nil, nil, body)
end

function done(summary, latency, requests)
  local total_sent, total_late, worst = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_sent = total_sent + tonumber(thread:get("sent"))
    total_late = total_late + tonumber(thread:get("late"))
    worst = math.max(worst, tonumber(thread:get("worst_late_ms")))
  end
  local errors = summary.errors
  io.write(string.format(
    "RESULT sent=%d requests=%d duration_us=%d status_errors=%d connect=%d read=%d write=%d " ..
    "timeout=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d late=%d worst_late_ms=%.1f\n",
    total_sent, summary.requests, summary.duration, errors.status, errors.connect, errors.read,
    errors.write, errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, total_late, worst))
end
