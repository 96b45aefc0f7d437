-- The worker of examples/echo: answers every "line" message with the line upper-cased.
return function(parent)
    local inbox = process.inbox()
    while true do
        local msg = inbox:receive()
        if msg:topic() == "stop" then
            return
        end
        process.send(parent, "upper", string.upper((msg:payload())))
    end
end
