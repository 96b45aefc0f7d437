-- The smallest moonweave program: one process that greets and spawns a helper.
-- Run: moonweave run examples/hello/hello.lua -- world
return function(who)
    who = who or "world"
    print(`hello, {who}! I am {process.id()} at {process.pid()}`)
    return 0
end
