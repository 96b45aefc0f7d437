-- examples/cluster/counter.lua
-- The counter node of examples/cluster: a process registered as "counter" that moonweave
-- nodes send to by name and Erlang calls as a gen_server (docs/src/distribution.md).
return function()
    process.registry.register("counter")
    print("counter ready")
    local total = 0
    while true do
        local msg = process.inbox():receive()
        local topic = msg:topic()
        if topic == "add" then
            total = total + msg:payload()
            process.send(msg:from(), "total", total)
        elseif topic == "$gen_call" then
            -- gen_server:call(Counter, {add, N}) arrives as {'$gen_call', {Caller, Tag}, {add, N}};
            -- the answer is the term {Tag, Reply}, sent to the caller.
            local from, request = msg:payload()
            total = total + request[2]
            process.send(from[1], "$term", { from[2], total, ["$tuple"] = true })
        elseif topic == "stop" then
            print("counter stops at", total)
            return 0
        end
    end
end
