-- wrk script of benchmark 2 (bench/http_writes.py): POST valid JSON bodies, count what is not a 2xx,
-- print the figures as one JSON line.
--
--   wrk -t2 -c16 -d30s --latency -H "Authorization: Bearer $TOKEN" -s bench/wrk/post.lua URL -- KIND [IDS THREADS]
--
-- KIND: establishments (POST URL: /registry/v1/establishments), baseline (POST URL: the bare Flask
-- endpoint, an establishment-sized body), results (POST /inspection/v1/inspections/<id>/result, the
-- ids read from the file IDS, one a line; thread k of THREADS takes lines k, k+THREADS, ... so that no
-- id is used twice; a thread that runs out stops and says so).
-- Every POST but the baseline's carries an Idempotency-Key, as the API asks its clients to.

local threads = {}
local counter = 1

function setup(thread)
  thread:set("index", counter - 1)
  table.insert(threads, thread)
  counter = counter + 1
end

local COMMUNES = {"03646", "03649", "03652", "03655", "03658"}  -- Thành phố Sơn La (district 116)
local NAMES = {"Karaoke Hoa Hồng", "Nhà nghỉ Bình Minh", "Massage Thư Giãn", "Karaoke Ánh Sao", "Nhà nghỉ Sơn Thủy"}
local TYPES = {"karaoke", "accommodation", "massage", "karaoke", "accommodation"}
-- the checklist's common items only: valid for every business type
local RESULT = '{"conducted_on": "2020-05-04", "checklist": [' ..
  '{"item": "GP-01", "answer": "yes"}, {"item": "GP-02", "answer": "yes"}, ' ..
  '{"item": "NV-01", "answer": "yes", "note": "Đủ hợp đồng lao động"}, {"item": "MD-DH", "answer": "no"}, ' ..
  '{"item": "NV-02", "answer": "yes"}, {"item": "BC-01", "answer": "yes"}], ' ..
  '"violations": [], "sanctions": [], "signs_of_prostitution": false, "people_identified": 0, ' ..
  '"people_consenting_to_referral": 0, "notes": "Cơ sở chấp hành tốt quy định"}'

kind = nil
ids = {}
next_id = 1
n = 0
non_2xx = 0
statuses = {}
exhausted = false
run = tostring(os.time()) .. "-" .. tostring(math.random(1000000))

function init(args)
  kind = args[1]
  if kind == "results" then
    local step = tonumber(args[3])
    local line_no = 0
    for line in io.lines(args[2]) do
      if line_no % step == index and #line > 0 then table.insert(ids, line) end
      line_no = line_no + 1
    end
  end
end

local function establishment(i)
  local k = (i % 5) + 1
  return string.format('{"name": "%s %d-%d", "business_type": "%s", "owner_name": "Lò Văn Thành", ' ..
    '"address": "Số %d, đường Tô Hiệu", "commune_code": "%s", "operating_since": "2018-03-01"}',
    NAMES[k], index, i, TYPES[k], i % 300 + 1, COMMUNES[k])
end

function request()
  n = n + 1
  local headers = {["Content-Type"] = "application/json"}
  for name, value in pairs(wrk.headers) do headers[name] = value end  -- Host, Authorization (-H)
  if kind == "baseline" then
    return wrk.format("POST", nil, headers, establishment(n))
  end
  headers["Idempotency-Key"] = string.format("bench-%s-%d-%d", run, index, n)
  if kind == "establishments" then
    return wrk.format("POST", nil, headers, establishment(n))
  end
  local id = ids[next_id]
  if id == nil then
    exhausted = true
    wrk.thread:stop()
    id = ids[#ids]  -- a request must still be returned; the thread stops before it counts
  end
  next_id = next_id + 1
  return wrk.format("POST", "/inspection/v1/inspections/" .. id .. "/result", headers, RESULT)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non_2xx = non_2xx + 1
    statuses[tostring(status)] = (statuses[tostring(status)] or 0) + 1
  end
end

function done(summary, latency, requests)
  local bad, ran_out, merged, kinds = 0, 0, {}, {}
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non_2xx")
    if thread:get("exhausted") then ran_out = ran_out + 1 end
    for status, count in pairs(thread:get("statuses")) do merged[status] = (merged[status] or 0) + count end
  end
  for status, count in pairs(merged) do table.insert(kinds, string.format('"%s": %d', status, count)) end
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "non_2xx": %d, ' ..
    '"statuses": {%s}, "threads_out_of_ids": %d, "socket_errors": {"connect": %d, "read": %d, "write": %d, ' ..
    '"timeout": %d}, "status_errors": %d, "latency_us": {"min": %d, "mean": %.1f, "max": %d, "p50": %d, ' ..
    '"p90": %d, "p99": %d, "p999": %d}}\n',
    summary.requests, summary.duration, summary.bytes, bad, table.concat(kinds, ", "), ran_out,
    e.connect, e.read, e.write, e.timeout, e.status, latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
