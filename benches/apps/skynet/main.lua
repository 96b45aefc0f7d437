-- skynet: a tree of processes, 10 children per node, 1,000,000 leaves; each leaf answers its
-- number and each node sums its children's answers. Expected: 499999500000.
return function()
    process.spawn("app:node", "app:processes", process.pid(), 0, 1000000)
    local total = process.inbox():receive():payload()
    assert(total == 499999500000, "wrong skynet sum " .. tostring(total))
    return 0
end
