-- examples/cluster/client.lua
-- The client node of examples/cluster: talks to the counter node and to Erlang by name.
-- Its arguments are the two node names: moonweave run client.lua -- <counter node> <erlang node>
return function(counter_node, erlang_node)
    local counter = "counter@" .. counter_node
    process.send(counter, "add", 5)
    local reply = process.inbox():receive()
    print("counter node says", reply:topic(), reply:payload())

    -- An Erlang process registered as greeter answers {hello, From, Name} with {greeting, Text}.
    process.send("greeter@" .. erlang_node, "hello", process.pid(), "moonweave")
    local greeting = process.inbox():receive()
    print("erlang node says", greeting:topic(), greeting:payload())

    -- Watch the counter: when it stops, the monitor's EXIT arrives here.
    process.monitor(reply:from())
    process.send(counter, "stop")
    local event = process.events():receive()
    print("counter exited", event.kind, event.from == reply:from())
    return 0
end
