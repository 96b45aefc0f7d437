-- CPU-bound Lua for the preemption overhead: the same loop runs in a plain Luau VM without an
-- interrupt, and as a moonweave process with the default preemption budget.
return function()
    local n = 0
    for i = 1, 200000000 do
        n += i % 7
    end
    return n > 0 and 0 or 1
end
