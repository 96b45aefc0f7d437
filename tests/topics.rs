//! process.md §4: topic listeners and how messages are assigned between them and the inbox.

mod common;

use common::run_main;

#[test]
fn listeners_take_their_topic_and_the_inbox_takes_the_rest() {
    let out = run_main(
        r##"return function()
            local me, inbox = process.pid(), process.inbox()
            -- sent before listen: still received on the listener, since the inbox has not taken it
            process.send(me, "result", 1)
            process.send(me, "other", "x")
            local results = process.listen("result")
            assert(results == process.listen("result") and results ~= inbox)
            process.send(me, "result", 2)
            process.send(me, "result")
            print(inbox:receive():topic())
            print(results:receive(), results:receive(), results:receive())
            local full = process.listen("full", {message = true})
            process.send(me, "full", "a", "b")
            local msg = full:receive()
            print(msg:topic(), msg:from() == me, msg:payload())
        end"##,
        &[],
    );
    // print(f(), g(), h()) keeps one value of each call but the last.
    assert_eq!(out.ok(), "other\n1\t2\tnil\ttrue\nfull\ttrue\ta\tb\n");
}

#[test]
fn the_first_listen_fixes_the_mode() {
    let out = run_main(
        r##"return function()
            local raw = process.listen("t")
            assert(process.listen("t", {message = true}) == raw)
            process.send(process.pid(), "t", "v")
            print(raw:receive())
        end"##,
        &[],
    );
    assert_eq!(out.ok(), "v\ttrue\n");
}

#[test]
fn unlisten_closes_the_channel_and_returns_the_topic_to_the_inbox() {
    let out = run_main(
        r##"return function()
            local me, inbox = process.pid(), process.inbox()
            local ch = process.listen("t")
            process.send(me, "t", "waiting")
            print(process.unlisten(ch), process.unlisten(ch))
            print(ch:receive())
            -- the waiting message and later ones go to the inbox
            process.send(me, "t", "later")
            print(inbox:receive():payload(), inbox:receive():payload())
            -- a later listen creates a new channel
            local again = process.listen("t")
            print(again ~= ch)
        end"##,
        &[],
    );
    assert_eq!(out.ok(), "true\ttrue\nnil\tfalse\nwaiting\tlater\ntrue\n");
}

#[test]
fn listen_and_unlisten_validate_their_arguments() {
    let out = run_main(
        r##"return function()
            local function kind(_, err) return err and err:kind() or "ok" end
            print(kind(process.listen("@t")), kind(process.listen("")), kind(process.listen(5)),
                  kind(process.listen("t", {msg = true})), kind(process.listen("t", {message = 1})), kind(process.listen("t", "x")))
            local ok, err = process.unlisten(process.inbox())
            print(ok, err:kind())
            print(process.unlisten(process.events()), (process.unlisten(42)))
            local ch = process.listen("t")
            print(pcall(ch.send, ch, 1))
        end"##,
        &[],
    );
    let stdout = out.ok();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "INVALID\tINVALID\tINVALID\tINVALID\tINVALID\tINVALID"
    );
    assert_eq!(lines[1], "false\tINVALID");
    assert!(
        lines[2].starts_with("false\t") && lines[2].ends_with("\tfalse"),
        "{stdout}"
    );
    assert_eq!(lines[3], "false\tcannot send on a receive-only channel");
}
