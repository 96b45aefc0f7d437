return function(parent, num, size)
    if size == 1 then
        process.send(parent, "sum", num)
        return
    end
    local me, step = process.pid(), size // 10
    for i = 0, 9 do
        process.spawn("app:node", "app:processes", me, num + i * step, step)
    end
    local inbox, sum = process.inbox(), 0
    for _ = 1, 10 do
        sum += inbox:receive():payload()
    end
    process.send(parent, "sum", sum)
end
