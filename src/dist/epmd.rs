//! The Erlang port mapper: registering this node (hidden) and finding a peer's port. Like
//! `erl`, a node starts `epmd -daemon` when none answers on this machine.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use erl_dist::epmd::{DEFAULT_EPMD_PORT, EpmdClient, NodeEntry};

use super::wire::Blocking;

/// How long a connection to an epmd may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why epmd could not help.
#[derive(Debug, thiserror::Error)]
pub enum EpmdError {
    #[error("cannot reach epmd on {host}: {error}")]
    Unreachable { host: String, error: std::io::Error },
    #[error("epmd on {host}: {error}")]
    Protocol {
        host: String,
        error: erl_dist::epmd::EpmdError,
    },
    #[error("epmd on {host} knows no node '{name}'")]
    Unknown { host: String, name: String },
    #[error("the name '{0}' is taken: another node with this name is running on this machine")]
    NameTaken(String),
}

fn port() -> u16 {
    std::env::var("ERL_EPMD_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(DEFAULT_EPMD_PORT)
}

fn connect(host: &str) -> Result<TcpStream, EpmdError> {
    let unreachable = |error| EpmdError::Unreachable {
        host: host.to_string(),
        error,
    };
    let addrs = (host, port()).to_socket_addrs().map_err(unreachable)?;
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => {
                let _ = stream.set_read_timeout(Some(CONNECT_TIMEOUT));
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(unreachable(last))
}

/// Registers `alive` (the name before `@`) on this machine's epmd as a hidden node listening
/// on `listen_port`; the returned stream must stay open for as long as the node lives.
pub fn register(alive: &str, listen_port: u16) -> Result<(TcpStream, u32), EpmdError> {
    let stream = match connect("127.0.0.1") {
        Ok(stream) => stream,
        Err(_) => {
            start_daemon();
            connect_retrying()?
        }
    };
    let stream = Arc::new(stream);
    let client = EpmdClient::new(Blocking(stream.clone()));
    let entry = NodeEntry::new_hidden(alive, listen_port);
    let (_, creation) =
        futures::executor::block_on(client.register(entry)).map_err(|error| match error {
            erl_dist::epmd::EpmdError::RegisterNodeError { .. } => {
                EpmdError::NameTaken(alive.to_string())
            }
            error => EpmdError::Protocol {
                host: "127.0.0.1".into(),
                error,
            },
        })?;
    let _ = stream.set_read_timeout(None);
    let stream = Arc::try_unwrap(stream).unwrap_or_else(|shared| {
        shared
            .try_clone()
            .expect("a registered epmd stream can be cloned")
    });
    Ok((stream, creation.get()))
}

/// The port the node `alive` on `host` listens on.
pub fn lookup(host: &str, alive: &str) -> Result<u16, EpmdError> {
    let stream = connect(host)?;
    let client = EpmdClient::new(Blocking(Arc::new(stream)));
    match futures::executor::block_on(client.get_node(alive)) {
        Ok(Some(entry)) => Ok(entry.port),
        Ok(None) => Err(EpmdError::Unknown {
            host: host.to_string(),
            name: alive.to_string(),
        }),
        Err(error) => Err(EpmdError::Protocol {
            host: host.to_string(),
            error,
        }),
    }
}

/// Starts `epmd -daemon` (it forks and returns at once), as `erl` does.
fn start_daemon() {
    match std::process::Command::new("epmd")
        .arg("-daemon")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
    {
        Ok(_) => {}
        Err(e) => tracing::warn!(target: "moonweave", "cannot start epmd: {e}"),
    }
}

/// Connects to a just-started epmd, which needs a moment to listen.
fn connect_retrying() -> Result<TcpStream, EpmdError> {
    let mut last = None;
    for _ in 0..50 {
        match connect("127.0.0.1") {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
        // Polling a daemon we started: there is nothing to wait on but its socket.
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last.expect("at least one attempt"))
}
