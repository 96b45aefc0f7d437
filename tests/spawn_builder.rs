//! The SpawnBuilder (process.md §12) without its security half, and `ctx` reading what it
//! carries (stdlib.md §7.2).

mod common;

use common::app;

#[test]
fn context_names_and_messages_reach_the_child() {
    let app = app(&[
        (
            "main.lua",
            r##"local ctx = require("ctx")
            return function()
                local base = process.with_context({request_id = "r-17", tries = 1})
                local b = base:with_context({tries = 2, user = {id = 7}})
                    :with_name("indexer")
                    :with_message("start", {batch = 1})
                    :with_message("more", 2, 3)
                local pid = assert(b:spawn_monitored("app:child", "app:processes", process.pid()))
                for _ = 1, 4 do
                    print(process.inbox():receive():payload())
                end
                print("exit", process.events():receive().result.value)
                -- the old builder is unchanged: no name, tries = 1
                local pid2 = assert(base:spawn_monitored("app:echo_ctx", "app:processes", process.pid()))
                print(process.inbox():receive():payload())
                print(process.events():receive().from == pid2)
                -- the name is taken while a child holds it
                local holder = assert(process.with_context({}):with_name("busy")
                    :spawn("app:hold", "app:processes"))
                local none, err = process.with_context({}):with_name("busy"):spawn("app:hold", "app:processes")
                print(none, err:kind())
                process.terminate(holder)
                print(next(ctx.all()))
            end"##,
        ),
        (
            "child.lua",
            r##"local ctx = require("ctx")
            local json = require("json")
            return function(parent)
                -- the name is registered before the child first runs
                process.send(parent, "registered", process.registry.lookup("indexer") == process.pid())
                local inbox = process.inbox()
                for _ = 1, 2 do
                    local msg = inbox:receive()
                    process.send(parent, "seen", msg:topic(), json.encode({msg:payload()}), msg:from() == parent)
                end
                process.send(parent, "ctx", json.encode(ctx.all()), ctx.get("tries"))
                -- descendants inherit the context
                return process.call("app:grandchild", "app:processes")
            end"##,
        ),
        (
            "grandchild.lua",
            r##"local ctx = require("ctx")
            return function() return ctx.get("request_id") .. "/" .. ctx.get("user").id end"##,
        ),
        (
            "echo_ctx.lua",
            r##"local ctx = require("ctx")
            return function(parent)
                process.send(parent, "ctx", ctx.get("tries"), process.registry.lookup("indexer"))
            end"##,
        ),
        (
            "hold.lua",
            "return function() process.inbox():receive() end",
        ),
    ]);
    assert_eq!(
        app.run(&[]).ok(),
        "true\n\
         start\t[{\"batch\":1}]\ttrue\n\
         more\t[2,3]\ttrue\n\
         {\"request_id\":\"r-17\",\"tries\":2,\"user\":{\"id\":7}}\t2\n\
         exit\tr-17/7\n\
         1\tnil\tno process is registered as 'indexer'\n\
         true\n\
         nil\tALREADY_EXISTS\n\
         nil\n"
    );
}

#[test]
fn builder_methods_raise_on_bad_arguments() {
    let app = app(&[(
        "main.lua",
        r##"return function()
            local b = process.with_context({})
            local cases = {
                function() return process.with_context("x") end,
                function() return process.with_context({[1] = "v"}) end,
                function() return process.with_context({k = print}) end,
                function() return b:with_name("{bad") end,
                function() return b:with_message("@sys") end,
                function() return b:with_message("t", print) end,
                function() return b.with_name({}, "x") end,
                function() return b:with_actor("not an actor") end,
            }
            for _, f in cases do
                local ok, e = pcall(f)
                print(ok, e:kind())
            end
            print(b:spawn("nope", "app:processes"))
            local ok, e = process.send(process.pid(), "t", b)
            print(ok, e:message())
        end"##,
    )]);
    let out = app.run(&[]);
    let text = out.ok();
    assert_eq!(
        text,
        "false\tINVALID\n".repeat(8)
            + "nil\tspawn: id must be an entry id 'namespace:name'\n"
            + "nil\tcannot copy a value of type SpawnBuilder\n"
    );
}
