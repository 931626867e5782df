-- wrk script: one MCP tools/call per request over stateless streamable HTTP (JSON responses).
-- The body and token come from BENCH_BODY and BENCH_TOKEN. Every answer that is not HTTP 2xx
-- with a JSON-RPC result (or is a tool error) counts as failed; a run with failures is invalid.

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
local token = os.getenv("BENCH_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  failed = 0
end

function response(status, headers, body)
  if status < 200 or status > 299
    or not string.find(body, '"result"', 1, true)
    or string.find(body, '"isError":true', 1, true) then
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local failed_total = 0
  for _, thread in ipairs(threads) do
    failed_total = failed_total + thread:get("failed")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,'
      .. '"failed":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, failed_total, e.connect + e.read + e.write + e.timeout))
end
