//! Lua strings are byte strings everywhere (issue 8, finding 9): topics, registry names,
//! context keys, error and log messages keep every byte, and two strings that differ only in
//! bytes that are not UTF-8 stay different.

mod common;

use common::run_main;

#[test]
fn topics_names_and_messages_are_compared_byte_for_byte() {
    let out = run_main(
        r##"return function()
            local ff, fe = process.listen("\xff"), process.listen("\xfe")
            assert(process.send(process.pid(), "\xff", "to ff"))
            print(ff:receive(), fe ~= ff)
            print(channel.select{fe:case_receive(), default = true}.default)
            assert(process.registry.register("\xff"))
            local _, err = process.registry.lookup("\xfe")
            print(err:kind(), process.registry.lookup("\xff") == process.pid())
            print(process.send("\xfe", "t"), process.send("\xff", "t"))
            local e = errors.new("bad \xff byte")
            print(e:message() == "bad \xff byte", tostring(e) == "bad \xff byte")
            local ctx = require("ctx")
            local child = process.with_context({["\xff"] = "value"})
            print(child ~= nil)
            local m = process.inbox()
            print(m:receive():topic()) -- the message sent by name above
            process.send(process.pid(), "raw\x00\xff", "x")
            print(m:receive():topic() == "raw\x00\xff")
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "to ff\ttrue\ntrue\nNOT_FOUND\ttrue\nnil\ttrue\ntrue\ttrue\ntrue\nt\ntrue\n"
    );
}

#[test]
fn log_and_error_messages_keep_their_bytes() {
    let out = run_main(
        r##"local logger = require("logger")
        return function()
            logger:info("\xff\xfe raw", {k = "v"})
            error("boom \xff")
        end"##,
        &[],
    );
    assert_eq!(out.code, 1);
    let stderr = &out.stderr_bytes;
    let has = |needle: &[u8]| stderr.windows(needle.len()).any(|w| w == needle);
    assert!(has(b": \xff\xfe raw {\"k\":\"v\"}\n"), "{}", out.stderr);
    // The command line names the file from where it was run: `<app dir>/main.lua`.
    assert!(has(b"/main.lua:4: boom \xff\n"), "{}", out.stderr);
    assert!(has(b"\nerror: /"), "{}", out.stderr);
    assert!(!has(b"\xef\xbf\xbd"), "a byte was replaced: {}", out.stderr);
}
