//! `moonweave eval` and `moonweave shell`: Lua evaluated in the runtime's shell process
//! (entry `moonweave:shell`), which keeps its globals from one input to the next and answers
//! each input with its results as text. The command line talks to it from a Rust process that
//! monitors it: if the shell process dies (an input terminated it, a linked child failed), the
//! input's answer is that error, and `shell` starts a new one.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use moonweave::{Handle, Mailbox, Pid, Received, Runtime, Value};

use crate::SourcePaths;

/// A running runtime with a shell process and the Rust process that talks to it.
struct Session {
    runtime: Runtime,
    handle: Handle,
    me: Mailbox,
    shell: Pid,
    /// False once the shell process has exited.
    alive: bool,
    /// The id of the last request (random), so that an answer is matched to its input.
    sent: f64,
    paths: SourcePaths,
}

impl Session {
    fn start(path: Option<&Path>) -> Result<Session, String> {
        let paths = match path {
            Some(path) => moonweave::app::App::load(path)
                .map(|app| SourcePaths::of(&app))
                .unwrap_or_default(),
            None => SourcePaths::default(),
        };
        // The processes' logger lines and failures go to stderr, as with `run`.
        let shown = paths.clone();
        let lines = moonweave::log::StderrLines::new(moonweave::log::Level::Info)
            .rewriting(move |message| shown.rewrite(message));
        let _ = tracing::subscriber::set_global_default(lines);
        let builder = match path {
            Some(path) => Runtime::builder().app_path(path),
            None => Runtime::builder(),
        };
        let runtime = builder.build().map_err(|e| e.message.to_string())?;
        let handle: Handle = runtime.handle();
        let mut me = handle.mailbox().map_err(|e| e.message.to_string())?;
        let shell = spawn_shell(&handle, &mut me)?;
        Ok(Session {
            shell,
            alive: true,
            runtime,
            handle,
            me,
            sent: 0.0,
            paths,
        })
    }

    /// Replaces a shell process that exited.
    fn new_shell(&mut self) -> Result<(), String> {
        self.shell = spawn_shell(&self.handle, &mut self.me)?;
        self.alive = true;
        Ok(())
    }

    /// Evaluates `code`: `Ok(text)` with the values shown, or `Err(message)`; `Err` too when
    /// the shell process exits meanwhile (`self.shell` is then dead).
    fn eval(&mut self, code: &str) -> Result<Vec<u8>, Vec<u8>> {
        // An id the evaluated code cannot guess, so that it cannot answer in the shell's place.
        self.sent = nonce();
        let request = Value::table([
            ("id".into(), self.sent.into()),
            ("code".into(), code.into()),
        ]);
        if let Err(e) = self.me.send(&self.shell, "eval", request) {
            return Err(e.message.to_vec());
        }
        loop {
            match self.me.recv() {
                Some(Received::Message(msg))
                    if msg.topic() == "result"
                        && msg.from() == Some(&self.shell)
                        && msg.payload().get("id").and_then(Value::as_f64) == Some(self.sent) =>
                {
                    let text = msg
                        .payload()
                        .get("text")
                        .and_then(Value::as_bytes)
                        .unwrap_or_default()
                        .to_vec();
                    return match msg.payload().get("ok").and_then(Value::as_bool) {
                        Some(true) => Ok(text),
                        _ => Err(self.paths.rewrite(&text)),
                    };
                }
                Some(Received::Exit { from, result }) if from == self.shell => {
                    self.alive = false;
                    let reason = match result {
                        Ok(_) => "it returned".to_string(),
                        Err(e) => format!("[{}] {}", e.kind, e.message.to_string_lossy()),
                    };
                    let mut text = b"the shell process exited: ".to_vec();
                    text.extend_from_slice(&self.paths.rewrite(reason.as_bytes()));
                    return Err(text);
                }
                // Anything else (a spoofed or stale answer, another process's message) is not
                // this input's answer.
                Some(_) => {}
                None => return Err(b"the runtime stopped".to_vec()),
            }
        }
    }

    fn stop(self) {
        drop(self.me);
        self.runtime.shutdown_timeout(Duration::from_secs(1));
    }
}

/// A random whole number below 2^52 (exact as a Lua number).
fn nonce() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    (hasher.finish() >> 12) as f64
}

/// Spawns a shell process monitored by `me`.
fn spawn_shell(handle: &Handle, me: &mut Mailbox) -> Result<Pid, String> {
    let shell = handle
        .spawn("moonweave:shell", ())
        .map_err(|e| e.message.to_string())?;
    me.monitor(&shell).map_err(|e| e.message.to_string())?;
    Ok(shell)
}

/// Writes `bytes` and a newline to stdout; a closed or full stdout is not an error of ours.
fn print_line(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes).and_then(|()| out.write_all(b"\n"));
    let _ = out.flush();
}

/// `moonweave eval <code> [app]`.
pub fn eval(code: &str, path: Option<&Path>) -> ExitCode {
    let mut session = match Session::start(path) {
        Ok(session) => session,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let result = session.eval(code);
    session.stop();
    match result {
        Ok(text) => {
            if !text.is_empty() {
                print_line(&text);
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            let mut line = b"error: ".to_vec();
            line.extend_from_slice(&message);
            line.push(b'\n');
            let _ = std::io::stderr().write_all(&line);
            ExitCode::from(1)
        }
    }
}

/// `moonweave shell [app]`: reads inputs with line editing and history (rustyline) until
/// Ctrl+D; an error is printed and the prompt goes on, with a new shell process if the old
/// one died.
pub fn interactive(path: Option<&Path>) -> ExitCode {
    let mut session = match Session::start(path) {
        Ok(session) => session,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut editor = match rustyline::DefaultEditor::new() {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("cannot start the prompt: {e}");
            return ExitCode::from(1);
        }
    };
    // History is kept for people at a terminal, not for piped input (tests, scripts).
    let at_terminal = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let history = std::env::var_os("HOME")
        .filter(|_| at_terminal)
        .map(|h| Path::new(&h).join(".moonweave_history"));
    if let Some(history) = &history {
        let _ = editor.load_history(history);
    }
    print_line(
        format!(
            "moonweave shell: Lua in process {} (Ctrl+D leaves)",
            session.shell
        )
        .as_bytes(),
    );
    let mut unreadable = 0;
    loop {
        let read = editor.readline("> ");
        unreadable = if read.is_err() { unreadable + 1 } else { 0 };
        match read {
            Ok(line) if line.trim().is_empty() => {}
            Ok(line) => {
                let _ = editor.add_history_entry(line.as_str());
                match session.eval(&line) {
                    Ok(text) if text.is_empty() => {}
                    Ok(text) => print_line(&text),
                    Err(message) => {
                        let mut text = b"error: ".to_vec();
                        text.extend_from_slice(&message);
                        print_line(&text);
                    }
                }
                if !session.alive {
                    match session.new_shell() {
                        Ok(()) => print_line(
                            format!("(a new shell process: {})", session.shell).as_bytes(),
                        ),
                        Err(e) => {
                            eprintln!("cannot start a new shell process: {e}");
                            break;
                        }
                    }
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => {}
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => {
                // A line that is not UTF-8, say: say so, and read on (twice in a row: stop).
                print_line(format!("error: cannot read the input: {e}").as_bytes());
                if unreadable > 1 {
                    break;
                }
            }
        }
    }
    if let Some(history) = &history {
        let _ = editor.save_history(history);
    }
    session.stop();
    ExitCode::SUCCESS
}
