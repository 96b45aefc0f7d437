-- fan-in: 1,000 senders x 1,000 messages each to one receiver (1,000,000 messages).
return function(senders, each)
    senders, each = tonumber(senders) or 1000, tonumber(each) or 1000
    local me = process.pid()
    for _ = 1, senders do
        process.spawn("app:sender", "app:processes", me, each)
    end
    local inbox = process.inbox()
    for _ = 1, senders * each do
        inbox:receive()
    end
    return 0
end
