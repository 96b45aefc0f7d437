return function(to, n)
    for i = 1, n do
        process.send(to, "m", i)
    end
end
