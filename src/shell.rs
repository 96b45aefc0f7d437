//! `moonweave eval` and `moonweave shell`: Lua evaluated in the runtime's shell process
//! (entry `moonweave:shell`), which keeps its globals from one input to the next and answers
//! each input with its results as text. The command line talks to it from a Rust process.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use moonweave::{Handle, Mailbox, Received, Runtime};

/// A running runtime with a shell process and the Rust process that talks to it.
struct Session {
    runtime: Runtime,
    me: Mailbox,
    shell: moonweave::Pid,
}

impl Session {
    fn start(path: Option<&Path>) -> Result<Session, String> {
        // The processes' logger lines and failures go to stderr, as with `run`.
        let lines = moonweave::log::StderrLines::new(moonweave::log::Level::Info);
        let _ = tracing::subscriber::set_global_default(lines);
        let builder = match path {
            Some(path) => Runtime::builder().app_path(path),
            None => Runtime::builder(),
        };
        let runtime = builder.build().map_err(|e| e.message.to_string())?;
        let handle: Handle = runtime.handle();
        let me = handle.mailbox().map_err(|e| e.message.to_string())?;
        let shell = handle
            .spawn("moonweave:shell", ())
            .map_err(|e| e.message.to_string())?;
        Ok(Session { runtime, me, shell })
    }

    /// Evaluates `code`: `Ok(text)` with the values shown, or `Err(message)`.
    fn eval(&mut self, code: &str) -> Result<String, String> {
        self.me
            .send(&self.shell, "eval", code)
            .map_err(|e| e.message.to_string())?;
        loop {
            match self.me.recv() {
                Some(Received::Message(msg)) if msg.topic() == "result" => {
                    let text = msg
                        .payload()
                        .get("text")
                        .and_then(|t| t.as_bytes())
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .unwrap_or_default();
                    return match msg.payload().get("ok").and_then(|ok| ok.as_bool()) {
                        Some(true) => Ok(text),
                        _ => Err(text),
                    };
                }
                // Anything else sent to the shell's Rust side is not an answer.
                Some(_) => {}
                None => return Err("the runtime stopped".into()),
            }
        }
    }

    fn stop(self) {
        drop(self.me);
        self.runtime.shutdown_timeout(Duration::from_secs(1));
    }
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
                println!("{text}");
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

/// `moonweave shell [app]`: reads inputs with line editing and history (rustyline) until
/// Ctrl+D; an error is printed and the prompt goes on.
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
    println!(
        "moonweave shell: Lua in process {} (Ctrl+D leaves)",
        session.shell
    );
    loop {
        match editor.readline("> ") {
            Ok(line) if line.trim().is_empty() => {}
            Ok(line) => {
                let _ = editor.add_history_entry(line.as_str());
                match session.eval(&line) {
                    Ok(text) if text.is_empty() => {}
                    Ok(text) => println!("{text}"),
                    Err(message) => println!("error: {message}"),
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => {}
            Err(_) => break,
        }
    }
    if let Some(history) = &history {
        let _ = editor.save_history(history);
    }
    session.stop();
    ExitCode::SUCCESS
}
