-- CPU-bound Lua compiled to native code (the host sets native: true): the same loop as
-- benches/apps/cpu, to compare bytecode and native code as moonweave processes.
return function()
    local n = 0
    for i = 1, 200000000 do
        n += i % 7
    end
    return n > 0 and 0 or 1
end
