-- echo: reads lines from stdin, has a worker process upper-case each one, prints the answers.
-- An empty line (or the end of input) ends it with exit code 0.
--
--   printf 'hello\nworld\n\n' | moonweave run examples/echo
local io = require("io")

return function()
    local me = process.pid()
    local worker = process.spawn_linked("app:upper", "app:processes", me)
    while true do
        local line = io.readline()
        if line == nil or line == "" then
            break
        end
        process.send(worker, "line", line)
        local answer = process.inbox():receive()
        print(answer:payload())
    end
    process.send(worker, "stop")
    return 0
end
