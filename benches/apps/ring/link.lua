return function(to)
    local inbox = process.inbox()
    while true do
        local left = inbox:receive():payload()
        process.send(to, "t", left - 1)
        if left <= 0 then return end
    end
end
