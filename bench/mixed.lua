-- wrk script for bench/hostile_load.sh: POST, in turn, a small timeline and the largest
-- allowed one to /v1/evaluations; count each status and check every 200 answer against the
-- answers an idle server gave.
local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end
local dir = os.getenv("MISPER_BENCH_DIR")
local bodies = { read(dir .. "/small.json"), read(dir .. "/large.json") }
local expected = { read(dir .. "/small.out"), read(dir .. "/large.out") }
local counter = 0
ok, busy, other, wrong = 0, 0, 0, 0  -- globals: done() reads them from each thread
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

request = function()
  counter = counter + 1
  local which = (counter % 2) + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("MISPER_KEY"),
  }, bodies[which])
end

-- Responses on different connections come back in any order: an answer must be the idle
-- server's answer to one of the two bodies (they differ, so it cannot match the wrong one).
response = function(status, headers, body)
  if status == 200 then
    ok = ok + 1
    if body ~= expected[1] and body ~= expected[2] then wrong = wrong + 1 end
  elseif status == 429 then
    busy = busy + 1
  else
    other = other + 1
  end
end

done = function(summary, latency, requests)
  local t = { ok = 0, busy = 0, other = 0, wrong = 0 }
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
  end
  io.write(string.format("200: %d (differing from the idle server's answer: %d); 429: %d; other: %d\n",
    t.ok, t.wrong, t.busy, t.other))
  io.write(string.format("socket errors: connect %d read %d write %d timeout %d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
