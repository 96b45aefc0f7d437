-- A worker of examples/pipeline: squares each job, taking a moment over it, and answers the
-- sender with the job and its result.
local time = require("time")

return function(parent)
    local inbox = process.inbox()
    while true do
        local msg = inbox:receive()
        if msg:topic() == "stop" then
            return
        end
        local n = msg:payload()
        time.sleep(n % 3) -- 0 to 2 ms of "work"
        process.send(parent, "result", n, n * n)
    end
end
