-- spawn: 1,000,000 processes that exit at once. The harness waits until every one has exited.
return function(n)
    n = tonumber(n) or 1000000
    for _ = 1, n do
        process.spawn("app:child", "app:processes")
    end
end
