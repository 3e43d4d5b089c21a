-- wrk script for bench/load.sh: POST distinct scenarios (a small mprotect scenario whose
-- title carries the start time, the wrk thread and a counter), so that every request stores
-- a new row. wrk itself reports any answer that is not 2xx/3xx.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  prefix = string.format("bench %d-%d", os.time(), tid)
end

local body = [[{"format":1,"title":"%s #%d","kernel":{"version":"v6.4"},"cpus":1,
"vmas":[{"start":"0x7f0000000000","end":"0x7f0000001000","prot":"PROT_READ|PROT_WRITE"}],
"pages":[{"addr":"0x7f0000000000","pfn":"0x12345","data":"0x11"}],
"threads":[{"name":"T0","cpu":0,"ops":[{"op":"mprotect","addr":"0x7f0000000000","len":"0x1000","prot":"PROT_READ"}]}]}]]

function request()
  counter = counter + 1
  return wrk.format("POST", "/api/scenarios",
    { ["Content-Type"] = "application/json" },
    string.format(body, prefix, counter))
end
