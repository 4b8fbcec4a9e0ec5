-- wrk script: POST the case-study timeline with a bearer key to /v1/evaluations.
-- Usage: MISPER_KEY=... wrk -s bench/post_timeline.lua ... http://127.0.0.1:8000/v1/evaluations
local f = assert(io.open("fixtures/timelines/case-study.json", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("MISPER_KEY")

done = function(summary, latency, requests)
  io.write(string.format("non-2xx or socket errors: %d\n",
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
