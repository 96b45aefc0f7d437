-- A pool worker: squares numbers; a poison job makes it crash (and the pool supervisor start
-- a new worker in its place, which says so on the topic "ready").
return function(n)
    process.send("pool_client", "ready", n) -- nobody may listen yet: that is fine
    local inbox, events = process.inbox(), process.events()
    while true do
        local r = channel.select({ inbox:case_receive(), events:case_receive() })
        if r.channel == events then
            if r.value.kind == process.event.CANCEL then
                return
            end
        else
            local job = r.value:payload()
            if job.poison then
                error(`worker {n} swallowed a poison job`)
            end
            process.send(job.reply_to, "done", job.n * job.n)
        end
    end
end
